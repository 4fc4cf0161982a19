"""`fastfeed build`: a TFDS dataset built (downloaded, or offline from --manual-dir),
then every split read back and checked.

Builds a dataset (download, or offline from --manual-dir), reports its time and size,
decodes every image and compares each split with its protocol file.
"""

from __future__ import annotations

import argparse
import os
import time

from fastfeed import files
from fastfeed.cli import common
from fastfeed.tfds_builders import BUILDERS, check, config_names

SIZES = ("image_size", "validation_size", "test_size")
SIZED = sorted(name for name, builder in BUILDERS.items() if hasattr(builder, "config_for"))


def add_parser(commands) -> None:
    p = commands.add_parser(
        "build", help="build a fastfeed TFDS dataset, then check every split",
        description=__doc__)
    p.add_argument("dataset", choices=sorted(BUILDERS))
    p.add_argument("--config", help="; ".join(
        f"{name}: {' or '.join(config_names(name))} (the first is the default)"
        for name in sorted(BUILDERS)))
    p.add_argument("--manual-dir", help="the folder a dataset builds from offline; " + "; ".join(
        f"{name}: {BUILDERS[name].MANUAL_DIR}" for name in sorted(BUILDERS)))
    sized = " or ".join(SIZED)
    p.add_argument("--image-size", type=common.Ranged(int, 32, 4096),
                   help=f"{sized}: side (256)")
    p.add_argument("--validation-size", type=common.Ranged(int, 1),
                   help=f"{sized}: examples (500)")
    p.add_argument("--test-size", type=common.Ranged(int, 1),
                   help=f"{sized}: examples (500)")
    p.add_argument("--data-dir", help="TFDS data dir (default: ~/tensorflow_datasets)")
    p.add_argument("--no-check", action="store_true", help="skip the check after building")
    p.set_defaults(run=run)


def _folder_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)


def _builder(args: argparse.Namespace):
    """The TFDS builder the arguments name, or an error message."""
    import tensorflow_datasets as tfds  # this module's package has registered the builders

    names = config_names(args.dataset)
    config = args.config or names[0]
    if config not in names:
        return None, (f"--config {config!r} is not a config of {args.dataset}; use one "
                      f"of {', '.join(names)}.")
    sizes = {k: getattr(args, k) for k in SIZES if getattr(args, k) is not None}
    if args.dataset not in SIZED:
        if sizes:
            return None, (f"--image-size/--validation-size/--test-size are for "
                          f"{' and '.join(SIZED)}.")
        return tfds.builder(f"{args.dataset}/{config}", data_dir=args.data_dir), None
    try:
        builder_config = BUILDERS[args.dataset].config_for(config, **sizes)
    except ValueError as error:
        return None, str(error)
    return tfds.builder(args.dataset, config=builder_config, data_dir=args.data_dir), None


def run(args: argparse.Namespace) -> int:
    import tensorflow_datasets as tfds

    manual_dir = os.path.abspath(args.manual_dir) if args.manual_dir else None
    if manual_dir and not os.path.isdir(manual_dir):
        return common.fail(f"--manual-dir {args.manual_dir!r} is not a folder.")
    builder, problem = _builder(args)
    # What TFDS writes: the dataset's version folder inside --data-dir.
    if not problem:
        problem = files.write_conflict({"--manual-dir": [manual_dir or ""]},
                                       {"--data-dir": builder.data_dir})
    if problem:
        return common.fail(problem)
    name = f"{builder.name}/{builder.builder_config.name}"
    if builder.is_prepared():
        print(f"{name}: already built in {builder.data_dir}; checking it.")
    else:
        source = manual_dir or BUILDERS[args.dataset].SOURCE
        print(f"{name}: building from {source} into {builder.data_dir} ...", flush=True)
        start = time.perf_counter()
        try:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        except (ValueError, FileNotFoundError, ConnectionError) as error:
            return common.fail(str(error))
        print(f"{name}: built in {time.perf_counter() - start:.1f} s.")
    size = _folder_size(builder.data_dir)
    print(f"{name}: {size / 2**20:.1f} MiB on disk in {builder.data_dir}")
    if args.no_check:
        return 0
    report = check(args.dataset)
    if report is None:
        return 0
    start = time.perf_counter()
    lines, ok = report(builder, manual_dir)
    print("\n" + "\n".join(lines))
    print(f"checked in {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1
