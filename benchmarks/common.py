"""Side-by-side timing shared by the benchmarks: build each pipeline, then let them take
turns, so that a noisy, shared machine slows all of them alike."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Iterator, Mapping


def measure(iterator: Iterator, items_per_batch: int, seconds: float,
            drain: int = 16) -> float:
    """Items/s over ``seconds``, after ``drain`` untimed batches: those were prefetched
    while other pipelines had their turn and would otherwise come for free."""
    for _ in range(drain):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterator)
        count += items_per_batch
    return count / (time.perf_counter() - start)


def race(candidates: Mapping[str, tuple[Callable[[], object], int]], *, seconds: float,
         rounds: int, drain: int = 16) -> tuple[dict[str, float], dict[str, float]]:
    """``{name: (make_iterable, items_per_batch)}`` -> (median items/s, start-up s).

    Start-up is the time from ``make_iterable()`` to the first batch. Then each
    pipeline runs ``seconds`` in turn, ``rounds`` times. Progress goes to stdout.
    """
    iterators, startup, rates = {}, {}, {name: [] for name in candidates}
    for name, (make, _) in candidates.items():
        start = time.perf_counter()
        iterators[name] = iter(make())
        next(iterators[name])
        startup[name] = time.perf_counter() - start
        print(f"  built {name}: first batch after {startup[name]:.1f} s", flush=True)
    for round_number in range(rounds):
        for name, (_, per_batch) in candidates.items():
            rates[name].append(measure(iterators[name], per_batch, seconds, drain))
        print(f"  round {round_number + 1}/{rounds} done", flush=True)
    return {name: statistics.median(r) for name, r in rates.items()}, startup


def parser(name: str, doc: str, *, image_size: int, batch_size: int) -> argparse.ArgumentParser:
    """The options every benchmark takes; each adds where its data is."""
    result = argparse.ArgumentParser(prog=f"fastfeed bench {name}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--image-size", type=int, default=image_size)
    result.add_argument("--batch-size", type=int, default=batch_size)
    result.add_argument("--seconds", type=float, default=5.0, help="per turn")
    result.add_argument("--rounds", type=int, default=3)
    return result
