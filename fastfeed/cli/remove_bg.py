"""`fastfeed remove-bg`: the object of each photo cut out (RGBA PNG, mask, or on a
colour).

Writes each photo's object as an RGBA PNG at the photo's full resolution (or its mask,
or the object on a solid colour). Folders are searched recursively and their relative
paths kept under --out; existing outputs are skipped unless --overwrite. '-' reads one
photo from stdin and writes the PNG to stdout. Exit status 1 when any input failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image

from fastfeed import background, files, images
from fastfeed.background import plates
from fastfeed.cli import common


def add_parser(commands) -> None:
    p = commands.add_parser(
        "remove-bg", help="cut the object out of photos (RGBA PNG, mask, or on a colour)",
        description=__doc__)
    p.add_argument("inputs", nargs="+", help="photos, folders, or - for stdin")
    p.add_argument("-o", "--out", default="cutouts",
                   help="output folder (default: cutouts), or a .png path for one photo")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--mask", action="store_true", help="write the mask alone (gray PNG)")
    what.add_argument("--bg-color", type=common.colour, metavar="R,G,B",
                      help="the object on this solid colour (RGB PNG)")
    what.add_argument("--plate", action="store_true",
                      help="the largest part of the photo without the object (RGB PNG; "
                           "none when the object leaves too little): backgrounds for "
                           "`fastfeed train --task composites --backgrounds`")
    p.add_argument("--model", help="model.keras (or run folder) from `fastfeed train "
                                    "--task composites`; default: the shipped model")
    common.add_map_options(p)
    p.add_argument("--max-pixels", type=common.Ranged(int, 1), default=images.MAX_PIXELS,
                   help="refuse larger photos (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="redo existing outputs")
    p.add_argument("--watch", action="store_true",
                   help="keep watching the one input folder and cut out each new photo "
                        "as it arrives (once its size stops changing), until Ctrl-C or "
                        "SIGTERM")
    p.set_defaults(run=run)


def _destination(out: str, folder: str, path: str) -> str:
    """Where the cut-out of ``path``, found in ``folder``, goes: its relative path kept
    under ``out``, as a PNG."""
    return os.path.join(out, os.path.splitext(os.path.relpath(path, folder))[0] + ".png")


def _write_png(image, destination: str) -> None:
    os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    with files.written_whole(destination) as temporary:
        image.save(temporary, format="PNG")


def _remove_bg_jobs(inputs: list[str], out: str
                    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(source, destination)`` for every image named or found (recursively) in a
    folder, keeping relative paths under ``out``; and ``(input, why)`` for the inputs
    that give none."""
    jobs, failed = [], []
    single = len(inputs) == 1 and os.path.isfile(inputs[0])
    if single and out.lower().endswith(".png"):
        return [(inputs[0], out)], []
    for item in inputs:
        if os.path.isdir(item):
            try:
                found = images.image_paths(item)
            except images.ImageError as error:
                failed.append((item, str(error)))
                continue
            jobs += [(path, _destination(out, item, path)) for path in found]
        elif os.path.isfile(item):
            stem = os.path.splitext(os.path.basename(item))[0]
            jobs.append((item, os.path.join(out, stem + ".png")))
        else:
            failed.append((item, "no such file or folder"))
    return jobs, failed


def _output_problem(inputs: list[str], out: str, jobs: list[tuple[str, str]]) -> str:
    """Why ``out`` would write over or into what is read ("" when it would not)."""
    for item in inputs:
        if os.path.isdir(item) and files.is_within(out, item):
            beside = os.path.join(os.path.dirname(os.path.abspath(item)),
                                  os.path.basename(os.path.abspath(item)) + "_cutouts")
            return (f"--out {out} is inside the input folder {item}: the cut-outs would be "
                    f"read as photos by the next run. Choose an --out outside it, e.g. "
                    f"--out {beside}.")
    for source, destination in jobs:
        if os.path.realpath(source) == os.path.realpath(destination):
            return (f"the cut-out of {source} would replace the photo itself; choose "
                    f"another --out.")
    return ""


def _unwritable(folder: str) -> str:
    """Why nothing can be written in ``folder`` ("" when it can: made if missing)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        return f"--out: cannot make {folder} ({error.strerror}); choose another --out."
    if not os.access(folder, os.W_OK):
        return f"--out: {folder} is not writable; choose another --out."
    return ""


def run(args: argparse.Namespace) -> int:
    """Cuts the object out of photos with a background-removal model."""
    import io

    stdin = args.inputs == ["-"]
    if "-" in args.inputs and not stdin:
        return common.fail("'-' (stdin to stdout) cannot be mixed with files.")
    problem = common.map_options_problem(args)
    if problem:
        return common.fail(problem)
    if args.watch and (stdin or len(args.inputs) != 1 or not os.path.isdir(args.inputs[0])
                       or args.out.lower().endswith(".png")):
        return common.fail("--watch needs one input folder and an --out folder: "
                           "fastfeed remove-bg --watch DIR --out OUT.")
    jobs, failed = ([], []) if stdin else _remove_bg_jobs(args.inputs, args.out)
    if args.watch:
        jobs, failed = [], []  # the watch cuts out what is there too
    if (len(jobs) > 1 and args.out.lower().endswith(".png")
            and not os.path.isdir(args.out)):
        return common.fail(f"--out {args.out}: {len(jobs)} photos need a folder, not one "
                           f".png file; give a folder (e.g. --out cutouts).")
    problem = _output_problem(args.inputs, args.out, jobs) or ("" if stdin else (
        files.write_conflict({"input": args.inputs, "--model": [
            args.model or background.DEFAULT_MODEL]}, {"--out": args.out}))) or (
        "" if stdin or not jobs else _unwritable(os.path.dirname(jobs[0][1]) or ".")) or (
        _unwritable(args.out) if args.watch else "")
    if problem:  # refused before the model loads or anything is written
        return common.fail(problem)
    output = "mask" if args.mask else "color" if args.bg_color else "rgba"
    if args.plate and stdin:
        return common.fail("--plate writes plates of photos in files or folders, not of "
                           "stdin.")
    try:
        model = background.load_model(args.model)
    except (FileNotFoundError, ValueError, OSError) as error:
        return common.fail(str(error))

    empty = []  # photos in which nothing reached 0.5: told, not failed
    crowded = []  # --plate: photos with no plate: told, not failed

    def cut(source, name):
        """The output image, or None for a photo with no --plate."""
        rgb, own = images.read_rgb_alpha(source, args.max_pixels)
        alpha = background.keep_transparency(
            background.predict(model, rgb, args.size, args.refinement, args.scales), own)
        if args.plate:
            found = plates.plate(rgb, alpha)
            if found is None:
                crowded.append(name)
                return None
            return Image.fromarray(np.ascontiguousarray(found), "RGB")
        if not (alpha >= 0.5).any():
            empty.append(name)
        return background.cutout(rgb, alpha, output, args.bg_color or (255, 255, 255))

    def tell_empty():
        if empty:
            print(f"no object found in {_photos(empty)} (the cut-out is empty): "
                  f"{_names(empty)}; the model sees none there, an adapted one "
                  f"(`fastfeed adapt`) may.", file=sys.stderr)
        if crowded:
            print(f"no plate in {_photos(crowded)} (the object leaves no part "
                  f"{plates.MIN_SIDE:.0%} of the shorter side across free): "
                  f"{_names(crowded)}", file=sys.stderr)

    if args.watch:
        return _watch(args.inputs[0], args.out, args.overwrite, cut)
    if stdin:
        try:
            image = cut(sys.stdin.buffer.read(), "stdin")
        except images.ImageError as error:
            return common.fail(f"stdin: {error}", status=1)
        tell_empty()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return 0
    claimed = {}  # photo.jpg and photo.png of one folder would both write photo.png
    for source, destination in jobs:
        if destination in claimed:
            failed.append((source, f"its output {destination} is also {claimed[destination]}'s; "
                                   f"rename one of them"))
        claimed.setdefault(destination, source)
    jobs = [(s, d) for s, d in jobs if claimed[d] == s]
    written = skipped = 0
    started = time.perf_counter()
    bar = common.Bar("remove-bg") if len(jobs) > 1 else None
    for done, (source, destination) in enumerate(jobs, 1):
        if os.path.exists(destination) and not args.overwrite:
            skipped += 1
        else:
            try:
                image = cut(source, source)
                if image is not None:
                    _write_png(image, destination)
                    written += 1
            except (images.ImageError, OSError, MemoryError) as error:
                failed.append((source, str(error)))
        if bar:
            bar(done, len(jobs))
    for source, reason in failed:
        print(f"failed: {source}: {reason}", file=sys.stderr)
    tell_empty()
    where = args.out if not (len(jobs) == 1 and jobs[0][1] == args.out) else jobs[0][1]
    print(f"{written} written to {where}, {skipped} skipped (output exists; --overwrite "
          f"to redo), {len(failed)} failed, in {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


def _photos(names: list[str]) -> str:
    return f"{len(names)} photo{'s' if len(names) > 1 else ''}"


def _names(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` names, and how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _watch(folder: str, out: str, overwrite: bool, cut, period: float = 0.5) -> int:
    """Cuts out each photo of ``folder`` (recursively) whose size and time stayed the
    same over one ``period``, now and as new ones arrive, into ``out`` (named as a
    folder run names them; written whole); never reads ``out``. A photo that cannot be
    read yet (still being written) is tried again when it changes. Ends on Ctrl-C or
    SIGTERM with a summary; exit status 0."""
    import signal
    import threading

    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seen, tried, mine, failed = {}, {}, set(), {}
    written = 0
    print(f"watching {folder} for photos (Ctrl-C stops); cut-outs go to {out}", flush=True)
    try:
        while not stop.is_set():
            try:
                found = images.image_paths(folder)
            except images.ImageError:
                found = []  # empty for now
            for path in found:
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                state = (info.st_size, info.st_mtime_ns)
                if tried.get(path) == state:
                    continue
                if seen.get(path) != state or not info.st_size:  # still changing
                    seen[path] = state
                    continue
                tried[path] = state
                destination = _destination(out, folder, path)
                if os.path.exists(destination) and not overwrite and destination not in mine:
                    continue  # a cut-out made before this watch: kept
                try:
                    image = cut(path, path)
                    if image is not None:
                        _write_png(image, destination)
                except (images.ImageError, OSError, MemoryError) as error:
                    failed[path] = str(error)  # tried again if the file changes
                    print(f"not yet: {path}: {error} (tried again when it changes)",
                          file=sys.stderr, flush=True)
                    continue
                failed.pop(path, None)
                if image is None:
                    print(f"{path}: no plate", flush=True)
                    continue
                mine.add(destination)
                written += 1
                print(f"{path} -> {destination}", flush=True)
            stop.wait(period)
    except KeyboardInterrupt:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    for path, reason in failed.items():
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(f"stopped watching: {written} written to {out}, {len(failed)} failed", flush=True)
    return 0
