"""`fastfeed bench service`: composite_stream locally against through the tf.data
service with one and with two workers, each worker a separate process.

    python -m benchmarks.service --seconds 5 --rounds 3

The dispatchers and workers are `fastfeed serve-data` processes on loopback. The
three pipelines make the same batches (the service
shards batch numbers dynamically) and take turns in one run. The report gives
composites/s, the ratio to the local stream, and the service's cost per example
(1/rate through the service - 1/rate locally). On a machine with few cores the
workers compete with the trainer's process for the same cores: the figure to read
there is the overhead; the scaling shows where workers are other hosts.
"""

from __future__ import annotations

import math
import os
import sys

from benchmarks import common
from fastfeed.compose import composites, service
from fastfeed.compose.feed import Feed


def main(argv=None) -> int:
    parser = common.parser("service", __doc__, image_size=128, batch_size=16)
    parser.add_argument("--objects", default="procedural", help="cut-outs (SOURCE[:W],...)")
    parser.add_argument("--backgrounds", default="procedural", help="backgrounds")
    args = parser.parse_args(argv)
    size, batch = args.image_size, args.batch_size
    compositor = composites.make_compositor(composites.parse_mix(args.objects),
                                           composites.parse_mix(args.backgrounds),
                                           image_size=size)
    print(f"{size}x{size}, batch {batch}; {os.cpu_count()} CPU cores; {args.rounds} rounds "
          f"of {args.seconds:g} s each, alternating", flush=True)

    dispatchers, workers = [], []
    try:
        for count in (1, 2):
            dispatchers.append(service.ServerProcess("dispatcher"))
            address = dispatchers[-1].address
            workers += [service.ServerProcess("worker", address) for _ in range(count)]
            print(f"  dispatcher {address} with {count} worker process(es)", flush=True)
        targets = [d.address for d in dispatchers]

        def stream(target=None):
            return composites.composite_stream(compositor=compositor, batch_size=batch,
                                              augment="flip_lr|hue(0.04)",
                                              feed=Feed(service=target))
        candidates = {
            "local composite_stream": (lambda: stream(), batch),
            "tf.data service, 1 worker": (lambda: stream(targets[0]), batch),
            "tf.data service, 2 workers": (lambda: stream(targets[1]), batch),
        }
        rates, startup, cores = common.race(candidates, seconds=args.seconds,
                                            rounds=args.rounds, drain=8)
    finally:
        for server in workers + dispatchers:
            server.stop()

    local = rates["local composite_stream"]
    print(f"\n{'pipeline':<28} {'composites/s':>12} {'x local':>8} "
          f"{'ms/example added':>17} {'start-up':>9}")
    for name, rate in rates.items():
        added = (1 / rate - 1 / local) * 1e3
        print(f"{name:<28} {rate:>12.0f} {rate / local:>7.2f}x {added:>17.2f} "
              f"{startup[name]:>8.1f}s")
    return 0 if all(math.isfinite(r) and r > 0 for r in rates.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
