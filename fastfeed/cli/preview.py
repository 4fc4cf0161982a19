"""`fastfeed preview`: a PNG grid of the composite stream's examples (mask outlines), or
of a built dataset's (each dataset folder's preview.py draws its own)."""

from __future__ import annotations

import argparse
import os

from fastfeed import files
from fastfeed.cli import common
from fastfeed.tfds_builders import BUILDERS, config_names, preview

STREAM = "composites"  # the composite stream; every other choice is a built dataset
DATASETS = sorted(name for name in BUILDERS if preview(name))


def add_parser(commands) -> None:
    p = commands.add_parser(
        "preview", help="write a PNG grid of composites (with mask outlines) or of a built "
                        "dataset", description=__doc__)
    p.add_argument("what", choices=(STREAM, *DATASETS),
                   help=f"{STREAM}: the composite stream; a dataset: its built examples")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--objects", help="composites: folder of RGBA cut-outs (default: "
                                     "built-in procedural objects)")
    p.add_argument("--backgrounds", help="composites: folder of background photos "
                                         "(default: procedural textures)")
    p.add_argument("--image-size", type=common.Ranged(int, 32, 4096), default=256,
                   help="composites: side")
    p.add_argument("--count", type=common.Ranged(int, 1, 1024), default=16,
                   help="examples or pairs to show")
    p.add_argument("--columns", type=common.Ranged(int, 1, 64), default=4)
    p.add_argument("--seed", type=common.Ranged(int, 0), default=0)
    p.add_argument("--config", help="a dataset's config (the first is the default): " +
                   "; ".join(f"{name}: {' or '.join(config_names(name))}"
                             for name in DATASETS))
    p.add_argument("--split", default="test", help="a dataset's split to show")
    p.add_argument("--augment", help="augmentation to show: a spec of native ops, e.g. "
                                     "'flip_lr|rotate(10)|hue(0.05)', or an "
                                     "albumentations JSON/YAML file")
    p.add_argument("--data-dir", help="a dataset's TFDS data dir (where it was built)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out (and --examples-dir files)")
    p.add_argument("--examples-dir", help="composites: also write each example as "
                                          "DIR/images/NNNN.png and DIR/masks/NNNN.png "
                                          "(a folder `fastfeed eval-bg` reads)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes a grid of composites or of a built dataset's examples to --out."""
    import numpy as np

    from fastfeed.preview import composite_grid, write_png

    examples = ([os.path.join(args.examples_dir, sub, f"{k:04d}.png")
                 for sub in ("images", "masks") for k in range(args.count)]
                if args.examples_dir else [])
    problem = (files.write_conflict(
        {"--objects": files.listed_paths(args.objects),
         "--backgrounds": files.listed_paths(args.backgrounds),
         "--data-dir": [args.data_dir or ""]},
        {"--out": args.out, "--examples-dir": args.examples_dir or ""})
        or files.target_problem("--out", args.out, "file")
        or (args.examples_dir and files.target_problem("--examples-dir",
                                                       args.examples_dir, "folder"))
        or common.existing([args.out, *examples], args.overwrite))
    if problem:
        return common.fail(problem)
    if args.what == STREAM:
        from fastfeed.compose import composites
        from fastfeed.compose.composites import folders
        try:
            stream = composites.composite_stream(
                args.objects or composites.PROCEDURAL, args.backgrounds or composites.PROCEDURAL,
                image_size=args.image_size, batch_size=args.count, seed=args.seed,
                augment=args.augment)
        except (folders.AssetError, ValueError, FileNotFoundError) as error:
            return common.fail(str(error))
        batch = next(iter(stream))
        grid = composite_grid(batch, columns=args.columns)
        if args.examples_dir:
            from PIL import Image

            for sub in ("images", "masks"):
                os.makedirs(os.path.join(args.examples_dir, sub), exist_ok=True)
            for k, (image, mask) in enumerate(zip(batch["image"].numpy(),
                                                  batch["mask"].numpy())):
                Image.fromarray(image).save(
                    os.path.join(args.examples_dir, "images", f"{k:04d}.png"))
                Image.fromarray(mask[..., 0] * 255).save(
                    os.path.join(args.examples_dir, "masks", f"{k:04d}.png"))
            print(f"wrote {len(batch['image'])} composites and their masks to "
                  f"{args.examples_dir}/images and /masks")
    else:
        import tensorflow_datasets as tfds

        name = f"{args.what}/{args.config or config_names(args.what)[0]}"
        try:
            builder = tfds.builder(name, data_dir=args.data_dir or None)
        except ValueError as error:
            return common.fail(f"--config {args.config!r}: {error} ({args.what} has "
                               f"{', '.join(config_names(args.what))})")
        if not builder.is_prepared():
            return common.fail(f"{name} is not built in {builder.data_dir}; run `fastfeed "
                               f"build {args.what} --config {name.split('/')[1]}` first "
                               f"(or pass --data-dir).")
        if args.split not in builder.info.splits:
            return common.fail(f"--split {args.split!r}: {name} has "
                               f"{', '.join(builder.info.splits)}.")
        try:
            grid = preview(args.what)(builder, args.split, args.count, args.columns,
                                      args.seed, args.augment)
        except (ValueError, FileNotFoundError) as error:
            return common.fail(str(error))
    write_png(args.out, np.asarray(grid))
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0
