"""The `fastfeed` command.

    fastfeed build lfw_pairs --config deepfunneled --manual-dir ../shared/data/lfw

Subcommands for training, previews, background removal and benchmarks arrive with
their features (see README).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

# Before TensorFlow is imported anywhere: keep its C++ logging out of user output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

BUILDABLE = ("lfw_pairs",)


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with file descriptor 2 muted.

    TensorFlow's C++ core prints start-up lines (oneDNN, absl initialisation) straight
    to fd 2 at import time, before any setting can stop them. Python errors still
    surface: the exception propagates after stderr is restored.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    logging.getLogger("absl").setLevel(logging.ERROR)


def _folder_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)


def build(args: argparse.Namespace) -> int:
    import tensorflow_datasets as tfds

    import fastfeed  # noqa: F401  (registers the builders)
    from fastfeed.tfds_builders.lfw_pairs import check, protocol

    name = f"{args.dataset}/{args.config}"
    builder = tfds.builder(name, data_dir=args.data_dir)
    manual_dir = os.path.abspath(args.manual_dir) if args.manual_dir else None
    if manual_dir and not os.path.isdir(manual_dir):
        print(f"error: --manual-dir {args.manual_dir!r} is not a folder.", file=sys.stderr)
        return 2
    if builder.is_prepared():
        print(f"{name}: already built in {builder.data_dir}; checking it.")
    else:
        source = manual_dir or "the download mirrors"
        print(f"{name}: building from {source} into {builder.data_dir} ...", flush=True)
        start = time.perf_counter()
        try:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        except (ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{name}: built in {time.perf_counter() - start:.1f} s.")
    size = _folder_size(builder.data_dir)
    print(f"{name}: {size / 2**20:.1f} MiB on disk in {builder.data_dir}")
    if args.no_check:
        return 0

    protocol_paths = None
    if manual_dir:
        protocol_paths = {n: os.path.join(manual_dir, n) for n in protocol.PROTOCOL_FILES}
    start = time.perf_counter()
    reports = check.check_builder(builder, protocol_paths)
    print(f"\n{'split':<8} {'pairs':>6} {'same':>6} {'people':>7} {'images':>7}  check")
    for r in reports:
        verdict = "ok" if r.ok else (r.mismatches or f"{r.bad_shapes} bad image shapes")
        if r.ok and protocol_paths is None:
            verdict = "ok (decoded; no protocol files given to compare)"
        print(f"{r.split:<8} {r.pairs:>6} {r.same:>6} {r.people:>7} "
              f"{r.images_decoded:>7}  {verdict}")
    total = sum(r.pairs for r in reports)
    print(f"\nchecked {total} pairs ({sum(r.images_decoded for r in reports)} images "
          f"decoded) in {time.perf_counter() - start:.1f} s")
    return 0 if all(r.ok for r in reports) else 1


BENCHMARKS = ("pairs", "composites")


def bench(args: argparse.Namespace) -> int:
    """Runs benchmarks/<name>.py from the source checkout this fastfeed comes from."""
    import importlib

    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isdir(os.path.join(checkout, "benchmarks")):
        print(f"error: benchmarks/ not found beside {checkout}; `fastfeed bench` needs a "
              f"source checkout (pip install -e .).", file=sys.stderr)
        return 2
    sys.path.insert(0, checkout)
    module = importlib.import_module(f"benchmarks.{args.name}")
    return module.main(args.rest)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="fastfeed", description="Fast tf.data input pipelines and datasets.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "build", help="build a fastfeed TFDS dataset, then check every split",
        description="Builds a dataset (download, or offline from --manual-dir), reports "
                    "its time and size, decodes every image and compares each split with "
                    "its protocol file.")
    p.add_argument("dataset", choices=BUILDABLE)
    p.add_argument("--config", default="original", choices=("original", "deepfunneled"))
    p.add_argument("--manual-dir", help="folder with the archive (or extracted folder) "
                                        "and the pairs files; default: download")
    p.add_argument("--data-dir", help="TFDS data dir (default: ~/tensorflow_datasets)")
    p.add_argument("--no-check", action="store_true", help="skip the check after building")
    p.set_defaults(run=build)

    p = commands.add_parser(
        "bench", help="run a benchmark from benchmarks/ (see `fastfeed bench NAME -h`)")
    p.add_argument("name", choices=BENCHMARKS)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own options")
    p.set_defaults(run=bench)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _import_tensorflow_quietly()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
