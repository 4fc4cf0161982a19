"""`fastfeed preview`: a PNG grid of composites (mask outlines) or of LFW pairs."""

from __future__ import annotations

import argparse
import os

from fastfeed import files, lfw
from fastfeed.cli import common
from fastfeed.tfds_builders import config_names


def add_parser(commands) -> None:
    p = commands.add_parser(
        "preview", help="write a PNG grid of composites (with mask outlines) or LFW pairs")
    p.add_argument("what", choices=("composites", "lfw_pairs"))
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
    p.add_argument("--config", help=f"lfw_pairs: {' or '.join(config_names('lfw_pairs'))} "
                                    f"(the first is the default)")
    p.add_argument("--split", default="test", help="lfw_pairs: split to show")
    p.add_argument("--augment", help="augmentation to show: a spec of native ops, e.g. "
                                     "'flip_lr|rotate(10)|hue(0.05)', or an "
                                     "albumentations JSON/YAML file")
    p.add_argument("--data-dir", help="lfw_pairs: TFDS data dir of the built dataset")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out (and --examples-dir files)")
    p.add_argument("--examples-dir", help="composites: also write each example as "
                                          "DIR/images/NNNN.png and DIR/masks/NNNN.png "
                                          "(a folder `fastfeed eval-bg` reads)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes a grid of composites or of LFW pairs to --out."""
    import numpy as np

    from fastfeed.preview import composite_grid, pairs_grid, write_png

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
    if args.what == "composites":
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

        try:
            builder = lfw.require_built(f"lfw_pairs/{args.config or lfw.DEFAULT_CONFIG}",
                                        args.data_dir)
        except FileNotFoundError as error:
            return common.fail(str(error))
        dataset = builder.as_dataset(split=args.split).shuffle(
            1000, seed=args.seed).take(args.count)
        if args.augment:
            from fastfeed.compose import augment
            try:
                fn = augment.resolve(args.augment, seed=args.seed, mask_keys=(),
                                     image_keys=("image1", "image2"), independent=True)
            except (ValueError, FileNotFoundError) as error:
                return common.fail(str(error))
            dataset = dataset.enumerate().map(fn)
        grid = pairs_grid(dataset.as_numpy_iterator(), columns=max(1, args.columns // 2))
    write_png(args.out, np.asarray(grid))
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0
