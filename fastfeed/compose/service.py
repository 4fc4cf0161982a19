"""The streams on TensorFlow's tf.data service: preprocessing on other hosts.

A training job on several accelerators eats more images per second than one host's
cores decode, blend and augment. The tf.data service moves that work to worker
processes on other machines: one dispatcher hands out work, the workers run the
stream's pipeline, the trainers read batches from the workers.

    # on host A:                     fastfeed serve-data dispatcher --port 5050
    # on hosts B, C, ...:            fastfeed serve-data worker --dispatcher A:5050
    stream = composite_stream(..., feed=Feed(service="A:5050"))   # in the trainer

What travels: the stream's dataset graph, with its tables (decoded faces, packed
cut-outs and backgrounds) as constants, goes to each worker once; then batches come
back. Paths the graph reads at run time (``pair_stream(cache=False)``) must exist on
the workers.

Same seed, same examples: the streams number their batches with a splittable
``Dataset.range``, and the service shards it with ``ShardingPolicy.DYNAMIC``: the
dispatcher hands each batch number to exactly one worker, so every batch is the local
stream's batch of that number, bit for bit. Only the order in which batches arrive
depends on the workers' speed. A worker that stops loses the batches it held (at most
once); the consumer goes on with the others. (``OFF`` would have each worker run the
whole stream, repeating every batch once per worker; static sharding would stop on
the first lost worker.)

The streams (``pair_stream``, ``identity_batches``, ``composite_stream``) take a
:class:`fastfeed.compose.feed.Feed`, whose fields say:

- ``shard=(count, index)``: one input pipeline of a multi-worker training, which
  makes the batches k = index + count * j only (distinct per worker);
- ``service='HOST:PORT'``: the dispatcher; the batches are made on its workers;
- ``job_name``: trainers that give the same name share one stream (each batch goes
  to one of them); without one, each trainer gets its own.

Only pure-TF pipelines run on workers: the albumentations bridge calls Python in the
trainer's process (``tf.numpy_function``), which a worker cannot run.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading

import tensorflow as tf

from fastfeed.compose.augment import is_albumentations

logger = logging.getLogger(__name__)

SHARDING = tf.data.experimental.service.ShardingPolicy.DYNAMIC
LAST_INDEX = 2 ** 62  # the streams' batch numbers: "infinite", and splittable


def batch_numbers(start: int = 0, shard: tuple[int, int] = (1, 0)) -> tf.data.Dataset:
    """The batch numbers a stream makes from its ``start``-th batch on: ``start,
    start + 1, ...``; with ``shard=(count, index)`` (one input pipeline of a
    multi-worker training) its own ``index + count * j`` for ``j = start, ...``.

    A ``Dataset.range``, which the service can split by element (the same values as
    ``Dataset.counter``, which it cannot: each worker would run the whole stream)."""
    count, index = shard
    if not 0 <= index < count:
        raise ValueError(f"shard={shard!r}: give (count, index) with 0 <= index < count.")
    return tf.data.Dataset.range(index + count * start, LAST_INDEX, count)


def batches(make_batch, start: int = 0, shard: tuple[int, int] = (1, 0),
            service: str | None = None, job_name: str | None = None,
            num_parallel_calls=tf.data.AUTOTUNE) -> tf.data.Dataset:
    """Batch k = ``make_batch(k)`` for this pipeline's batch numbers k (see
    :func:`batch_numbers`), in order, read through the tf.data service at ``service``
    when given (see :func:`distribute`)."""
    options = tf.data.Options()
    options.deterministic = True
    stream = (batch_numbers(start, shard)
              .map(make_batch, num_parallel_calls=num_parallel_calls, deterministic=True)
              .with_options(options))
    if service:
        stream = distribute(stream, service, job_name)
    return stream.prefetch(tf.data.AUTOTUNE)


def address(service: str) -> str:
    """``'host:port'`` or ``'grpc://host:port'`` as the service's ``grpc://`` target;
    a clear error for anything else."""
    text = service[len("grpc://"):] if service.startswith("grpc://") else service
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"service={service!r}: give the dispatcher as HOST:PORT, "
                         f"e.g. 'localhost:5050'.")
    return f"grpc://{text}"


def check_pure(augment) -> None:
    """Refuses a stream for the service whose pipeline calls back into Python."""
    if is_albumentations(augment):
        raise ValueError(
            f"augment={augment!r} is an albumentations transform, which runs as a "
            f"Python call in this process (tf.numpy_function); tf.data service "
            f"workers run only TensorFlow ops. Use the native ops of "
            f"fastfeed.compose.augment (a spec string such as 'flip_lr|hue(0.05)') "
            f"with service=, or keep albumentations without service=.")


def distribute(dataset: tf.data.Dataset, service: str, job_name: str | None
               ) -> tf.data.Dataset:
    """``dataset`` read through the tf.data service at ``service``, sharded
    dynamically. Trainers that give the same ``job_name`` share one stream (each batch
    goes to one of them); without one, each trainer gets its own."""
    target = address(service)
    logger.info("Stream through the tf.data service at %s (job %s, %s sharding)",
                target, job_name or "of its own", SHARDING.name)
    return dataset.apply(tf.data.experimental.service.distribute(
        processing_mode=SHARDING, service=target, job_name=job_name))


def dispatcher(port: int = 0, work_dir: str | None = None
               ) -> tf.data.experimental.service.DispatchServer:
    """A started dispatcher on ``port`` (0: a free one; ``server.target`` says which).
    With ``work_dir`` it journals its state there and recovers it on restart (fault
    tolerant mode); the folder must outlive the process."""
    service = tf.data.experimental.service
    if work_dir:
        os.makedirs(work_dir, exist_ok=True)
    config = service.DispatcherConfig(port=port, work_dir=work_dir or None,
                                      fault_tolerant_mode=bool(work_dir))
    server = service.DispatchServer(config)
    logger.info("tf.data service dispatcher at %s%s", server.target,
                f" (work dir {work_dir})" if work_dir else "")
    return server


def worker(dispatcher_address: str, port: int, host: str | None = None
           ) -> tf.data.experimental.service.WorkerServer:
    """A started worker on ``port`` (see :func:`free_port`), registered with the
    dispatcher at ``dispatcher_address`` (HOST:PORT). ``host`` is the name trainers
    reach this worker by (default: this machine's host name; ``localhost`` for a
    one-machine test)."""
    service = tf.data.experimental.service
    target = address(dispatcher_address)
    host = host or socket.gethostname()
    config = service.WorkerConfig(dispatcher_address=target[len("grpc://"):], port=port,
                                  worker_address=f"{host}:%port%")
    server = service.WorkerServer(config)
    logger.info("tf.data service worker at %s:%d, dispatcher %s", host, port, target)
    return server


def wait_for(service: str, timeout_s: float = 120.0) -> None:
    """Returns once something accepts connections at ``service`` (HOST:PORT); after
    ``timeout_s`` without, TimeoutError naming the address and what to check."""
    import time

    host, port = address(service)[len("grpc://"):].rsplit(":", 1)
    deadline, why = time.monotonic() + timeout_s, ""
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=min(5.0, timeout_s)):
                return
        except OSError as error:
            why = error.strerror or str(error)
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"nothing answers at {service} ({why}) after {timeout_s:g} s: is `fastfeed "
                f"serve-data dispatcher` running there, and is the port open? (the wait "
                f"is --timeout / --data-service-timeout)")
        time.sleep(0.5)


def free_port() -> int:
    """A TCP port free on this machine now (for a server started right after)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """A `fastfeed serve-data` dispatcher or worker in a child process, started and
    ready: TF has no public way to stop a service server, and a process can be
    stopped. ``address`` is its HOST:PORT; :meth:`stop` ends it.

        dispatcher = ServerProcess("dispatcher")
        workers = [ServerProcess("worker", dispatcher.address) for _ in range(2)]
        stream = composite_stream(..., feed=Feed(service=dispatcher.address))
    """

    def __init__(self, role: str, dispatcher: str = "", port: int = 0,
                 host: str = "localhost", deadline_s: float = 120.0):
        port = port or free_port()
        command = [sys.executable, "-m", "fastfeed", "serve-data", role, "--port",
                   str(port), "--host", host]
        if role == "worker":
            command += ["--dispatcher", dispatcher]
        self.role, self.address = role, f"{host}:{port}"
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()
        lines = []

        def read_output():  # the ready line, then the rest drained (a full pipe
            lines.append(self.process.stdout.readline())  # would block the server)
            ready.set()
            for _ in self.process.stdout:
                pass
        threading.Thread(target=read_output, daemon=True).start()
        if not ready.wait(deadline_s) or "tf.data service" not in lines[0]:
            self.stop()
            said = lines[0] if lines else f"nothing in {deadline_s:.0f} s"
            raise RuntimeError(f"fastfeed serve-data {role} did not start: {said}")

    def stop(self, deadline_s: float = 30.0) -> int:
        """Ends the server (SIGTERM, then SIGKILL after ``deadline_s``); its status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(deadline_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
