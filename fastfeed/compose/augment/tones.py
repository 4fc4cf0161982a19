"""Keras 3's photometric augmentations as registry ops, under Keras' names without
``Random``: ``invert``, ``posterization``, ``solarization``, ``equalization``,
``auto_contrast``, ``sharpness``, ``color_degeneration``, ``erasing``. Images only (a
mask keeps the object), float32 in [0, 255] inside a stage.

A ``factor`` follows Keras: a number ``f`` is the range ``(0, f)``, a pair the range
itself; the maths given a draw is Keras' (tests compare the two). Probabilities are
``p`` (Keras draws one from ``factor`` first).
"""

from __future__ import annotations

import tensorflow as tf

from fastfeed import colour
from fastfeed.compose.augment.photometric import _photometric
from fastfeed.compose.augment.registry import (apply_where, coin, factor_range, int_range,
                                               probability, register, seeds, to_dtype,
                                               uniform)


def unit_range(value, name: str) -> tuple[float, float]:
    """Keras' factor within [0, 1]: ``f`` -> (0, f), a pair -> itself."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (0.0, abs(float(value)))
    return factor_range(value, name, 0.0, 1.0)


@register("invert")
def get_invert(p=0.5):
    """With probability p, 255 - x (Keras' RandomInvert)."""
    p = probability(p)
    return _photometric("invert", lambda seed, shape, batch: coin(seed, batch, p),
                        lambda x, do: apply_where(do, lambda im: 255.0 - im, x),
                        batchable=True)


@register("posterization")
def get_posterization(bits=(4, 8)):
    """Keep the top ``bits`` bits of every 8-bit value (an int, or an integer (low,
    high), both included, drawn per example); Keras' RandomPosterization, whose factor
    (1, f) draws from 1 to f - 1 bits."""
    low, high = int_range(bits, "posterization bits", 1, 8)

    def apply(x, keep):
        step = tf.pow(2.0, 8.0 - colour.per_example(tf.cast(keep, tf.float32), x))
        return tf.floor(tf.floor(tf.clip_by_value(x, 0, 255)) / step) * step
    return _photometric(
        "posterization",
        lambda seed, shape, batch: tf.random.stateless_uniform(batch, seed, low, high + 1,
                                                               tf.int32),
        apply, batchable=True)


@register("solarization")
def get_solarization(addition_factor=0.0, threshold_factor=(0.5, 1.0)):
    """Add 255 * a (a drawn from ``addition_factor``), then invert every value at or
    above 255 * t (t from ``threshold_factor``): Keras' Solarization, whose defaults
    (0, 0) invert every pixel; here the threshold defaults to the upper half."""
    additions = unit_range(addition_factor, "addition_factor")
    thresholds = unit_range(threshold_factor, "threshold_factor")

    def sample(seed, shape, batch):
        add_seed, threshold_seed = seeds(seed, 2)
        return tf.stack([uniform(add_seed, batch, *additions) * 255,
                         uniform(threshold_seed, batch, *thresholds) * 255], -1)

    def apply(x, params):
        addition = colour.per_example(params[..., 0], x)
        threshold = colour.per_example(params[..., 1], x)
        x = tf.clip_by_value(x + addition, 0, 255)
        return tf.where(x < threshold, x, 255 - x)
    return _photometric("solarization", sample, apply, batchable=True)


@tf.function(jit_compile=True)
def _segments(images, bins):
    """The bin of every value of ``images`` [N, HW, C] (any dtype), offset per image and
    channel (a histogram's slot in one flat count)."""
    count, channels = tf.shape(images)[0], tf.shape(images)[2]
    index = tf.cast(tf.clip_by_value(tf.cast(images, tf.float32) * tf.cast(
        bins - 1, tf.float32) / 255.0, 0, tf.cast(bins - 1, tf.float32)), tf.int32)
    return index + bins * (tf.range(channels)[None, None, :]
                           + channels * tf.range(count)[:, None, None])


@tf.function(jit_compile=True)
def _tables(histogram, shape, bins):
    """The equalisation tables [N, C, bins] of the flat ``histogram`` (``shape``: N, C)
    and whether a channel holds one value (then kept)."""
    cdf = tf.cumsum(tf.reshape(histogram, tf.concat([shape, [bins]], 0)), axis=-1)
    cdf_min = tf.reduce_min(tf.where(cdf > 0, cdf, tf.int32.max), -1, keepdims=True)
    total = cdf[..., -1:]
    tables = tf.clip_by_value(tf.round(tf.cast(cdf - cdf_min, tf.float32) * 255 / tf.cast(
        tf.maximum(total - cdf_min, 1), tf.float32)), 0, 255)
    return tables, (cdf_min == total)[..., 0]  # one value: all in its bin


@tf.function(jit_compile=True)
def _look_up(images, segment, tables, single_value):
    return to_dtype(tf.where(single_value[:, None, :], tf.cast(images, tf.float32),
                             tf.gather(tf.reshape(tables, [-1]), segment)), images.dtype)


def _equalize(x, bins: int):
    """Histogram equalisation of each channel of each image (x [..., H, W, C], any
    dtype, kept: integers rounded); a channel of one value is kept. Keras'
    Equalization: the bins and the look-up under XLA, the histograms by TF's bincount
    kernel (0.63 -> 0.44 CPU ms for a 256x256 image here against XLA's scatter), the
    tables apart (in one XLA call with their consumers XLA recomputed them per pixel:
    1.4 ms)."""
    shape = tf.shape(x)
    images = tf.reshape(x, tf.stack([-1, shape[-3] * shape[-2], shape[-1]]))
    segment = _segments(images, bins)
    histograms = tf.stack([tf.shape(images)[0], shape[-1]])  # one per image and channel
    histogram = tf.raw_ops.Bincount(arr=tf.reshape(segment, [-1]),
                                    size=tf.reduce_prod(histograms) * bins,
                                    weights=tf.constant([], tf.int32))
    tables, single_value = _tables(histogram, histograms, bins)
    return tf.reshape(_look_up(images, segment, tables, single_value), shape)


@register("equalization")
def get_equalization(bins=256):
    """Histogram equalisation per channel (Keras' Equalization); deterministic."""
    if not isinstance(bins, int) or not 2 <= bins <= 256:
        raise ValueError(f"equalization bins must be an int in [2, 256], not {bins!r}.")
    # Outside the XLA stages: it compiles its own parts (see _equalize).
    return _photometric("equalization", lambda seed, shape, batch: tf.zeros(batch),
                        lambda x, params: _equalize(x, bins), xla=False, batchable=True,
                        any_dtype=True)


@tf.function(jit_compile=True)
def _bounds(x):
    return (tf.reduce_min(x, axis=[-3, -2], keepdims=True),
            tf.reduce_max(x, axis=[-3, -2], keepdims=True))


@tf.function(jit_compile=True)
def _stretch(x, low, high):
    low, high, values = tf.cast(low, tf.float32), tf.cast(high, tf.float32), tf.cast(
        x, tf.float32)
    scale = 255.0 / tf.where(high > low, high - low, 1.0)
    return to_dtype(tf.where(high > low, tf.clip_by_value((values - low) * scale, 0, 255),
                             values), x.dtype)


def _auto_contrast(x):
    """Each channel stretched to [0, 255] (any dtype, kept: integers rounded). The
    bounds in their own XLA call: fused with the stretch, XLA's reductions cost 2x
    (0.33 -> 0.20 ms for a 256x256 image here)."""
    return _stretch(x, *_bounds(x))


@register("auto_contrast")
def get_auto_contrast():
    """Stretch each channel to the full [0, 255] (Keras' AutoContrast); deterministic."""
    return _photometric("auto_contrast", lambda seed, shape, batch: tf.zeros(batch),
                        lambda x, params: _auto_contrast(x), xla=False, batchable=True,
                        any_dtype=True)


def _sharpen(x, factor):
    """Keras' RandomSharpness given its draw: blend with a 3x3 smoothing (5/13 centre,
    1/13 around, zero padding as Keras' convolution) by 1 - 2 * factor (factor 0.5:
    unchanged, below: blurred, above: sharpened), clipped. Shifted sums, which XLA
    fuses (its convolution is slow here)."""
    rank = x.shape.rank
    padding = [[0, 0]] * (rank - 3) + [[1, 1], [1, 1], [0, 0]]
    padded = tf.pad(x, padding)
    height, width = tf.shape(x)[-3], tf.shape(x)[-2]
    rows = (padded[..., :height, :, :] + padded[..., 1:height + 1, :, :]
            + padded[..., 2:height + 2, :, :])
    total = (rows[..., :width, :] + rows[..., 1:width + 1, :]
             + rows[..., 2:width + 2, :])  # the 3x3 sum, separably
    smoothed = (total + 4.0 * x) / 13.0  # 1/13 for all nine, 4/13 more for the centre
    strength = 2.0 * colour.per_example(factor, x)
    return tf.clip_by_value(x + (1.0 - strength) * (smoothed - x), 0, 255)


@register("sharpness")
def get_sharpness(factor=(0.25, 0.75)):
    """Keras' RandomSharpness: a factor drawn from ``factor`` (within [0, 1]; 0.5
    leaves the image, lower blurs, higher sharpens)."""
    low, high = unit_range(factor, "factor")
    return _photometric("sharpness",
                        lambda seed, shape, batch: uniform(seed, batch, low, high),
                        _sharpen, batchable=True, stencil=True)


@register("color_degeneration")
def get_color_degeneration(factor=0.5):
    """Keras' RandomColorDegeneration: move towards the image's luma by a fraction
    drawn from ``factor`` (within [0, 1]; 1 is grey)."""
    low, high = unit_range(factor, "factor")

    def apply(x, amount):
        return tf.clip_by_value(x + colour.per_example(amount, x) * (colour.luma(x) - x), 0, 255)
    return _photometric("color_degeneration",
                        lambda seed, shape, batch: uniform(seed, batch, low, high),
                        apply, batchable=True)


@register("erasing")
def get_erasing(scale=(0.02, 0.33), p=0.5, fill_value=None):
    """Keras' RandomErasing: with probability p, a box whose width and height are the
    square roots of two fractions drawn from ``scale`` (of the image's width and
    height), at a uniform position, filled with ``fill_value`` (a number or an RGB
    triple; None: Gaussian noise of standard deviation 255, clipped). Images only: the
    mask keeps the object (as ``cutout``)."""
    scale = unit_range(scale, "scale")
    p = probability(p)
    if not (fill_value is None or isinstance(fill_value, (int, float))
            or (isinstance(fill_value, (tuple, list)) and len(fill_value) == 3)):
        raise ValueError(f"erasing fill_value must be None, a number or (R, G, B), not "
                         f"{fill_value!r}.")

    def sample(seed, shape, batch):
        size_seed, place_seed, coin_seed, noise_seed = seeds(seed, 4)
        sizes = tf.sqrt(uniform(size_seed, tf.concat([batch, [2]], 0), *scale))
        places = uniform(place_seed, tf.concat([batch, [2]], 0))
        noise = tf.random.stateless_uniform(tf.concat([batch, [2]], 0), noise_seed,
                                            minval=None, maxval=None, dtype=tf.int64)
        return tf.concat([sizes, places], -1), coin(coin_seed, batch, p), noise

    def apply(x, params):
        box, do, noise_seed = params
        height, width = (tf.cast(v, tf.float32) for v in tf.unstack(tf.shape(x)[-3:-1]))
        sizes_w, sizes_h = box[..., 0] * width, box[..., 1] * height
        x0 = box[..., 2] * (width - sizes_w)
        y0 = box[..., 3] * (height - sizes_h)
        rows = tf.range(height)[:, None, None]
        cols = tf.range(width)[None, :, None]
        each = lambda value: colour.per_example(value, x)  # noqa: E731
        inside = ((cols >= each(x0)) & (cols < each(x0 + sizes_w)) & (rows >= each(y0))
                  & (rows < each(y0 + sizes_h)) & tf.cast(each(tf.cast(do, tf.float32)), tf.bool))
        if fill_value is None:
            fill = tf.clip_by_value(tf.random.stateless_normal(tf.shape(x), noise_seed)
                                    * 255.0, 0, 255)
        else:
            fill = tf.broadcast_to(tf.constant(fill_value, tf.float32), tf.shape(x))
        return tf.where(inside, fill, x)
    return _photometric("erasing", sample, apply, xla=False, batchable=fill_value is not None)
