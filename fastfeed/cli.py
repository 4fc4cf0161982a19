"""The `fastfeed` command.

    fastfeed build lfw_pairs --config deepfunneled --manual-dir ../shared/data/lfw
    fastfeed build product_composites --config procedural
    fastfeed preview composites --out grid.png
    fastfeed preview lfw_pairs --out pairs.png
    fastfeed bench pairs
    fastfeed train --task lfw --protocol view1 --lfw ../shared/data/lfw --run-dir runs/v1
    fastfeed eval lfw --run-dir runs/v1
    fastfeed remove-bg photos/ --out cutouts/
    fastfeed eval-bg ../shared/data/real_dev --baseline grabcut
    fastfeed serve-data dispatcher --port 5050
    fastfeed serve-data worker --dispatcher HOST:5050
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from fastfeed import lfw  # the package's __init__ has set the environment defaults

BUILDABLE = ("lfw_pairs", "product_composites")
# The first config of each is its default.
CONFIGS = {"lfw_pairs": (lfw.DEFAULT_CONFIG, *sorted(set(lfw.CONFIGS) - {lfw.DEFAULT_CONFIG})),
           "product_composites": ("procedural", "folders")}


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


def _folder_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)


def _builder(args: argparse.Namespace):
    """The TFDS builder the arguments name, or an error message."""
    import tensorflow_datasets as tfds  # this module's package has registered the builders

    config = args.config or CONFIGS[args.dataset][0]
    if config not in CONFIGS[args.dataset]:
        return None, (f"--config {config!r} is not a config of {args.dataset}; use one "
                      f"of {', '.join(CONFIGS[args.dataset])}.")
    sizes = {k: getattr(args, k) for k in ("image_size", "validation_size", "test_size")
             if getattr(args, k) is not None}
    if args.dataset != "product_composites":
        if sizes:
            return None, "--image-size/--validation-size/--test-size are for product_composites."
        return tfds.builder(f"{args.dataset}/{config}", data_dir=args.data_dir), None
    from fastfeed.tfds_builders.product_composites import product_composites_dataset_builder as pc
    try:
        builder_config = pc.Builder.config_for(config, **sizes)
    except ValueError as error:
        return None, str(error)
    return tfds.builder(args.dataset, config=builder_config, data_dir=args.data_dir), None


def build(args: argparse.Namespace) -> int:
    import tensorflow_datasets as tfds

    manual_dir = os.path.abspath(args.manual_dir) if args.manual_dir else None
    if manual_dir and not os.path.isdir(manual_dir):
        print(f"error: --manual-dir {args.manual_dir!r} is not a folder.", file=sys.stderr)
        return 2
    builder, problem = _builder(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
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
            print(f"error: {error}", file=sys.stderr)
            return 2
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


def preview(args: argparse.Namespace) -> int:
    """Writes a grid of composites or of LFW pairs to --out."""
    import numpy as np

    from fastfeed import preview as grids

    if args.what == "composites":
        from fastfeed.compose import composite, folders
        try:
            stream = composite.composite_stream(
                args.objects or composite.PROCEDURAL, args.backgrounds or composite.PROCEDURAL,
                image_size=args.image_size, batch_size=args.count, seed=args.seed,
                augment=args.augment)
        except (folders.AssetError, ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        batch = next(iter(stream))
        grid = grids.composite_grid(batch, columns=args.columns)
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

        name = f"lfw_pairs/{args.config or lfw.DEFAULT_CONFIG}"
        builder = tfds.builder(name, data_dir=args.data_dir)
        if not builder.is_prepared():
            print(f"error: {name} is not built in {builder.data_dir}; run `fastfeed build "
                  f"lfw_pairs --config {name.split('/')[1]} --manual-dir DIR` first (or "
                  f"pass --data-dir).", file=sys.stderr)
            return 2
        dataset = builder.as_dataset(split=args.split).shuffle(
            1000, seed=args.seed).take(args.count)
        if args.augment:
            from fastfeed.compose import augment
            try:
                fn = augment.resolve(args.augment, seed=args.seed, mask_keys=(),
                                     image_keys=("image1", "image2"), independent=True)
            except (ValueError, FileNotFoundError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            dataset = dataset.enumerate().map(fn)
        grid = grids.pairs_grid(dataset.as_numpy_iterator(), columns=max(1, args.columns // 2))
    grids.write_png(args.out, np.asarray(grid))
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0


def _overrides(rest: list[str]) -> tuple[dict[str, str], str | None]:
    """``--key value`` / ``--key=value`` pairs as a dict, or an error message."""
    overrides, k = {}, 0
    while k < len(rest):
        item = rest[k]
        if not item.startswith("--") or item == "--":
            return {}, f"expected --key value, got {item!r}"
        if "=" in item:
            key, value = item[2:].split("=", 1)
            k += 1
        elif k + 1 < len(rest):
            key, value = item[2:], rest[k + 1]
            k += 2
        else:
            return {}, f"{item} needs a value"
        overrides[key] = value
    return overrides, None


def _bar(done: int, total: int) -> str:
    """``[#####.....] done/total``, 30 characters wide."""
    filled = int(30 * done / max(total, 1))
    return f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"


class _Progress:
    """One line per unit, redrawn: a bar, the step, loss and the task's metrics,
    steps/s, examples/s."""

    SHOWN_APART = ("learning_rate", "steps_per_s", "examples_per_s")

    def __init__(self):
        self.unit = None

    def __call__(self, unit: str, step: int, steps: int, logs: dict, validation: dict
                 ) -> None:
        if unit != self.unit and self.unit is not None:
            print(file=sys.stderr)
        self.unit = unit
        eta = (steps - step) / max(logs.get("steps_per_s", 0), 1e-9)
        metrics = " ".join(f"{key} {value:.4f}" for key, value in
                           {**logs, **validation}.items() if key not in self.SHOWN_APART)
        line = (f"\r{unit} {_bar(step, steps)} {metrics} "
                f"lr {logs['learning_rate']:.2e} {logs['steps_per_s']:.2f} steps/s "
                f"{logs['examples_per_s']:.0f} ex/s eta {eta / 60:.1f} min")
        # A line with evaluation figures stays; the others are redrawn.
        keep = step == steps or bool(validation)
        print(line, end="\n" if keep else "", file=sys.stderr, flush=True)
        if step == steps:
            self.unit = None


def _print_metrics(metrics: dict) -> None:
    for key, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list):
            value = ", ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in value)
        print(f"  {key}: {value}")


def train(args: argparse.Namespace) -> int:
    """Trains a task's model; see fastfeed/train.py."""
    import dataclasses
    import json

    from fastfeed import train as training

    overrides, problem = _overrides(args.rest)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.resume and not overrides and os.path.isfile(
            os.path.join(args.run_dir, "config.json")):
        config = training.load_config(args.run_dir)
    else:
        try:
            config = training.make_config(args.task, overrides, smoke=args.smoke)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    logging.getLogger("fastfeed").setLevel(logging.INFO)  # data, devices, per-unit results
    print(f"config ({os.path.join(args.run_dir, 'config.json')}):")
    print(json.dumps(dataclasses.asdict(config), indent=2))
    start = time.perf_counter()
    try:
        metrics = training.run(config, args.run_dir, resume=args.resume, report=_Progress())
    except (ValueError, FileNotFoundError, MemoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\ndone in {(time.perf_counter() - start) / 60:.1f} min; "
          f"{os.path.join(args.run_dir, 'metrics.json')}:")
    _print_metrics(metrics)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Re-evaluates a finished run from its saved models."""
    from fastfeed import train as training

    logging.getLogger("fastfeed").setLevel(logging.INFO)
    try:
        config = training.load_config(args.run_dir)
        if config.task != args.task:
            print(f"error: {args.run_dir} is a {config.task!r} run, not {args.task!r}.",
                  file=sys.stderr)
            return 2
        metrics = training.evaluate_run(args.run_dir)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{os.path.join(args.run_dir, 'eval_metrics.json')}:")
    _print_metrics(metrics)
    return 0


def adapt(args: argparse.Namespace) -> int:
    """Self-trains the shipped (or --base) model on a folder of unlabelled photos."""
    from fastfeed.background import adapt as adapting
    from fastfeed import background
    from fastfeed import train as training

    extra, problem = _overrides(args.rest)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    final = os.path.join(args.run_dir, "model.keras")
    if os.path.exists(final) and not args.overwrite:
        print(f"error: {final} exists (an earlier adaptation); pass --overwrite to redo "
              f"it, or choose another --run-dir.", file=sys.stderr)
        return 2
    if args.rounds < 1 or args.steps < 1:
        print(f"error: --rounds {args.rounds} and --steps {args.steps} must be at least 1.",
              file=sys.stderr)
        return 2
    logging.getLogger("fastfeed").setLevel(logging.INFO)
    try:
        # Every round's options (the photo folder included) checked before the first
        # photo is labelled.
        training.make_config("composites", adapting.round_overrides(
            args.photos, args.base or background.DEFAULT_MODEL, args.steps,
            args.learning_rate, adapting.DEFAULTS["warmup_steps"], extra))
        result = adapting.adapt(args.photos, args.run_dir, base=args.base,
                                rounds=args.rounds, steps=args.steps,
                                learning_rate=args.learning_rate, extra=extra,
                                report=_Progress())
    except (ValueError, FileNotFoundError, MemoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rounds = f"{args.rounds} round{'s' if args.rounds > 1 else ''}"
    print(f"\nadapted in {result['wall_s'] / 60:.1f} min ({rounds} of {args.steps} steps): "
          f"{result['model']}")
    for number, metrics in enumerate(result["rounds"], 1):
        print(f"  round {number}: {adapting.summary(metrics)}")
    print(f"use it: fastfeed remove-bg PHOTOS --model {result['model']}")
    return 0


class _Bar:
    """A progress line on stderr, redrawn at most five times a second; ends the line
    when done."""

    def __init__(self, label: str):
        self.label, self.started, self.drawn = label, time.perf_counter(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.drawn < 0.2:
            return
        self.drawn = now
        rate = done / max(now - self.started, 1e-9)
        print(f"\r{self.label} {_bar(done, total)} "
              f"{rate:.1f}/s", end="\n" if done == total else "", file=sys.stderr,
              flush=True)


def _colour(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: use R,G,B with 0-255 each, e.g. "
                                         f"255,255,255.")
    return values


def _remove_bg_jobs(inputs: list[str], out: str
                    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(source, destination)`` for every image named or found (recursively) in a
    folder, keeping relative paths under ``out``; and ``(input, why)`` for the inputs
    that give none."""
    from fastfeed import images

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
            for path in found:
                relative = os.path.relpath(path, item)
                jobs.append((path, os.path.join(out, os.path.splitext(relative)[0] + ".png")))
        elif os.path.isfile(item):
            stem = os.path.splitext(os.path.basename(item))[0]
            jobs.append((item, os.path.join(out, stem + ".png")))
        else:
            failed.append((item, "no such file or folder"))
    return jobs, failed


def remove_bg(args: argparse.Namespace) -> int:
    """Cuts the object out of photos with a background-removal model."""
    import io

    from fastfeed import background, images

    output = "mask" if args.mask else "color" if args.bg_color else "rgba"
    try:
        model = background.load_model(args.model)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def cut(source):
        rgb = images.read_rgb(source, args.max_pixels)
        alpha = background.predict(model, rgb, args.size, args.refinement)
        return background.cutout(rgb, alpha, output, args.bg_color or (255, 255, 255))

    if args.inputs == ["-"]:
        try:
            image = cut(sys.stdin.buffer.read())
        except images.ImageError as error:
            print(f"error: stdin: {error}", file=sys.stderr)
            return 1
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return 0
    if "-" in args.inputs:
        print("error: '-' (stdin to stdout) cannot be mixed with files.", file=sys.stderr)
        return 2
    jobs, failed = _remove_bg_jobs(args.inputs, args.out)
    claimed = {}  # photo.jpg and photo.png of one folder would both write photo.png
    for source, destination in jobs:
        if destination in claimed:
            failed.append((source, f"its output {destination} is also {claimed[destination]}'s; "
                                   f"rename one of them"))
        claimed.setdefault(destination, source)
    jobs = [(s, d) for s, d in jobs if claimed[d] == s]
    written = skipped = 0
    started = time.perf_counter()
    bar = _Bar("remove-bg") if len(jobs) > 1 else None
    for done, (source, destination) in enumerate(jobs, 1):
        if os.path.exists(destination) and not args.overwrite:
            skipped += 1
        else:
            try:
                image = cut(source)
                os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
                image.save(destination + ".part", format="PNG")
                os.replace(destination + ".part", destination)
                written += 1
            except (images.ImageError, OSError, MemoryError) as error:
                failed.append((source, str(error)))
        if bar:
            bar(done, len(jobs))
    for source, reason in failed:
        print(f"failed: {source}: {reason}", file=sys.stderr)
    where = args.out if not (len(jobs) == 1 and jobs[0][1] == args.out) else jobs[0][1]
    print(f"{written} written to {where}, {skipped} skipped (output exists; --overwrite "
          f"to redo), {len(failed)} failed, in {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


def _difference(d: dict) -> str:
    """``iou +0.0546 +- 0.0184 SE (3.0 SE), better on 66, worse on 31, tied 3``."""
    error = d["standard_error"]
    spread = (f" +- {error:.4f} SE ({d['mean'] / error:+.1f} SE)"
              if error > 0 else "")  # nan with one photo, 0 when all are equal
    return (f"{d['metric']} {d['mean']:+.4f}{spread}, better on {d['better']}, worse on "
            f"{d['worse']}, tied {d['tied']}")


def eval_bg(args: argparse.Namespace) -> int:
    """IoU, MAE, max F (and the SOD field's S, E and weighted F) of one or more models
    (and GrabCut) on real photos with masks, with per-photo differences."""
    import csv
    import functools

    from fastfeed import background, images

    models = args.model or [None]
    try:
        pairs = background.metrics.mask_pairs(args.directory, args.limit)
        methods, labels = {}, {}
        if not args.baseline_only:
            for number, path in enumerate(models, 1):
                name = "model" if len(models) == 1 else f"model{number}"
                methods[name] = functools.partial(
                    background.predict, background.load_model(path), size=args.size,
                    refinement=args.refinement)
                labels[name] = (f"{name} ({path or 'shipped default'}, {args.size} px, "
                                f"{args.refinement} refinement)")
        if args.baseline == "grabcut":
            methods["grabcut"] = background.refine.grabcut
            labels["grabcut"] = "grabcut (rect 5% inside, 5 iterations, 320 px)"
        scores = background.metrics.evaluate_pairs(pairs, methods, _Bar("eval-bg"))
    except (images.ImageError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = {}
    for name, score in scores.items():
        for row in score.rows():
            rows.setdefault(row["image"], {"image": row["image"]}).update(
                {f"{name}_{k}": v for k, v in row.items() if k != "image"})
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(next(iter(rows.values()))))
        writer.writeheader()
        writer.writerows(rows.values())
    print(f"{len(pairs)} photos of {args.directory} (per image: {args.csv})")
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
            for metric in ("iou",) + tuple(k for k in background.metrics.SOD_MEASURES if k in summary):
                print(f"    vs {reference}, per photo: "
                      f"{_difference(background.metrics.paired_difference(score, scores[reference], metric))}")
    if background.metrics.sod_metrics() is None:
        print("  (S-measure, E-measure and weighted F need pysodmetrics: pip install "
              "'fastfeed[metrics]')")
    return 0


BENCHMARKS = ("pairs", "composites", "augment", "train", "service")


def bench(args: argparse.Namespace) -> int:
    """Runs benchmarks/<name>.py from the source checkout this fastfeed comes from."""
    import importlib

    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isdir(os.path.join(checkout, "benchmarks")):
        print(f"error: benchmarks/ not found beside {checkout}; `fastfeed bench` needs a "
              f"source checkout (pip install -e .).", file=sys.stderr)
        return 2
    sys.path.insert(0, checkout)
    module = importlib.import_module(f"benchmarks.{args.name}")
    return module.main(args.rest)


def serve_data(args: argparse.Namespace) -> int:
    """Starts a tf.data service dispatcher or worker and serves until stopped."""
    import signal
    import socket
    import threading

    from fastfeed.compose import service

    if args.role == "worker" and not args.dispatcher:
        print("error: a worker needs --dispatcher HOST:PORT (the address `fastfeed "
              "serve-data dispatcher` printed).", file=sys.stderr)
        return 2
    try:
        if args.role == "dispatcher":
            server = service.dispatcher(args.port, args.work_dir)
            port = server.target.rsplit(":", 1)[1]
            where = (f"dispatcher on port {port}; start workers with: fastfeed "
                     f"serve-data worker --dispatcher {args.host or socket.gethostname()}"
                     f":{port}")
        else:
            server = service.worker(args.dispatcher, args.port, args.host)
            where = f"worker {server._address}, registered with {args.dispatcher}"
    except (ValueError, RuntimeError) as error:  # bad address, port taken
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"tf.data service {where} (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server._stop()
    print(f"stopped the {args.role}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="fastfeed", description="Fast tf.data input pipelines and datasets.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "build", help="build a fastfeed TFDS dataset, then check every split",
        description="Builds a dataset (download, or offline from --manual-dir), reports "
                    "its time and size, decodes every image and compares each split with "
                    "its protocol file.")
    p.add_argument("dataset", choices=BUILDABLE)
    p.add_argument("--config", help="; ".join(
        f"{name}: {' or '.join(configs)} (the first is the default)"
        for name, configs in CONFIGS.items()))
    p.add_argument("--manual-dir", help="lfw_pairs: folder with the archive (or extracted "
                                        "folder) and the pairs files, default: download; "
                                        "product_composites/folders: folder with objects/ "
                                        "and backgrounds/")
    p.add_argument("--image-size", type=int, help="product_composites: side (256)")
    p.add_argument("--validation-size", type=int, help="product_composites: examples (500)")
    p.add_argument("--test-size", type=int, help="product_composites: examples (500)")
    p.add_argument("--data-dir", help="TFDS data dir (default: ~/tensorflow_datasets)")
    p.add_argument("--no-check", action="store_true", help="skip the check after building")
    p.set_defaults(run=build)

    p = commands.add_parser(
        "preview", help="write a PNG grid of composites (with mask outlines) or LFW pairs")
    p.add_argument("what", choices=("composites", "lfw_pairs"))
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--objects", help="composites: folder of RGBA cut-outs (default: "
                                     "built-in procedural objects)")
    p.add_argument("--backgrounds", help="composites: folder of background photos "
                                         "(default: procedural textures)")
    p.add_argument("--image-size", type=int, default=256, help="composites: side")
    p.add_argument("--count", type=int, default=16, help="examples or pairs to show")
    p.add_argument("--columns", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", help=f"lfw_pairs: {' or '.join(CONFIGS['lfw_pairs'])} "
                                    f"(the first is the default)")
    p.add_argument("--split", default="test", help="lfw_pairs: split to show")
    p.add_argument("--augment", help="augmentation to show: a spec of native ops, e.g. "
                                     "'flip_lr|rotate(10)|hue(0.05)', or an "
                                     "albumentations JSON/YAML file")
    p.add_argument("--data-dir", help="lfw_pairs: TFDS data dir of the built dataset")
    p.add_argument("--examples-dir", help="composites: also write each example as "
                                          "DIR/images/NNNN.png and DIR/masks/NNNN.png "
                                          "(a folder `fastfeed eval-bg` reads)")
    p.set_defaults(run=preview)

    p = commands.add_parser(
        "bench", help="run a benchmark from benchmarks/ (see `fastfeed bench NAME -h`)")
    p.add_argument("name", choices=BENCHMARKS)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own options")
    p.set_defaults(run=bench)

    from fastfeed import tasks

    p = commands.add_parser(
        "train", help="train a task's reference model (see fastfeed/train.py)",
        description="Trains and evaluates a task's model. Every field of the task's "
                    "config can be set with --key value (e.g. --steps 2000 --model "
                    "diff_cnn); unknown keys are refused with the list of known ones. "
                    "The resolved config is printed and saved in --run-dir.")
    p.add_argument("--task", default="lfw", help=f"{', '.join(tasks.available())}, or a "
                   f"task module's dotted path (default: %(default)s)")
    p.add_argument("--run-dir", required=True, help="folder for config.json, checkpoints, "
                                                    "TensorBoard, model.keras, metrics.json")
    p.add_argument("--smoke", action="store_true", help="a tiny run that takes seconds")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --run-dir")
    p.set_defaults(run=train, overrides=True)

    p = commands.add_parser(
        "serve-data", help="run a tf.data service dispatcher or worker (see README, "
                           "Scaling out)",
        description="Starts TensorFlow's tf.data service server and serves until "
                    "Ctrl-C or SIGTERM. One dispatcher per cluster; a worker on each "
                    "host that preprocesses; trainers pass --data-service HOST:PORT.")
    p.add_argument("role", choices=("dispatcher", "worker"))
    p.add_argument("--port", type=int, default=0,
                   help="port to listen on (default: a free one, printed)")
    p.add_argument("--work-dir", help="dispatcher: journal its state here to survive a "
                                      "restart (fault-tolerant mode)")
    p.add_argument("--dispatcher", help="worker: the dispatcher's HOST:PORT")
    p.add_argument("--host", help="the name other hosts reach this server by (default: "
                                  "this machine's host name)")
    p.set_defaults(run=serve_data)

    p = commands.add_parser(
        "adapt", help="adapt the background remover to your own photos (no masks needed)",
        description="Self-training: the shipped model (or --base) labels your photos "
                    "(GrabCut seeded by its map, each pixel weighted by whether plain "
                    "GrabCut agrees), then learns from them mixed with generated "
                    "composites; the next round's labels come from the adapted model. "
                    "Writes RUN_DIR/model.keras for `fastfeed remove-bg --model`. Any "
                    "option of `fastfeed train --task composites` can follow (e.g. "
                    "--objects DIR --backgrounds DIR for your own cut-outs and "
                    "backgrounds, --eval-real DIR to measure on photos with masks).")
    p.add_argument("photos", metavar="PHOTOS", help="folder of your photos (recursive)")
    p.add_argument("--run-dir", required=True, help="folder for the rounds and model.keras")
    p.add_argument("--base", help="model.keras to start from (default: the shipped model)")
    p.add_argument("--rounds", type=int, default=2, help="labelling rounds (%(default)s)")
    p.add_argument("--steps", type=int, default=1200, help="training steps per round "
                                                          "(%(default)s)")
    p.add_argument("--learning-rate", type=float, default=3e-4, help="(%(default)s)")
    p.add_argument("--overwrite", action="store_true", help="redo an earlier adaptation")
    p.set_defaults(run=adapt, overrides=True)

    p = commands.add_parser("eval", help="re-evaluate a finished training run")
    p.add_argument("task", help=f"the run's task ({', '.join(tasks.available())}, or a "
                                f"module's dotted path)")
    p.add_argument("--run-dir", required=True)
    p.set_defaults(run=evaluate)

    from fastfeed import background, images

    p = commands.add_parser(
        "remove-bg", help="cut the object out of photos (RGBA PNG, mask, or on a colour)",
        description="Writes each photo's object as an RGBA PNG at the photo's full "
                    "resolution (or its mask, or the object on a solid colour). Folders "
                    "are searched recursively and their relative paths kept under --out; "
                    "existing outputs are skipped unless --overwrite. '-' reads one "
                    "photo from stdin and writes the PNG to stdout. Exit status 1 when "
                    "any input failed.")
    p.add_argument("inputs", nargs="+", help="photos, folders, or - for stdin")
    p.add_argument("-o", "--out", default="cutouts",
                   help="output folder (default: cutouts), or a .png path for one photo")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--mask", action="store_true", help="write the mask alone (gray PNG)")
    what.add_argument("--bg-color", type=_colour, metavar="R,G,B",
                      help="the object on this solid colour (RGB PNG)")
    p.add_argument("--model", help="model.keras (or run folder) from `fastfeed train "
                                    "--task composites`; default: the shipped model")
    p.add_argument("--size", type=int, default=background.DEFAULT_SIZE,
                   help="the model sees the photo at this many px on its longer side")
    p.add_argument("--refinement", choices=background.REFINEMENTS,
                   default=background.DEFAULT_REFINEMENT,
                   help="how the model's map reaches full resolution: GrabCut seeded by "
                        "the model, then the guided filter (default); the guided filter "
                        "alone; or bilinear only")
    p.add_argument("--max-pixels", type=int, default=images.MAX_PIXELS,
                   help="refuse larger photos (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="redo existing outputs")
    p.set_defaults(run=remove_bg)

    p = commands.add_parser(
        "eval-bg", help="measure background removal on real photos with masks",
        description="IoU, MAE and max F-measure (beta^2 = 0.3) of a model over "
                    "DIR/images with DIR/masks (same stems), at full resolution, with a "
                    "per-image CSV; --baseline grabcut runs OpenCV's GrabCut beside it, "
                    "and every model is compared with it (else with the first --model) "
                    "photo by photo: the mean difference, its standard error, and the "
                    "photos better and worse. With pysodmetrics installed (the metrics "
                    "extra), also S-measure, mean E-measure and weighted F.")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--model", action="append",
                   help="model.keras or run folder (default: shipped model); give it "
                        "twice to compare two models photo by photo")
    p.add_argument("--baseline", choices=("grabcut",), help="model-free baseline")
    p.add_argument("--baseline-only", action="store_true", help="only the baseline")
    p.add_argument("--size", type=int, default=background.DEFAULT_SIZE)
    p.add_argument("--refinement", choices=background.REFINEMENTS,
                   default=background.DEFAULT_REFINEMENT, help="see remove-bg -h")
    p.add_argument("--limit", type=int, default=0, help="first N photos (0: all)")
    p.add_argument("--csv", default="eval-bg.csv", help="per-image scores (default: "
                                                        "%(default)s)")
    p.set_defaults(run=eval_bg)

    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest if getattr(args, "overrides", False) else getattr(args, "rest", [])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _import_tensorflow_quietly()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
