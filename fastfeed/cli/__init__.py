"""The `fastfeed` command: one module per command; this one only wires argparse.

    fastfeed build DATASET --config CONFIG [--manual-dir DIR]   # any tfds_builders folder
    fastfeed preview composites --out grid.png
    fastfeed bench pairs
    fastfeed train --task lfw --protocol view1 --lfw $FASTFEED_DATA/lfw --run-dir runs/v1
    fastfeed eval lfw --run-dir runs/v1
    fastfeed adapt shop_photos/ --run-dir runs/shop
    fastfeed remove-bg photos/ --out cutouts/
    fastfeed eval-bg $FASTFEED_DATA/real_dev --baseline grabcut
    fastfeed serve-data dispatcher --port 5050

A command module has ``add_parser(commands)``, which adds its sub-parser and sets
``run`` (a function of the parsed arguments returning the exit status); a command that
takes a task's ``--key value`` options also sets ``overrides=True``, and one that can
check its arguments without TensorFlow sets ``door`` (a function of the parsed
arguments returning an exit status to stop with, or None to go on), which runs before
TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys

# The command's own settings, before anything imports TensorFlow or albumentations:
# TensorFlow's C++ start-up logging quiet, albumentations' update check off (a user's
# own values win). The library itself sets nothing of its host program's.
for _name, _value in {"TF_CPP_MIN_LOG_LEVEL": "2", "NO_ALBUMENTATIONS_UPDATE": "1"}.items():
    os.environ.setdefault(_name, _value)

from fastfeed.cli import (adapt, bench, build, eval_bg, preview, remove_bg, serve,  # noqa: E402
                          serve_bg, train)

COMMANDS = (build.add_parser, preview.add_parser, bench.add_parser, train.add_parser,
            serve.add_parser, adapt.add_parser, train.add_eval_parser,
            remove_bg.add_parser, eval_bg.add_parser, serve_bg.add_parser)


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="fastfeed", description="Fast tf.data input pipelines and datasets. Exit "
        "status: 0 done, 1 some inputs failed, 2 bad arguments or input, 130 Ctrl-C.")
    parser.add_argument("--debug", action="store_true",
                        help="show Python's traceback on Ctrl-C too")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_parser in COMMANDS:
        add_parser(commands)
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest if getattr(args, "overrides", False) else getattr(args, "rest", [])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        status = args.door(args) if getattr(args, "door", None) else None
        if status is not None:
            return status
        _import_tensorflow_quietly()
        return args.run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("\ninterrupted (Ctrl-C); files written so far are whole", file=sys.stderr)
        return 130
    except OSError as error:  # stdout closed or full, a disk that fills up...
        if args.debug:
            raise
        if isinstance(error, BrokenPipeError) or error.errno == errno.EPIPE:
            _quiet_stdout()  # the reader left (| head): nothing more to say
            return 1
        where = f" ({error.filename})" if error.filename else ""
        if not error.filename and error.errno in (errno.ENOSPC, errno.EBADF, errno.EIO):
            where = " (writing the output)"
            _quiet_stdout()  # most likely stdout itself: /dev/full, a closed descriptor
        print(f"error: {error.strerror or error}{where}; files written so far are whole.",
              file=sys.stderr)
        return 1


def _quiet_stdout() -> None:
    """Points stdout at /dev/null, so that Python's flush at exit cannot fail again on
    a closed or full stdout (and print a traceback of its own)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
