"""Background removal trained on generated composites (`fastfeed train --task composites`).

The model learns the object mask of :func:`fastfeed.compose.composites.composite_stream`
examples: cut-outs from one or more sources (weighted) pasted on backgrounds, with the
scene recipe's layered backgrounds and defocus (distractors, an option, are off), and
whole-image noise, JPEG and colour augmentation. It is measured on the
``product_composites`` test split of the same assets (the split's examples: seed 2002,
the plain recipe) and, with ``--eval-real DIR``, on real photos with masks
(``DIR/images``, ``DIR/masks``), which it never trains on.

    fastfeed train --task composites --run-dir runs/bg --steps 12000 \\
        --objects $FASTFEED_DATA/products/objects:1,$FASTFEED_DATA/products/photo_objects:2 \\
        --backgrounds $FASTFEED_DATA/products/backgrounds \\
        --eval-real $FASTFEED_DATA/real_dev
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import ClassVar

import numpy as np

from fastfeed import background, files, images
from fastfeed.tasks import base, options
from fastfeed.tasks.options import option

logger = logging.getLogger(__name__)


# Image sizes: multiples of the models' stride (models.segmentation.STRIDE).
SIZE = {"low": 32, "high": 4096, "step": 32}


@dataclasses.dataclass(frozen=True)
class Config(base.Config):
    task: str = "composites"
    model: str = "unet_small"
    steps: int = 6000
    learning_rate: float = 3e-3
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    checkpoint_every: int = 500
    log_every: int = 100
    objects: str = option("procedural", "cut-outs: SOURCE[:WEIGHT],... (SOURCE: procedural "
                          "or a folder of RGBA images), each source drawn by its weight")
    backgrounds: str = option("procedural", "backgrounds: SOURCE[:WEIGHT],... as "
                              "--objects")
    image_size: int = option(128, "training composites (px)", **SIZE)
    batch_size: int = 16
    # The scene recipe (composites.SCENE_RECIPE); 0 turns a part off.
    scale_range: tuple[float, ...] = option((0.3, 0.95), "LOW,HIGH: the product's size "
                                            "over the frame's")
    distractors: int = option(0, "up to N other cut-outs behind the product (3 costs "
                              "real-photo IoU: docs/experiments.md)", low=0, high=20)
    layer_probability: float = option(0.5, "a second background across a soft line",
                                      low=0, high=1)
    defocus_probability: float = option(0.5, "everything behind the product blurred",
                                        low=0, high=1)
    augment: str = option("flip_lr|color_jitter(0.25, 0.25, 0.25)|hue(0.04)"
                          "|gaussian_noise((0.0, 6.0), p=0.5)|jpeg_quality(40, 95)",
                          "whole-example augmentation (registry spec)", names="augment")
    dice_weight: float = option(1.0, "loss: BCE + this times soft-IoU (dice) per image",
                                low=0)
    test_size: int = option(200, "product_composites test examples evaluated", low=1)
    eval_real: str = option("", "DIR with images/ and masks/ (same stems): real photos "
                            "measured, never trained on")
    eval_size: int = option(160, "real photos are seen at this many px (longer side)",
                            **SIZE)
    eval_limit: int = option(0, "at most this many real photos (0: all)", low=0)
    eval_refinement: str = option("default", "how real photos' maps are refined: default "
                                  "(remove-bg's, GrabCut seeded by the model), guided "
                                  "(the model alone), grabcut, matting (the default, "
                                  "then an alpha matte along the edge), none",
                                  choices=("default",) + background.REFINEMENTS)
    # Self-training on real photos without masks (docs/background.md, "Adapting to
    # your photos").
    unlabeled: str = option("", "DIR[:WEIGHT],... of photos without masks; labelled by "
                            "the teacher, they fill WEIGHT / (1 + WEIGHT) of each batch "
                            "(composites weigh 1)")
    teacher: str = option("", "model.keras that labels them ('': --init, else the "
                          "shipped one)")
    disagree_weight: float = option(0.3, "pixel weight where the teacher and GrabCut "
                                    "disagree", low=0, high=1)
    teacher_blend: bool = option(True, "the target: GrabCut averaged with the teacher's "
                                 "map (what remove-bg gives); false: GrabCut's mask alone")
    teacher_scales: tuple[float, ...] = option((1.0,), "the teacher's maps at these "
                                               "times --eval-size, averaged (0.8,1,1.2: "
                                               "remove-bg's default); 1 to 8 numbers in "
                                               "(0, 4]")
    label_size: int = option(256, "photos are labelled and cropped at this many px "
                             "(longer side)", low=32, high=8192)
    unlabeled_scale_range: tuple[float, ...] = option((0.55, 1.0), "LOW,HIGH: a photo "
                                                      "crop's side over its longer side")
    unlabeled_augment: str = option("", "the photos' augmentation ('': --augment)",
                                    names="augment")

    READS: ClassVar[tuple] = ("objects", "backgrounds", "eval_real", "unlabeled", "teacher")


def refinement_of(config: Config) -> str:
    """The refinement of the real photos' evaluation."""

    if config.eval_refinement == "default":
        return background.DEFAULT_REFINEMENT
    return config.eval_refinement


def _check_scale_range(key: str, low_high: tuple) -> None:
    if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
        raise base.ConfigError(f"--{key.replace('_', '-')} {low_high}: two numbers "
                               f"LOW,HIGH with 0 < LOW <= HIGH.")


def check(config: Config) -> None:
    from fastfeed.background import options as remover
    from fastfeed.compose import composites

    error = base.ConfigError
    options.check_model(config, "mask")
    for key in ("augment", "unlabeled_augment"):
        if getattr(config, key):
            options.check_augment(key, getattr(config, key), composites.EXAMPLE_DTYPES
                               if key == "augment" else None)
    if config.teacher and os.path.isfile(config.teacher):
        try:
            background.load_model(config.teacher)
        except ValueError as e:
            raise error(f"--teacher: {e}") from None
    for key in ("objects", "backgrounds"):
        try:
            mix = composites.parse_mix(getattr(config, key))
        except ValueError as e:
            raise error(f"--{key} {e}") from None
        for source in mix:
            if source != composites.PROCEDURAL and not os.path.isdir(source):
                raise error(f"--{key}: {source!r} is neither 'procedural' nor a folder.")
    _check_scale_range("scale_range", config.scale_range)
    try:
        remover.refinement(refinement_of(config))
    except ValueError as e:
        raise error(f"--eval-refinement {e}") from None
    if config.eval_real:
        try:
            background.metrics.labelled_photos(config.eval_real, 1)
        except images.ImageError as e:
            raise error(f"--eval-real: {e}") from None
    if config.unlabeled:
        try:
            for folder in composites.parse_mix(config.unlabeled):
                images.image_paths(folder)
        except (ValueError, images.ImageError) as e:
            raise error(f"--unlabeled {e}") from None
        if config.data_service:
            raise error("--unlabeled with --data-service: the photo crops are made "
                        "locally; train without --data-service.")
        teacher = config.teacher or config.init
        if teacher and not os.path.exists(teacher):
            raise error(f"--teacher {teacher}: not found; give a model.keras written by "
                        f"`fastfeed train --task composites`.")
        _check_scale_range("unlabeled_scale_range", config.unlabeled_scale_range)
        try:
            remover.scales(",".join(map(str, config.teacher_scales)))
        except ValueError as e:
            raise error(f"--teacher-scales {e}") from None
        problem = remover.map_problem(config.eval_size, config.teacher_scales,
                                      ("--eval-size", "--teacher-scales"))
        if problem:
            raise error(problem)
        if real_count(config, config.batch_size) < 1:
            raise error(f"--batch-size {config.batch_size}: too small to hold both "
                        f"composites and photos; use at least 2.")


def smoke(config: Config) -> Config:
    """Seconds on a CPU: a few small batches, a few test examples."""
    return dataclasses.replace(config, steps=4, warmup_steps=1, log_every=2,
                               checkpoint_every=2, image_size=64, batch_size=4,
                               test_size=8, eval_limit=4, eval_size=64)


# ----------------------------------------------------------------------------- data
@dataclasses.dataclass
class Data:
    compositor: object  # the training compositor (scene recipe)
    test_images: np.ndarray  # uint8 [N, S, S, 3]: the product_composites test split
    test_masks: np.ndarray  # bool [N, S, S]
    real: list  # [(name, image path, mask path)]
    photos: object = None  # photos.PhotoTable of the --unlabeled photos, once labelled


def recipe(config: Config):
    from fastfeed.compose import composites

    return dataclasses.replace(
        composites.SCENE_RECIPE, scale_range=tuple(config.scale_range),
        distractors=config.distractors, layer_probability=config.layer_probability,
        defocus_probability=config.defocus_probability)


def prepare(config: Config) -> Data:
    from fastfeed.compose import composites

    objects = composites.parse_mix(config.objects)
    backgrounds = composites.parse_mix(config.backgrounds)
    compositor = composites.make_compositor(objects, backgrounds,
                                           image_size=config.image_size,
                                           recipe=recipe(config))
    # The test split: the builder's examples (plain recipe, its test seed) of these
    # assets (picked by the mix's weights where there are several sources).
    plain = composites.Compositor(compositor.objects, compositor.backgrounds,
                                 config.image_size)
    seed = composites.SPLIT_SEEDS["test"]
    test = list(composites.composite_examples(plain, seed=seed)
                .take(config.test_size).batch(config.test_size).as_numpy_iterator())[0]
    real = (background.metrics.labelled_photos(config.eval_real, config.eval_limit)
            if config.eval_real else [])
    # The --unlabeled photos are labelled when the stream first needs them (an
    # evaluation of a finished run does not).
    return Data(compositor, test["image"], test["mask"][..., 0] > 0, real)


def real_count(config: Config, batch_size: int) -> int:
    """How many of a batch of ``batch_size`` are pseudo-labelled photos (0 without
    ``--unlabeled``; at most all but one)."""
    if not config.unlabeled:
        return 0
    from fastfeed.compose import composites

    weight = sum(composites.parse_mix(config.unlabeled).values())
    return min(batch_size - 1, int(round(batch_size * weight / (1 + weight))))


def pseudo_label(config: Config):
    """The ``--unlabeled`` photos with the teacher's targets and confidence, packed
    for :func:`fastfeed.compose.photos.crop_stream`. Unreadable photos are skipped,
    counted and logged. The labels are kept in this user's private cache
    (:func:`fastfeed.files.private_cache`: ``$FASTFEED_CACHE``, default
    ``~/.cache/fastfeed``; the newest :data:`CACHE_KEPT` files) under a key of the
    teacher's bytes, the photos' paths, sizes and times, and the labelling options, so
    a second run with the same teacher and photos (resumed, repeated, or with other
    weights) does not label them again."""
    import hashlib

    from fastfeed.compose import composites, photos

    teacher_path = config.teacher or config.init or background.DEFAULT_MODEL
    mix = composites.parse_mix(config.unlabeled)
    folders = sorted(mix)
    listing = {folder: images.image_paths(folder) for folder in folders}
    key = hashlib.sha256()
    with open(teacher_path, "rb") as f:
        key.update(f.read())
    key.update(repr((background.inference.TEACHER_VERSION, config.label_size,
                     config.eval_size, tuple(config.teacher_scales),
                     config.disagree_weight, config.teacher_blend)).encode())
    for path in (p for folder in folders for p in listing[folder]):
        stat = os.stat(path)
        key.update(f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    try:
        cache = os.path.join(files.private_cache("pseudo_labels"),
                             key.hexdigest()[:24] + ".npz")
    except OSError as error:  # a read-only home, a cache of another user's
        logger.warning("Pseudo-labels not cached (%s)", error)
        cache = ""
    if cache and os.path.isfile(cache):
        with np.load(cache) as saved:
            pixels, sizes, names, sources = (saved[k] for k in ("pixels", "sizes",
                                                                 "names", "sources"))
        logger.info("Pseudo-labels of %d photos by %s read from %s", len(names),
                    teacher_path, cache)
    else:
        table, sources = _label(config, teacher_path, folders, listing)
        pixels, sizes, names = table.pixels, table.sizes, np.asarray(table.names)
        try:
            if cache:
                with files.written_whole(cache, ".tmp") as temporary, \
                        open(temporary, "wb") as f:
                    np.savez(f, pixels=pixels, sizes=sizes, names=names, sources=sources)
                _trim(os.path.dirname(cache), CACHE_KEPT)
        except OSError as error:  # a full disk: label again next time
            logger.warning("Pseudo-labels not cached (%s)", error)
    # Each folder is drawn by its weight, then a photo of it uniformly.
    counts = np.bincount(sources, minlength=len(folders))
    picks = np.asarray([mix[folders[s]] / counts[s] for s in sources])
    return photos.PhotoTable(pixels, sizes, [str(n) for n in names], picks / picks.sum())


CACHE_KEPT = 8  # pseudo-label files kept in the cache, the most recently written


def _trim(folder: str, kept: int) -> None:
    """Removes all but the ``kept`` newest ``.npz`` files of ``folder``."""
    found = sorted((entry.stat().st_mtime_ns, entry.path) for entry in os.scandir(folder)
                   if entry.name.endswith(".npz") and entry.is_file(follow_symlinks=False))
    for _, path in found[:-kept]:
        os.remove(path)


def _label(config: Config, teacher_path: str, folders: list, listing: dict,
           workers: int | None = None):
    """``(PhotoTable, the folder number of each photo)``: every readable photo of
    ``listing`` shrunk to ``label_size`` and labelled by the teacher, ``workers``
    photos at a time (default: one per core; GrabCut runs on one core and OpenCV and
    TensorFlow let go of Python's lock). The labels do not depend on ``workers``."""
    import concurrent.futures
    import time

    from fastfeed.compose import photos

    teacher = background.load_model(teacher_path)

    def label(path):
        try:
            rgb = images.shrink(images.read_rgb(path), config.label_size)
        except images.ImageError as e:
            return None, str(e)
        return rgb, background.inference.teacher_labels(
            teacher, rgb, config.eval_size, config.disagree_weight, config.teacher_blend,
            tuple(config.teacher_scales))

    names, pictures, targets, weights, sources, skipped = [], [], [], [], [], []
    started = time.perf_counter()
    work = [(number, path) for number, folder in enumerate(folders)
            for path in listing[folder]]
    pool = concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1)
    try:  # map keeps the listing's order whatever finishes first
        for (number, path), (rgb, labels) in zip(
                work, pool.map(label, [path for _, path in work])):
            if rgb is None:
                skipped.append(labels)
                continue
            names.append(path)
            pictures.append(rgb)
            targets.append(labels[0])
            weights.append(labels[1])
            sources.append(number)
            if len(names) % 50 == 0:
                logger.info("Pseudo-labelled %d of %d photos (%.0f s)", len(names),
                            len(work), time.perf_counter() - started)
    finally:  # Ctrl-C or an error: the photos not begun are dropped, not waited for
        pool.shutdown(cancel_futures=True)
    for problem in skipped:
        logger.warning("skipped: %s", problem)
    if not names:
        raise base.ConfigError(f"--unlabeled {config.unlabeled}: no readable photo.")
    # The weights tell agreement from disagreement only when they differ.
    agreed = ("every pixel weighted alike (--disagree-weight 1)"
              if config.disagree_weight == 1 else "the teacher and GrabCut agree on "
              f"{100 * np.mean([np.mean(w == 1.0) for w in weights]):.1f}% of pixels")
    logger.info("Pseudo-labelled %d photos with %s in %.0f s (%d skipped); %s",
                len(names), teacher_path, time.perf_counter() - started, len(skipped),
                agreed)
    return (photos.PhotoTable.pack(names, pictures, targets, weights),
            np.asarray(sources, np.int32))


def stream(config: Config, data: Data, unit: base.Unit, feed: base.Feed):
    from fastfeed.compose import composites

    batch_size = feed.per_replica(config.batch_size)
    photo_count = real_count(config, batch_size)
    composites = composites.composite_stream(
        compositor=data.compositor, batch_size=batch_size - photo_count, seed=config.seed,
        augment=config.augment or None, feed=feed)
    if not photo_count:
        return composites
    import tensorflow as tf

    from fastfeed.compose import photos

    if data.photos is None:
        data.photos = pseudo_label(config)
    crops = photos.crop_stream(
        data.photos, image_size=config.image_size, batch_size=photo_count,
        seed=config.seed, augment=config.unlabeled_augment or config.augment or None,
        scale_range=tuple(config.unlabeled_scale_range), feed=feed)

    def join(made, real):
        mask = tf.cast(made["mask"], tf.float32)
        return {"image": tf.concat([made["image"], real["image"]], 0),
                "mask": tf.concat([mask, real["mask"]], 0),
                "weight": tf.concat([tf.ones_like(mask), real["weight"]], 0)}
    return tf.data.Dataset.zip(composites, crops).map(join).prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------- loss
def loss(config: Config, model, batch, training: bool):
    """BCE + dice against the mask; pseudo-labelled photos' pixels count by their
    weight (composites' by 1)."""
    from fastfeed.models import losses

    return losses.mask_bce_dice(model(batch["image"], training=training), batch["mask"],
                                batch.get("weight"), config.dice_weight)


# ------------------------------------------------------------------------ evaluation
def evaluate_composites(model, images: np.ndarray, masks: np.ndarray, batch: int = 32
                        ) -> dict:

    scores = background.metrics.Scores()
    for first in range(0, len(images), batch):
        logits = np.asarray(model(images[first:first + batch], training=False))[..., 0]
        for k, probability in enumerate(1.0 / (1.0 + np.exp(-logits))):
            scores.add(str(first + k), probability, masks[first + k])
    return scores.summary()


def evaluate(config: Config, data: Data, unit: base.Unit, model) -> dict:
    result = {"test": evaluate_composites(model, data.test_images, data.test_masks)}
    if data.real:

        refinement = refinement_of(config)
        scores = background.metrics.evaluate_photos(data.real, {
            "model": lambda rgb: background.predict(model, rgb, config.eval_size,
                                                    refinement)})
        result["real"] = scores["model"].summary()
        result["real"].update(folder=config.eval_real, refinement=refinement)
    return result


def validate(config: Config, data: Data, unit: base.Unit, model) -> dict:
    """The scalars logged every ``eval_every`` steps."""
    result = evaluate(config, data, unit, model)
    logs = {f"test_{k}": result["test"][k] for k in ("iou", "mae", "max_f")}
    if "real" in result:
        logs.update({f"real_{k}": result["real"][k] for k in ("iou", "mae", "max_f")})
    return logs


def summarize(config: Config, results: dict) -> dict:
    return {"task": "composites", "model": config.model, **results["main"]}
