"""Photometric ops: images only (masks keep the object), on float32 in [0, 255]."""

from __future__ import annotations

import math

import tensorflow as tf

from fastfeed import colour
from fastfeed.compose.augment.registry import (PHOTOMETRIC, Op, apply_where, coin, int_range,
                                               ordered_pair, probability, register, seeds,
                                               uniform)


def _photometric(name, sample, apply, xla=True, batchable=False, stencil=False,
                 any_dtype=False):
    return Op(name, PHOTOMETRIC, sample, lambda x, params, is_mask: apply(x, params), xla,
              batchable=batchable, stencil=stencil, any_dtype=any_dtype)


def _factor_op(name, amount):
    # The maths (colour.ADJUST, in keras.ops) and the range are shared with the Keras
    # layers of the same names (fastfeed.models.layers).
    low, high = colour.factor_range(name, amount)
    return _photometric(name, lambda seed, shape, batch: uniform(seed, batch, low, high),
                        colour.ADJUST[name], batchable=True)


@register("brightness")
def get_brightness(amount=0.2):
    """Multiply by a factor in [1-amount, 1+amount] (or a given (low, high))."""
    return _factor_op("brightness", amount)


@register("contrast")
def get_contrast(amount=0.2):
    """Scale the distance to the image's mean by a factor in [1-amount, 1+amount]."""
    return _factor_op("contrast", amount)


@register("saturation")
def get_saturation(amount=0.2):
    """Scale the distance to the luma by a factor in [1-amount, 1+amount]."""
    return _factor_op("saturation", amount)


@register("color_jitter")
def get_color_jitter(brightness=0.2, contrast=0.2, saturation=0.2):
    """Brightness, contrast and saturation in that order (factors drawn independently)."""
    ops = [get_brightness(brightness), get_contrast(contrast), get_saturation(saturation)]

    def sample(seed, shape, batch):
        return [op.sample(s, shape, batch) for op, s in zip(ops, seeds(seed, 3))]

    def apply(x, factors):
        for op, k in zip(ops, factors):
            x = op.apply(x, k, False)
        return x
    return _photometric("color_jitter", sample, apply, batchable=True)


@register("hue")
def get_hue(max_delta=0.05):
    """Rotate hue by up to ``max_delta`` of the colour circle (0..0.5)."""
    if not 0 <= max_delta <= 0.5:
        raise ValueError(f"max_delta must be in [0, 0.5], not {max_delta!r}.")
    return _photometric(
        "hue", lambda seed, shape, batch: uniform(seed, batch, -max_delta, max_delta),
        lambda x, delta: tf.image.adjust_hue(x / 255.0, delta) * 255.0)


@register("grayscale")
def get_grayscale(p=0.1):
    """With probability p, replace colour by its luma (3 channels kept)."""
    p = probability(p)
    return _photometric(
        "grayscale", lambda seed, shape, batch: coin(seed, batch, p),
        lambda x, do: apply_where(do, lambda im: tf.broadcast_to(colour.luma(im),
                                                                  tf.shape(im)), x),
        batchable=True)


def gaussian_filter(x, sigma, radius):
    """``x`` [H, W, C] blurred by a Gaussian of ``sigma`` with ``2 * radius + 1`` taps
    (scalar tensors): separable, padded by reflection as OpenCV's ``GaussianBlur``
    (BORDER_REFLECT_101), so a flat image stays flat to its corners. ``radius`` is
    capped at the shorter side less one (what reflection allows): any sigma costs at
    most the image's own size."""
    shape = tf.shape(x)
    radius = tf.maximum(tf.minimum(radius, tf.minimum(shape[0], shape[1]) - 1), 0)
    taps = tf.cast(tf.range(-radius, radius + 1), tf.float32)
    kernel = tf.exp(-0.5 * tf.square(taps / sigma))
    kernel /= tf.reduce_sum(kernel)
    rows = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), tf.stack([1, 1, shape[-1], 1]))
    padded = tf.pad(x, [[radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    out = tf.nn.depthwise_conv2d(padded[None], rows, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, tf.transpose(rows, [1, 0, 2, 3]), [1, 1, 1, 1],
                                 "VALID")
    return out[0]


@register("gaussian_blur")
def get_gaussian_blur(sigma=(0.1, 2.0), p=0.5):
    """With probability p, a Gaussian blur with sigma drawn from ``sigma``."""
    low, high = ordered_pair(sigma, "sigma")
    p = probability(p)

    def sample(seed, shape, batch):
        sigma_seed, coin_seed = seeds(seed, 2)
        return tf.stack([uniform(sigma_seed, batch, max(low, 1e-3), max(high, 1e-3)),
                         tf.cast(coin(coin_seed, batch, p), tf.float32)], axis=-1)

    def blur(x, s):  # no zero taps: small sigmas cost less
        return gaussian_filter(x, s, tf.cast(tf.math.ceil(3 * s), tf.int32))
    return _photometric("gaussian_blur", sample,
                        lambda x, params: tf.cond(params[1] > 0, lambda: blur(x, params[0]),
                                                  lambda: x),
                        xla=False)  # XLA's convolution: 30x slower here


def _mix32(h):
    """MurmurHash3's 32-bit finaliser: every input bit flips each output bit with
    probability close to 1/2."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16)) * tf.constant(0x85EBCA6B,
                                                                              tf.uint32)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13)) * tf.constant(0xC2B2AE35,
                                                                              tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


NOISE_BYTES = 8  # uniform bytes summed per value (Irwin-Hall)
_NOISE_SD = math.sqrt(NOISE_BYTES * (256**2 - 1) / 12)


def standard_noise(shape, keys):
    """Zero-mean, unit-variance noise of ``shape`` ([..., H, W, C]) from ``keys``
    (uint32 [..., 2], one pair per image): the sum of 8 uniform bytes (Irwin-Hall), from
    two counter-based hashes of each value's position, centred and scaled. Normal to
    within what eight terms give (bounded at 4.9 SD, kurtosis 2.85 instead of 3), and
    10x cheaper than ``stateless_normal``'s Philox and Box-Muller here, compiled with its
    neighbours. A value depends on its image's keys and its position only, so an image
    gets the same noise alone or in a batch."""
    per_image = tf.reduce_prod(shape[-3:])
    position = tf.bitcast(tf.reshape(tf.range(per_image), shape[-3:]), tf.uint32)
    total = 0.0
    for k in range(2):
        key = tf.reshape(keys[..., k], tf.concat([tf.shape(keys)[:-1], [1, 1, 1]], 0))
        h = _mix32(position * tf.constant(0x9E3779B9, tf.uint32) + key)
        for byte in range(4):
            total += tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(h, 8 * byte), 255),
                             tf.float32)
    return (total - NOISE_BYTES * 127.5) * (1 / _NOISE_SD)


@register("gaussian_noise")
def get_gaussian_noise(std=(0.0, 10.0), p=0.5):
    """With probability p, add noise of standard deviation drawn from ``std`` (in pixel
    values, 0..255): Gaussian to within eight terms (see :func:`standard_noise`)."""
    low, high = ordered_pair(std, "std")
    p = probability(p)

    def sample(seed, shape, batch):
        std_seed, coin_seed, noise_seed = seeds(seed, 3)
        keys = tf.bitcast(tf.random.stateless_uniform(
            tf.concat([batch, [2]], 0), noise_seed, minval=None, maxval=None, dtype=tf.int32),
            tf.uint32)
        return tf.where(coin(coin_seed, batch, p), uniform(std_seed, batch, low, high),
                        0.0), keys

    def apply(x, params):
        scale, keys = params
        noise = standard_noise(tf.shape(x), keys) * colour.per_example(scale, x)
        return tf.clip_by_value(x + noise, 0, 255)
    return _photometric("gaussian_noise", sample, apply, batchable=True)


@register("jpeg_quality")
def get_jpeg_quality(low=50, high=95):
    """Re-encode as JPEG with a quality uniform in [low, high] (compression artefacts)."""
    low, high = int_range((low, high), "jpeg_quality (low, high)", 0, 100)

    def sample(seed, shape, batch):
        return tf.random.stateless_uniform(batch, seed, low, high + 1, tf.int32)

    def apply(x, quality):
        pixels = tf.saturate_cast(tf.round(x), tf.uint8)
        return tf.cast(tf.image.adjust_jpeg_quality(pixels, quality), tf.float32)
    return _photometric("jpeg_quality", sample, apply, xla=False)  # no XLA kernel


@register("cutout")
def get_cutout(size=0.25, p=0.5, fill=0):
    """With probability p, fill a square of side ``size`` (fraction of the shorter side)
    at a uniform centre with ``fill`` (images only: the mask keeps the object)."""
    if not 0 < size <= 1:
        raise ValueError(f"cutout size must be a fraction in (0, 1], not {size!r}.")
    p = probability(p)

    def sample(seed, shape, batch):
        row_seed, col_seed, coin_seed = seeds(seed, 3)
        centre = tf.stack([uniform(row_seed, batch), uniform(col_seed, batch)], axis=-1)
        return centre, coin(coin_seed, batch, p)

    def apply(x, params):
        centre, do = params
        height, width = tf.shape(x)[0], tf.shape(x)[1]
        side = tf.cast(tf.cast(tf.minimum(height, width), tf.float32) * size, tf.int32)
        cy = tf.cast(centre[0] * tf.cast(height, tf.float32), tf.int32)
        cx = tf.cast(centre[1] * tf.cast(width, tf.float32), tf.int32)
        rows = tf.range(height)[:, None, None]
        cols = tf.range(width)[None, :, None]
        inside = ((tf.abs(rows - cy) * 2 < side) & (tf.abs(cols - cx) * 2 < side)) & do
        return tf.where(inside, tf.cast(fill, x.dtype), x)
    return _photometric("cutout", sample, apply)
