"""`fastfeed train` and `fastfeed eval`: a task's model trained and evaluated (see
fastfeed/train.py), or a finished run evaluated again.

Trains and evaluates a task's model. Every field of the task's config can be set with
--key value (e.g. --steps 2000 --model diff_cnn): `fastfeed train --task NAME --help`
lists them with their defaults and ranges, and a value outside them is refused before
TensorFlow loads. The resolved config is printed and saved in --run-dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import time

from fastfeed import tasks
from fastfeed.cli import common


def add_parser(commands) -> None:
    p = commands.add_parser(
        "train", help="train a task's reference model (see fastfeed/train.py)",
        description=__doc__, add_help=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-h", "--help", action="store_true",
                   help="show this help and every option of --task, then exit")
    p.add_argument("--task", default="lfw", help=f"{', '.join(tasks.available())}, or a "
                   f"task module's dotted path (default: %(default)s)")
    p.add_argument("--run-dir", help="folder for config.json, checkpoints, "
                                      "TensorBoard, model.keras, metrics.json (required)")
    p.add_argument("--smoke", action="store_true", help="a tiny run that takes seconds")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the earlier run in --run-dir (else it is refused)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --run-dir")
    p.set_defaults(run=run, door=door, overrides=True, parser=p)


def add_eval_parser(commands) -> None:
    p = commands.add_parser("eval", help="re-evaluate a finished training run")
    p.add_argument("task", help=f"the run's task ({', '.join(tasks.available())}, or a "
                                f"module's dotted path)")
    p.add_argument("--run-dir", required=True)
    p.set_defaults(run=run_eval)


def door(args: argparse.Namespace) -> int | None:
    """``--help``, and every option's type, range and choices, before TensorFlow."""
    try:
        if args.help:
            print(args.parser.format_help())
            print(tasks.help_text(args.task))
            return 0
    except ValueError as error:  # an unknown --task
        return common.fail(str(error))
    if not args.run_dir:
        return common.fail("--run-dir DIR is required: the folder the run writes.")
    overrides, problem = common.overrides(args.rest)
    if problem:
        return common.fail(problem)
    if args.resume and not overrides:
        return None
    try:
        tasks.door_config(args.task, overrides, smoke=args.smoke)
    except ValueError as error:
        return common.fail(str(error))
    return None


def run(args: argparse.Namespace) -> int:
    """Trains a task's model; see fastfeed/train.py."""
    from fastfeed import train

    overrides, _ = common.overrides(args.rest)
    if args.resume and not overrides and os.path.isfile(
            os.path.join(args.run_dir, "config.json")):
        config = train.load_config(args.run_dir)
    else:
        try:
            config = train.make_config(args.task, overrides, smoke=args.smoke)
        except ValueError as error:
            return common.fail(str(error))
    logging.getLogger("fastfeed").setLevel(logging.INFO)  # data, devices, per-unit results
    print(f"config ({os.path.join(args.run_dir, 'config.json')}):")
    print(json.dumps(dataclasses.asdict(config), indent=2))
    start = time.perf_counter()
    try:
        metrics = train.run(config, args.run_dir, resume=args.resume,
                            overwrite=args.overwrite, report=common.TrainingProgress())
    except (ValueError, FileNotFoundError, MemoryError, TimeoutError,
            ModuleNotFoundError) as error:  # ModuleNotFoundError: an extra to install
        return common.fail(str(error))
    except train.Interrupted as stopped:
        return common.fail(f"interrupted: {stopped}", status=130)
    print(f"\ndone in {(time.perf_counter() - start) / 60:.1f} min; "
          f"{os.path.join(args.run_dir, 'metrics.json')}:")
    common.print_metrics(metrics)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Re-evaluates a finished run from its saved models."""
    from fastfeed import train

    logging.getLogger("fastfeed").setLevel(logging.INFO)
    try:
        config = train.load_config(args.run_dir)
        if config.task != args.task:
            return common.fail(f"{args.run_dir} is a {config.task!r} run, not "
                               f"{args.task!r}.")
        metrics = train.evaluate_run(args.run_dir)
    except (ValueError, FileNotFoundError) as error:
        return common.fail(str(error))
    print(f"{os.path.join(args.run_dir, 'eval_metrics.json')}:")
    common.print_metrics(metrics)
    return 0
