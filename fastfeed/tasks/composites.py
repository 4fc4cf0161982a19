"""Background removal trained on generated composites (`fastfeed train --task composites`).

The model learns the object mask of :func:`fastfeed.compose.composite.composite_stream`
examples: cut-outs from one or more sources (weighted) pasted on backgrounds, with the
scene recipe's layered backgrounds and defocus (distractors, an option, are off), and
whole-image noise, JPEG and colour augmentation. It is measured on the
``product_composites`` test split of the same assets (the split's examples: seed 2002,
the plain recipe) and, with ``--eval-real DIR``, on real photos with masks
(``DIR/images``, ``DIR/masks``), which it never trains on.

    fastfeed train --task composites --run-dir runs/bg --steps 12000 \\
        --objects ../shared/data/products/objects:1,../shared/data/products/photo_objects:2 \\
        --backgrounds ../shared/data/products/backgrounds \\
        --eval-real ../shared/data/real_dev
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from fastfeed import train

logger = logging.getLogger(__name__)



@dataclasses.dataclass(frozen=True)
class Config(train.Config):
    task: str = "composites"
    model: str = "unet_small"
    steps: int = 6000
    learning_rate: float = 3e-3
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    checkpoint_every: int = 500
    log_every: int = 100
    objects: str = "procedural"  # SOURCE[:WEIGHT],... (SOURCE: procedural or a folder)
    backgrounds: str = "procedural"
    image_size: int = 128  # training composites (a multiple of 32)
    batch_size: int = 16
    # The scene recipe (see composite.SCENE_RECIPE); 0 turns a part off.
    scale_range: tuple[float, ...] = (0.3, 0.95)
    distractors: int = 0  # 3 was measured: it costs real-photo IoU (README, ablation)
    layer_probability: float = 0.5
    defocus_probability: float = 0.5
    augment: str = ("flip_lr|color_jitter(0.25, 0.25, 0.25)|hue(0.04)"
                    "|gaussian_noise((0.0, 6.0), p=0.5)|jpeg_quality(40, 95)")
    dice_weight: float = 1.0  # loss: BCE + dice_weight * soft-IoU (dice) per image
    test_size: int = 200  # product_composites test examples evaluated
    eval_real: str = ""  # DIR with images/ and masks/ (same stems): real photos
    eval_size: int = 160  # real photos are seen at this many px on the longer side
    eval_every: int = 0  # also evaluate (test split, real photos) every N steps
    eval_limit: int = 0  # at most this many real photos (0: all)


def resolve(config: Config) -> Config:
    return config


def check(config: Config) -> None:
    from fastfeed import segment
    from fastfeed.compose import composite
    from fastfeed.models.segmentation import STRIDE

    error = train.ConfigError
    for key in ("objects", "backgrounds"):
        try:
            mix = composite.parse_mix(getattr(config, key))
        except ValueError as e:
            raise error(f"--{key} {e}") from None
        for source in mix:
            if source != composite.PROCEDURAL and not os.path.isdir(source):
                raise error(f"--{key}: {source!r} is neither 'procedural' nor a folder.")
    if config.image_size % STRIDE:
        raise error(f"--image-size {config.image_size}: use a multiple of {STRIDE}.")
    if len(config.scale_range) != 2 or not 0 < config.scale_range[0] <= config.scale_range[1]:
        raise error(f"--scale-range {config.scale_range}: two numbers LOW,HIGH with "
                    f"0 < LOW <= HIGH.")
    if config.eval_real:
        try:
            segment.mask_pairs(config.eval_real, 1)
        except segment.ImageError as e:
            raise error(f"--eval-real: {e}") from None


def smoke(config: Config) -> Config:
    """Seconds on a CPU: a few small batches, a few test examples."""
    return dataclasses.replace(config, steps=4, warmup_steps=1, log_every=2,
                               checkpoint_every=2, image_size=64, batch_size=4,
                               test_size=8, eval_limit=4, eval_size=64)


# ----------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class Unit:
    name: str


@dataclasses.dataclass
class Data:
    compositor: object  # the training compositor (scene recipe)
    test_images: np.ndarray  # uint8 [N, S, S, 3]: the product_composites test split
    test_masks: np.ndarray  # bool [N, S, S]
    real: list  # [(name, image path, mask path)]


def recipe(config: Config):
    from fastfeed.compose import composite

    return dataclasses.replace(
        composite.SCENE_RECIPE, scale_range=tuple(config.scale_range),
        distractors=config.distractors, layer_probability=config.layer_probability,
        defocus_probability=config.defocus_probability)


def prepare(config: Config) -> Data:
    from fastfeed import segment
    from fastfeed.compose import composite
    from fastfeed.tfds_builders.product_composites import product_composites_dataset_builder

    objects = composite.parse_mix(config.objects)
    backgrounds = composite.parse_mix(config.backgrounds)
    compositor = composite.make_compositor(objects, backgrounds,
                                           image_size=config.image_size,
                                           recipe=recipe(config))
    # The test split: the builder's examples (plain recipe, its test seed) of these
    # assets (picked by the mix's weights where there are several sources).
    plain = composite.Compositor(compositor.objects, compositor.backgrounds,
                                 config.image_size)
    seed = product_composites_dataset_builder.SPLIT_SEEDS["test"]
    test = list(composite.composite_examples(plain, seed=seed)
                .take(config.test_size).batch(config.test_size).as_numpy_iterator())[0]
    real = segment.mask_pairs(config.eval_real, config.eval_limit) if config.eval_real else []
    return Data(compositor, test["image"], test["mask"][..., 0] > 0, real)


def units(config: Config, data: Data) -> list[Unit]:
    return [Unit("main")]


def model_kwargs(config: Config) -> dict:
    return {}


def examples_per_batch(config: Config) -> int:
    return config.batch_size


def stream(config: Config, data: Data, unit: Unit, start: int = 0, shard=(1, 0),
           replicas: int = 1, service: str | None = None, job_name: str | None = None):
    from fastfeed.compose import composite

    batch_size = train.per_replica(config.batch_size, replicas, "batch-size")
    return composite.composite_stream(compositor=data.compositor, batch_size=batch_size,
                                      seed=config.seed, augment=config.augment or None,
                                      start=start, shard=shard, service=service,
                                      job_name=job_name)


# ----------------------------------------------------------------------------- loss
def loss(config: Config, model, batch, training: bool):
    from keras import ops

    logits = ops.cast(model(batch["image"], training=training), "float32")
    truth = ops.cast(batch["mask"], "float32")
    bce = ops.mean(ops.binary_crossentropy(truth, logits, from_logits=True))
    probability = ops.sigmoid(logits)
    overlap = ops.sum(probability * truth, axis=(1, 2, 3))
    total = ops.sum(probability + truth, axis=(1, 2, 3))
    dice = 1.0 - ops.mean((2.0 * overlap + 1.0) / (total + 1.0))
    predicted = ops.cast(logits > 0, "float32")
    hard = ops.sum(predicted * truth, axis=(1, 2, 3))
    union = ops.sum(ops.maximum(predicted, truth), axis=(1, 2, 3))
    iou = ops.mean((hard + 1.0) / (union + 1.0))
    return bce + config.dice_weight * dice, {"bce": bce, "iou": iou}


# ------------------------------------------------------------------------ evaluation
def evaluate_composites(model, images: np.ndarray, masks: np.ndarray, batch: int = 32
                        ) -> dict:
    from fastfeed import segment

    scores = segment.Scores()
    for first in range(0, len(images), batch):
        logits = np.asarray(model(images[first:first + batch], training=False))[..., 0]
        for k, probability in enumerate(1.0 / (1.0 + np.exp(-logits))):
            scores.add(str(first + k), probability, masks[first + k])
    return scores.summary()


def evaluate(config: Config, data: Data, unit: Unit, model) -> dict:
    result = {"test": evaluate_composites(model, data.test_images, data.test_masks)}
    if data.real:
        from fastfeed import segment

        scores = segment.evaluate_pairs(data.real, {
            "model": lambda rgb: segment.predict(model, rgb, config.eval_size)})
        result["real"] = scores["model"].summary()
        result["real"]["folder"] = config.eval_real
    return result


def validate(config: Config, data: Data, unit: Unit, model) -> dict:
    """The scalars logged every ``eval_every`` steps."""
    result = evaluate(config, data, unit, model)
    logs = {f"test_{k}": result["test"][k] for k in ("iou", "mae", "max_f")}
    if "real" in result:
        logs.update({f"real_{k}": result["real"][k] for k in ("iou", "mae", "max_f")})
    return logs


def summarize(config: Config, results: dict) -> dict:
    return {"task": "composites", "model": config.model, **results["main"]}
