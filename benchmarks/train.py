"""`fastfeed bench train`: is training input-bound? Steps/s fed by the real stream
against steps/s on one batch repeated from memory, per model, in one run.

    python -m benchmarks.train --lfw $FASTFEED_DATA/lfw --seconds 20 --rounds 3

Each model trains with `fastfeed train`'s own step (task lfw, its defaults: siamese on
identity batches, diff_cnn on pair_stream) on (a) its stream, as in training, and (b)
the stream's first batch cached and repeated, which costs no input work. The two take
turns, `--rounds` times, on the same model and optimizer; the ratio (a)/(b) near 1
means the stream keeps up with the model on this machine.
"""

from __future__ import annotations

import sys

from benchmarks import common
from fastfeed import files

DEFAULT_LFW = files.data_path("lfw")  # "" without FASTFEED_DATA


def _stepping(dataset, step):
    """One training step per batch; yields after each (the loss fetched, so that an
    asynchronous device cannot make a step look free)."""
    for batch in dataset:
        float(step(batch)["loss"])
        yield None


def main(argv=None) -> int:
    p = common.parser("train", __doc__, image_size=64, batch_size=128)
    p.add_argument("--lfw", default=DEFAULT_LFW, help="folder with the LFW images and "
                                                      "protocol files")
    p.add_argument("--models", default="siamese,diff_cnn", help="comma-separated")
    args = p.parse_args(argv)
    from fastfeed import train
    from fastfeed.tasks import lfw as task

    configs = {}
    for name in args.models.split(","):
        try:
            configs[name] = train.make_config("lfw", {
                "lfw": args.lfw, "model": name, "image_size": str(args.image_size),
                "table_size": str(args.image_size + args.image_size // 8),
                "batch_size": str(args.batch_size),
                "people_per_batch": str(args.batch_size // 4)})
        except (ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    first = next(iter(configs.values()))
    print(f"decoding LFW from {args.lfw} ...", flush=True)
    data = task.prepare(first)
    unit = task.units(first, data)[0]
    strategy, jit = train.setup_devices(first)
    candidates = {}
    for name, config in configs.items():
        model, optimizer = train.build(config, task, strategy)
        step = train.make_train_step(config, task, model, optimizer, strategy, jit)
        stream = task.stream(config, data, unit)
        memory = stream.take(1).cache().repeat()
        per_batch = task.examples_per_batch(config)
        candidates[f"{name} stream"] = (lambda s=stream, f=step: _stepping(s, f), per_batch)
        candidates[f"{name} memory"] = (lambda s=memory, f=step: _stepping(s, f), per_batch)
    result = common.race(candidates, seconds=args.seconds, rounds=args.rounds, drain=2)
    print(f"\n{'model':<10} {'stream':<9} {'steps/s fed by stream':>22} "
          f"{'steps/s from memory':>20} {'ratio':>6}")
    for name, config in configs.items():
        per_batch = task.examples_per_batch(config)
        fed = result.rates[f"{name} stream"] / per_batch
        ideal = result.rates[f"{name} memory"] / per_batch
        print(f"{name:<10} {config.stream:<9} {fed:>22.2f} {ideal:>20.2f} "
              f"{fed / ideal:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
