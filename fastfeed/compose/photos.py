"""Random crops of real photos with a per-pixel target and weight, as a tf.data stream.

Self-training on a shop's own photos (``fastfeed train --task composites --unlabeled``,
``fastfeed adapt``) feeds the model real photos whose targets came from a teacher
rather than from a person. This module knows nothing of the teacher: it takes the
photos, their targets and their per-pixel confidence as arrays and draws crops.

    stream = photos.crop_stream(table, image_size=128, batch_size=8, seed=0,
                                augment="flip_lr|color_jitter(0.4, 0.4, 0.4)")
    batch = next(iter(stream))  # image uint8 [8,128,128,3], mask, weight float32 [..,1]

Example i is drawn from the stateless seed (seed, i): which photo (by its weight), the
crop's side (``scale_range`` of the photo's longer side; a crop larger than the short
side reaches past the photo, where the weight is 0) and its position; the crop is
resized to ``image_size`` (bilinear for the photo and the maps alike).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from fastfeed.compose.augment import is_albumentations, resolve
from fastfeed.compose.feed import Feed
from fastfeed.compose.service import batch_numbers

AUTOTUNE = tf.data.AUTOTUNE
# Offsets the photo stream's seeds from the composite stream's, which draws example i
# from (seed, i): the same seed must not give the two streams correlated draws.
SEED_OFFSET = 0x5EED0000


@dataclasses.dataclass
class PhotoTable:
    """Photos with their targets and weights, each padded into a ``side`` x ``side``
    canvas (top left; the weight is 0 in the padding).

    ``pixels``: uint8 [N, side, side, 5] (RGB, target, weight; target and weight in
    0..255); ``sizes``: int32 [N, 2] (height, width of each photo in its canvas);
    ``names``; ``picks``: float [N], the chance of drawing each photo."""

    pixels: np.ndarray
    sizes: np.ndarray
    names: list
    picks: np.ndarray

    @classmethod
    def pack(cls, names, images, targets, weights, picks=None) -> "PhotoTable":
        """Packs lists of RGB uint8 [h, w, 3] photos, float [h, w] targets and
        weights in [0, 1]; ``picks`` (relative) default to uniform."""
        if not images:
            raise ValueError("no photos to pack.")
        side = max(max(image.shape[:2]) for image in images)
        pixels = np.zeros((len(images), side, side, 5), np.uint8)
        sizes = np.zeros((len(images), 2), np.int32)
        for k, (image, target, weight) in enumerate(zip(images, targets, weights)):
            height, width = image.shape[:2]
            if target.shape != (height, width) or weight.shape != (height, width):
                raise ValueError(f"{names[k]}: photo {image.shape[:2]}, target "
                                 f"{target.shape} and weight {weight.shape} differ.")
            pixels[k, :height, :width, :3] = image
            pixels[k, :height, :width, 3] = np.round(np.clip(target, 0, 1) * 255)
            pixels[k, :height, :width, 4] = np.round(np.clip(weight, 0, 1) * 255)
            sizes[k] = height, width
        picks = np.ones(len(images)) if picks is None else np.asarray(picks, np.float64)
        if picks.shape != (len(images),) or (picks < 0).any() or picks.sum() <= 0:
            raise ValueError(f"picks: {len(images)} non-negative weights, not all 0.")
        return cls(pixels, sizes, list(names), picks / picks.sum())


def crop_example(table: PhotoTable, image_size: int, scale_range=(0.55, 1.0)):
    """``make(seed [2] int64) -> {'image' uint8 [S,S,3], 'mask' uint8 [S,S,1],
    'weight' uint8 [S,S,1]}``: the pure function behind :func:`crop_stream`."""
    low, high = scale_range
    if not 0 < low <= high:
        raise ValueError(f"scale_range={scale_range!r}: 0 < low <= high.")
    pixels = tf.constant(table.pixels)
    sizes = tf.constant(table.sizes, tf.float32)
    cdf = tf.constant(np.cumsum(table.picks)[:-1], tf.float32)
    last = float(table.pixels.shape[1] - 1)

    def make(seed):
        u = tf.random.stateless_uniform([4], seed)
        photo = tf.searchsorted(cdf, u[:1], side="right")[0]
        height, width = sizes[photo][0], sizes[photo][1]
        side = tf.maximum(height, width) * (low + (high - low) * u[1])
        top = u[2] * (height - side)  # a crop past the photo sits anywhere across it
        left = u[3] * (width - side)
        box = tf.stack([top, left, top + side - 1, left + side - 1]) / last
        crop = tf.image.crop_and_resize(
            tf.cast(pixels[photo][None], tf.float32), box[None], [0],
            [image_size, image_size], method="bilinear", extrapolation_value=0.0)[0]
        crop = tf.cast(tf.round(tf.clip_by_value(crop, 0, 255)), tf.uint8)
        return {"image": crop[..., :3], "mask": crop[..., 3:4], "weight": crop[..., 4:5]}
    return make


def crop_stream(table: PhotoTable, *, image_size: int, batch_size: int, seed: int = 0,
                augment=None, scale_range=(0.55, 1.0), feed: Feed = Feed(),
                num_parallel_calls: int = AUTOTUNE) -> tf.data.Dataset:
    """Infinite batches ``{'image': uint8 [B,S,S,3], 'mask': float32 [B,S,S,1] (the
    target, 0..1), 'weight': float32 [B,S,S,1] (0..1)}`` of random photo crops.

    ``augment``: a spec of registry ops (or ``fn(index, example)``), run per example
    before batching; geometric ops move ``mask`` and ``weight`` with the photo
    (what they uncover gets weight 0). ``feed``: as the composite stream's (batch
    ``feed.start`` on; one worker's batches; made locally, never on the tf.data
    service). Same seed, same batches, bit for bit."""
    if feed.service:
        raise ValueError("crop_stream is made where it is read (its photos are in this "
                         "process's memory): give a Feed without a service.")
    if is_albumentations(augment):
        raise ValueError("crop_stream takes registry ops, not an albumentations "
                         "transform: give a spec such as 'flip_lr|hue(0.05)'.")
    make = crop_example(table, image_size, scale_range)
    augment = resolve(augment, seed=seed + SEED_OFFSET, image_keys=("image",),
                                  mask_keys=("mask", "weight"))

    def example(index):
        out = make(tf.stack([tf.constant(seed + SEED_OFFSET, tf.int64), index]))
        if augment is not None:
            out = augment(index, out)
        return {"image": out["image"],
                "mask": tf.cast(out["mask"], tf.float32) / 255.0,
                "weight": tf.cast(out["weight"], tf.float32) / 255.0}

    options = tf.data.Options()
    options.deterministic = True
    # Batch k holds examples kB ... kB + B - 1, for this shard's batch numbers k; one
    # flat map (a dataset per batch would trace the augmentation again for each).
    indices = batch_numbers(feed.start, feed.shard).map(
        lambda k: tf.range(k * batch_size, (k + 1) * batch_size)).unbatch()
    stream = indices.map(example, num_parallel_calls=num_parallel_calls,
                         deterministic=True)
    return (stream.batch(batch_size, drop_remainder=True).with_options(options)
            .prefetch(AUTOTUNE))
