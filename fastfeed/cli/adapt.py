"""`fastfeed adapt`: the background remover adapted to a folder of your photos.

Self-training: the shipped model (or --base) labels your photos (GrabCut seeded by its
map, each pixel weighted by whether plain GrabCut agrees), then learns from them mixed
with generated composites; the next round's labels come from the adapted model. Writes
RUN_DIR/model.keras for `fastfeed remove-bg --model`. Any option of `fastfeed train
--task composites` can follow (e.g. --objects DIR --backgrounds DIR for your own
cut-outs and backgrounds, --eval-real DIR to measure on photos with masks).
"""

from __future__ import annotations

import argparse
import logging
import os

from fastfeed import files
from fastfeed.cli import common


def add_parser(commands) -> None:
    p = commands.add_parser(
        "adapt", help="adapt the background remover to your own photos (no masks needed)",
        description=__doc__)
    p.add_argument("photos", metavar="PHOTOS", help="folder of your photos (recursive)")
    p.add_argument("--run-dir", required=True, help="folder for the rounds and model.keras")
    p.add_argument("--base", help="model.keras to start from (default: the shipped model)")
    p.add_argument("--rounds", type=common.Ranged(int, 1, 100), default=2,
                   help="labelling rounds (%(default)s)")
    p.add_argument("--steps", type=common.Ranged(int, 1), default=1200,
                   help="training steps per round (%(default)s)")
    p.add_argument("--learning-rate", type=common.Ranged(float, 0, 1, above=True),
                   default=3e-4, help="(%(default)s)")
    p.add_argument("--overwrite", action="store_true", help="redo an earlier adaptation")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted adaptation (same options): finished "
                        "rounds are kept, the interrupted one goes on from its checkpoint")
    p.set_defaults(run=run, overrides=True)


def run(args: argparse.Namespace) -> int:
    """Self-trains the shipped (or --base) model on a folder of unlabelled photos."""
    from fastfeed import background, train
    from fastfeed import adapt

    extra, problem = common.overrides(args.rest)
    if problem:
        return common.fail(problem)
    problem = files.write_conflict(
        {"PHOTOS": [args.photos], "--base": [args.base or background.DEFAULT_MODEL],
         **{f"--{key}": files.listed_paths(value) for key, value in extra.items()}},
        {"--run-dir": args.run_dir}) or files.target_problem("--run-dir", args.run_dir,
                                                            "folder")
    if problem:
        return common.fail(problem)
    if args.resume and args.overwrite:
        return common.fail("--resume and --overwrite: give one (continue the adaptation, "
                           "or redo it).")
    final = os.path.join(args.run_dir, "model.keras")
    if os.path.exists(final) and args.resume:
        return common.fail(f"{final} exists: that adaptation is finished; nothing to "
                           f"resume.")
    if os.path.exists(final) and not args.overwrite:
        return common.fail(f"{final} exists (an earlier adaptation); pass --overwrite "
                           f"to redo it, or choose another --run-dir.")
    logging.getLogger("fastfeed").setLevel(logging.INFO)
    try:
        # Every round's options (the photo folder included) checked before the first
        # photo is labelled.
        train.make_config("composites", adapt.round_overrides(
            args.photos, args.base or background.DEFAULT_MODEL, args.steps,
            args.learning_rate, adapt.DEFAULTS["warmup_steps"], extra))
        result = adapt.adapt(args.photos, args.run_dir, base=args.base,
                             rounds=args.rounds, steps=args.steps,
                             learning_rate=args.learning_rate, extra=extra,
                             overwrite=args.overwrite, resume=args.resume,
                             report=common.TrainingProgress())
    except (ValueError, FileNotFoundError, MemoryError) as error:
        return common.fail(str(error))
    except train.Interrupted as stopped:
        return common.fail(f"interrupted: {stopped}", status=130)
    rounds = f"{args.rounds} round{'s' if args.rounds > 1 else ''}"
    print(f"\nadapted in {result['wall_s'] / 60:.1f} min ({rounds} of {args.steps} steps): "
          f"{result['model']}")
    for number, metrics in enumerate(result["rounds"], 1):
        print(f"  round {number}: {adapt.summary(metrics)}")
    print(f"use it: fastfeed remove-bg PHOTOS --model {result['model']}")
    return 0
