"""Side-by-side timing shared by the benchmarks: build each pipeline, then let them take
turns, so that a noisy, shared machine slows all of them alike."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple


class Race(NamedTuple):
    rates: dict[str, float]  # median items/s
    startup: dict[str, float]  # s from building to the first batch
    cores: dict[str, float]  # median CPU seconds of the process per wall second


def measure(iterator: Iterator, items_per_batch: int, seconds: float,
            drain: int = 16) -> tuple[float, float]:
    """(items/s, cores used) over ``seconds``, after ``drain`` untimed batches: those
    were prefetched while other pipelines had their turn and would otherwise come for
    free."""
    for _ in range(drain):
        next(iterator)
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        next(iterator)
        count += items_per_batch
    elapsed = time.perf_counter() - start
    return count / elapsed, (time.process_time() - cpu) / elapsed


def race(candidates: Mapping[str, tuple[Callable[[], Iterable], int]], *, seconds: float,
         rounds: int, drain: int = 16, fresh: bool = False) -> Race:
    """``{name: (make_iterable, items_per_batch)}`` -> median items/s, start-up s, cores.

    Start-up is the time from ``make_iterable()`` to the first batch. Then each
    pipeline runs ``seconds`` in turn, ``rounds`` times. With ``fresh``, each turn
    iterates the iterable anew and deletes that iterator after its turn, so that no
    tf.data pipeline works in the background during another's turn (use it for
    pipelines with nothing to rebuild per iterator, such as caches). Progress goes to
    stdout.
    """
    iterables, iterators, startup = {}, {}, {}
    rates = {name: [] for name in candidates}
    cores = {name: [] for name in candidates}
    for name, (make, _) in candidates.items():
        start = time.perf_counter()
        iterables[name] = make()
        iterators[name] = iter(iterables[name])
        next(iterators[name])
        startup[name] = time.perf_counter() - start
        if fresh:
            del iterators[name]
        print(f"  built {name}: first batch after {startup[name]:.1f} s", flush=True)
    for round_number in range(rounds):
        for name, (_, per_batch) in candidates.items():
            iterator = iter(iterables[name]) if fresh else iterators[name]
            rate, used = measure(iterator, per_batch, seconds, drain)
            del iterator  # with fresh: its threads stop before the next turn
            rates[name].append(rate)
            cores[name].append(used)
        print(f"  round {round_number + 1}/{rounds} done", flush=True)
    return Race({name: statistics.median(r) for name, r in rates.items()}, startup,
                {name: statistics.median(c) for name, c in cores.items()})


def parser(name: str, doc: str, *, image_size: int, batch_size: int) -> argparse.ArgumentParser:
    """The options every benchmark takes; each adds where its data is."""
    result = argparse.ArgumentParser(prog=f"fastfeed bench {name}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--image-size", type=int, default=image_size)
    result.add_argument("--batch-size", type=int, default=batch_size)
    result.add_argument("--seconds", type=float, default=5.0, help="per turn")
    result.add_argument("--rounds", type=int, default=3)
    return result
