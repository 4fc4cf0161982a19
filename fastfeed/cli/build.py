"""`fastfeed build`: a TFDS dataset built (downloaded, or offline from --manual-dir),
then every split read back and checked.

Builds a dataset (download, or offline from --manual-dir), reports its time and size,
decodes every image and compares each split with its protocol file.
"""

from __future__ import annotations

import argparse
import os
import time

from fastfeed import files, lfw
from fastfeed.cli import common
from fastfeed.tfds_builders import BUILDERS, config_names


def add_parser(commands) -> None:
    p = commands.add_parser(
        "build", help="build a fastfeed TFDS dataset, then check every split",
        description=__doc__)
    p.add_argument("dataset", choices=sorted(BUILDERS))
    p.add_argument("--config", help="; ".join(
        f"{name}: {' or '.join(config_names(name))} (the first is the default)"
        for name in sorted(BUILDERS)))
    p.add_argument("--manual-dir", help="lfw_pairs: folder with the archive (or extracted "
                                        "folder) and the pairs files, default: download; "
                                        "product_composites/folders: folder with objects/ "
                                        "and backgrounds/")
    p.add_argument("--image-size", type=common.Ranged(int, 32, 4096),
                   help="product_composites: side (256)")
    p.add_argument("--validation-size", type=common.Ranged(int, 1),
                   help="product_composites: examples (500)")
    p.add_argument("--test-size", type=common.Ranged(int, 1),
                   help="product_composites: examples (500)")
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
    sizes = {k: getattr(args, k) for k in ("image_size", "validation_size", "test_size")
             if getattr(args, k) is not None}
    if args.dataset != "product_composites":
        if sizes:
            return None, ("--image-size/--validation-size/--test-size are for "
                          "product_composites.")
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
        source = manual_dir or ("the download mirrors" if args.dataset == "lfw_pairs"
                                else "built-in procedural assets")
        print(f"{name}: building from {source} into {builder.data_dir} ...", flush=True)
        start = time.perf_counter()
        try:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        except (ValueError, FileNotFoundError) as error:
            return common.fail(str(error))
        print(f"{name}: built in {time.perf_counter() - start:.1f} s.")
    size = _folder_size(builder.data_dir)
    print(f"{name}: {size / 2**20:.1f} MiB on disk in {builder.data_dir}")
    if args.no_check:
        return 0
    if args.dataset == "product_composites":
        return _check_composites(builder)
    from fastfeed.tfds_builders.lfw_pairs import check

    protocol_paths = None
    if manual_dir:
        protocol_paths = {n: os.path.join(manual_dir, n) for n in lfw.PROTOCOL_FILES}
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


def _check_composites(builder) -> int:
    """Reads every example back: shapes, masks in {0, 1}, object share per split."""
    import numpy as np

    failures = 0
    print(f"\n{'split':<11} {'examples':>8} {'object share':>13}  check")
    for split, info in builder.info.splits.items():
        count, share, bad = 0, 0.0, 0
        for example in builder.as_dataset(split=split).as_numpy_iterator():
            mask = example["mask"]
            bad += int(not np.isin(mask, (0, 1)).all())
            share += float(mask.mean())
            count += 1
        ok = bad == 0 and count == info.num_examples
        failures += not ok
        print(f"{split:<11} {count:>8} {share / max(count, 1):>12.1%}  "
              f"{'ok' if ok else f'{bad} bad masks, {info.num_examples} expected'}")
    return 1 if failures else 0
