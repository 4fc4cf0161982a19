"""Where a stream starts and what part of it is this trainer's: one :class:`Feed`,
which every fastfeed stream takes (``feed=``) and a training loop hands to its task.

    stream = composites.composite_stream(image_size=128, batch_size=16, seed=0,
                                         feed=Feed(start=1000))  # resumed at batch 1000
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Feed:
    """From batch ``start`` (a resumed training continues where it stopped: batches are
    seeded by their number, so nothing is replayed); of every ``shard[0]`` batches,
    batch ``shard[1]`` (one input pipeline of a multi-worker training: batches
    ``shard[1] + shard[0] * j``, distinct per pipeline); a global batch shared by
    ``replicas``; made on the tf.data service workers at ``service`` (``'HOST:PORT'``
    of a dispatcher; pure-TF augmentation only; each batch k the local one, bit for
    bit), where trainers giving the same ``job_name`` share one stream."""

    start: int = 0
    shard: tuple[int, int] = (1, 0)
    replicas: int = 1
    service: str | None = None
    job_name: str | None = None

    def per_replica(self, batch_size: int, option: str = "batch-size") -> int:
        """``batch_size`` (a global batch) shared by the replicas; a clear error when
        it does not divide."""
        if batch_size % self.replicas:
            raise ValueError(f"--{option} {batch_size} is the global batch: make it a "
                             f"multiple of the {self.replicas} replicas.")
        return batch_size // self.replicas

    def batches(self, make_batch, num_parallel_calls=None):
        """``make_batch(k)`` (tensor k: the batch number, from 0) for this feed's batch
        numbers, in order, through the data service when set: a stream that makes
        each batch from its number."""
        from fastfeed.compose import service

        kwargs = {} if num_parallel_calls is None else {
            "num_parallel_calls": num_parallel_calls}
        return service.batches(make_batch, self.start, self.shard, self.service,
                               self.job_name, **kwargs)
