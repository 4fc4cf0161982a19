"""`fastfeed bench NAME`: a benchmark of benchmarks/, from the source checkout."""

from __future__ import annotations

import argparse
import os
import sys

from fastfeed.cli import common


BENCHMARKS = ("pairs", "composites", "augment", "train", "service", "remove-bg",
              "serve-bg")


def add_parser(commands) -> None:
    p = commands.add_parser(
        "bench", help="run a benchmark from benchmarks/ (see `fastfeed bench NAME -h`)")
    p.add_argument("name", choices=BENCHMARKS)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own options")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs benchmarks/<name>.py from the source checkout this fastfeed comes from."""
    import importlib

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkout = os.path.dirname(package)
    if not os.path.isdir(os.path.join(checkout, "benchmarks")):
        return common.fail(f"benchmarks/ not found beside {package}; `fastfeed bench` "
                           f"needs a source checkout (pip install -e .).")
    sys.path.insert(0, checkout)
    module = importlib.import_module(f"benchmarks.{args.name.replace('-', '_')}")
    return module.main(args.rest)
