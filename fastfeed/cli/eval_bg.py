"""`fastfeed eval-bg`: background removal measured on real photos with masks.

IoU, MAE and max F-measure (beta^2 = 0.3) of a model over DIR/images with DIR/masks
(same stems), at full resolution, with a per-image CSV; --baseline grabcut runs OpenCV's
GrabCut beside it, and every model is compared with it (else with the first --model)
photo by photo: the mean difference, its standard error, and the photos better and
worse. With pysodmetrics installed (the metrics extra), also S-measure, mean E-measure
and weighted F.
"""

from __future__ import annotations

import argparse
import os
import sys

from fastfeed import background, files, images
from fastfeed.cli import common


def add_parser(commands) -> None:
    p = commands.add_parser(
        "eval-bg", help="measure background removal on real photos with masks",
        description=__doc__)
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--model", action="append",
                   help="model.keras or run folder (default: shipped model); give it "
                        "twice to compare two models photo by photo")
    p.add_argument("--baseline", choices=("grabcut",), help="model-free baseline")
    p.add_argument("--baseline-only", action="store_true", help="only the baseline")
    common.add_map_options(p)
    p.add_argument("--limit", type=common.Ranged(int, 0), default=0, help="first N photos (0: all)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv")
    p.add_argument("--csv", default="eval-bg.csv", help="per-image scores (default: "
                                                        "%(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """IoU, MAE, max F (and the SOD field's S, E and weighted F) of one or more models
    (and GrabCut) on real photos with masks, with per-photo differences."""
    import functools

    problem = (common.map_options_problem(args)
               or files.write_conflict({"DIR": [args.directory], "--model": [
                   m or background.DEFAULT_MODEL for m in args.model or [None]]},
                   {"--csv": args.csv})
               or files.target_problem("--csv", args.csv, "file")
               or common.existing([args.csv], args.overwrite))
    if problem:
        return common.fail(problem)
    models = args.model or [None]
    try:
        photos = background.metrics.labelled_photos(args.directory, args.limit)
        methods, labels = {}, {}
        if not args.baseline_only:
            sizes = "+".join(map(str, background.inference.scaled_sizes(args.size,
                                                                        args.scales)))
            for number, path in enumerate(models, 1):
                name = "model" if len(models) == 1 else f"model{number}"
                methods[name] = functools.partial(
                    background.predict, background.load_model(path), size=args.size,
                    refinement=args.refinement, scales=args.scales)
                labels[name] = (f"{name} ({path or 'shipped default'}, {sizes} px, "
                                f"{args.refinement} refinement)")
        if args.baseline == "grabcut":
            methods["grabcut"] = background.refine.grabcut
            labels["grabcut"] = "grabcut (rect 5% inside, 5 iterations, 320 px)"
        skipped = []
        scores = background.metrics.evaluate_photos(photos, methods, common.Bar("eval-bg"),
                                                    skipped)
    except (images.ImageError, FileNotFoundError, ValueError) as error:
        return common.fail(str(error))
    for stem, why in skipped:
        print(f"skipped: {stem}: {why}", file=sys.stderr)
    scored = len(photos) - len(skipped)
    if not scored:
        return common.fail(f"no photo of {args.directory} could be scored "
                           f"({len(skipped)} skipped).", status=1)
    text = background.metrics.csv_text(scores)
    print(f"{scored} photos of {args.directory}"
          + (f" ({len(skipped)} skipped: unreadable photo or mask)" if skipped else "")
          + f" (per image: {args.csv})")
    # Each method beside the reference: the baseline, else the first model.
    reference = "grabcut" if "grabcut" in scores else next(iter(scores))
    shown = [("iou", "IoU"), ("mae", "MAE"), ("max_f", "max F"),
             ("s_measure", "S"), ("e_measure", "mean E"), ("weighted_f", "weighted F")]
    for name, score in scores.items():
        summary = score.summary()
        print(f"  {labels[name]}:")
        print("    " + "  ".join(f"{label} {summary[key]:.4f}" for key, label in shown
                                 if key in summary))
        if name != reference:
            for metric in ("iou",) + tuple(k for k in background.metrics.SOD_MEASURES
                                           if k in summary):
                difference = background.metrics.paired_difference(
                    score, scores[reference], metric)
                print(f"    vs {reference}, per photo: {metric} "
                      f"{background.metrics.difference_text(difference)}")
    if background.metrics.sod_metrics() is None:
        print("  (S-measure, E-measure and weighted F need pysodmetrics: pip install "
              "'fastfeed[metrics]')")
    # Written last: when the CSV cannot be written, the scores are printed instead.
    try:
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        with files.written_whole(args.csv) as temporary, open(temporary, "w",
                                                              newline="") as f:
            f.write(text)
    except OSError as error:
        print(f"error: --csv {args.csv}: {error.strerror or error}; the per-image scores "
              f"follow here instead.", file=sys.stderr)
        sys.stdout.write(text)
        return 1
    return 1 if skipped else 0
