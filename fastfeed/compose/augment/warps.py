"""Keras 3's geometric augmentations as registry ops, under Keras' names without
``Random``: ``translation``, ``zoom``, ``shear``, ``perspective``, ``elastic_transform``,
and ``flip``, ``rotation``, ``crop`` beside today's ``flip_lr``, ``rotate``,
``random_crop``.

Arguments follow the Keras layer of the same name (``RandomTranslation(height_factor,
width_factor, fill_mode='reflect', ...)``): a number ``f`` is the range ``(-f, f)``, a
pair is the range itself, and the transform is the one Keras computes from its draw
(tests compare the two). Two conventions differ, on purpose: the probability of ops
that may be skipped is ``p`` (Keras draws a probability from ``factor`` first), and
every example takes its own draws from the stream's seed. One draw moves the image and
its masks (nearest for masks); outside the image, ``fill_mode`` as in Keras
('reflect', 'constant' with ``fill_value``, 'wrap', 'nearest'; masks fill 0 where
images fill a constant).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from fastfeed.compose.augment.geometric import (FILL_MODES, _affine, _flip, flip_matrix,
                                               get_random_crop, sample_at, warp_matrices)
from fastfeed.compose.augment.photometric import gaussian_filter
from fastfeed.compose.augment.registry import (GEOMETRIC, Op, coin, factor_range,
                                               probability, register, seeds, to_dtype,
                                               uniform)

def check_fill(fill_mode: str, interpolation: str = "bilinear") -> None:
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode={fill_mode!r}: use one of {', '.join(FILL_MODES)}.")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation={interpolation!r}: use 'bilinear' or 'nearest'.")


def _projective_op(name: str, sample, matrix, fill_mode: str, fill_value: float,
                   interpolation: str, projective: bool = False) -> Op:
    """A geometric op whose ``matrix(params, height, width)`` (float64 [..., 8], output
    pixel -> input pixel) is applied by one ``ImageProjectiveTransformV3``; a run of
    such ops with the same fill and interpolation is fused into one resampling by the
    pipeline (see :func:`fastfeed.compose.augment.geometric.warp_matrices`; the
    transform is rounded to 2**-16, 256 px * 2**-16 = 0.004 px from Keras')."""
    check_fill(fill_mode, interpolation)
    op = Op(name, GEOMETRIC, sample, None, batchable=True, matrix=matrix,
            warp=(fill_mode, float(fill_value), interpolation), projective=projective)
    return dataclasses.replace(op, apply=lambda x, params, is_mask: warp_matrices(
        [op], [params], x, is_mask))


@register("flip")
def get_flip(mode="horizontal_and_vertical"):
    """Keras' RandomFlip: with probability 0.5, mirror left-right ('horizontal'),
    top-bottom ('vertical') or both at once ('horizontal_and_vertical', one draw for
    the two, as Keras; for independent flips use ``flip_lr|flip_ud``)."""
    modes = {"horizontal": (True, False), "vertical": (False, True),
             "horizontal_and_vertical": (True, True)}
    if mode not in modes:
        raise ValueError(f"flip mode={mode!r}: use one of {', '.join(modes)}.")
    horizontal, vertical = modes[mode]
    lr = _flip("flip", 0.5, along_rows=False)
    ud = _flip("flip", 0.5, along_rows=True)

    def grid(flip, height, width):
        never = tf.zeros_like(flip)
        return (ud.grid(flip if vertical else never, height, width)[0],
                lr.grid(flip if horizontal else never, height, width)[1])

    def apply(x, flip, is_mask):
        if horizontal:
            x = lr.apply(x, flip, is_mask)
        return ud.apply(x, flip, is_mask) if vertical else x

    def matrix(flip, height, width):  # joins a neighbouring warp (see _projective_op)
        never = tf.zeros_like(flip)
        return flip_matrix(flip if horizontal else never, flip if vertical else never,
                           height, width)
    return Op("flip", GEOMETRIC, lr.sample, apply, batchable=True, grid=grid, matrix=matrix)


@register("crop")
def get_crop(height, width):
    """Keras' RandomCrop: a ``height`` x ``width`` window at a uniform position (the
    image must be at least that big); ``random_crop((height, width))``."""
    op = get_random_crop((height, width))

    def matrix(offset, image_height, image_width):  # joins a neighbouring warp
        one, zero = tf.ones_like(offset[..., 0]), tf.zeros_like(offset[..., 0])
        return _affine(one, zero, offset[..., 1], zero, one, offset[..., 0])
    return Op("crop", GEOMETRIC, op.sample, op.apply, size=op.size, batchable=True,
              grid=op.grid, matrix=matrix)


@register("rotation")
def get_rotation(factor=0.1, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
    """Keras' RandomRotation: a rotation about the centre by ``factor`` of a full turn
    (0.1: up to 36 degrees either way)."""
    low, high = factor_range(factor, "factor")

    def matrix(turns, height, width):
        angle = turns * (2 * 3.141592653589793)
        cos, sin = tf.cos(angle), tf.sin(angle)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        return _affine(cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy)
    return _projective_op("rotation", lambda seed, shape, batch: uniform(seed, batch, low, high),
                          matrix, fill_mode, fill_value, interpolation)


@register("translation")
def get_translation(height_factor=0.1, width_factor=0.1, fill_mode="reflect",
                    interpolation="bilinear", fill_value=0.0):
    """Keras' RandomTranslation: a shift by up to ``height_factor`` of the height and
    ``width_factor`` of the width."""
    rows = factor_range(height_factor, "height_factor")
    cols = factor_range(width_factor, "width_factor")

    def sample(seed, shape, batch):
        row_seed, col_seed = seeds(seed, 2)
        return tf.stack([uniform(row_seed, batch, *rows), uniform(col_seed, batch, *cols)], -1)

    def matrix(shift, height, width):
        one = tf.ones_like(shift[..., 0])
        return _affine(one, 0 * one, -shift[..., 1] * width, 0 * one, one,
                       -shift[..., 0] * height)
    return _projective_op("translation", sample, matrix, fill_mode, fill_value, interpolation)


@register("zoom")
def get_zoom(height_factor=0.2, width_factor=None, fill_mode="reflect",
             interpolation="bilinear", fill_value=0.0):
    """Keras' RandomZoom: a scale about the centre by 1 + a factor from ``height_factor``
    (and ``width_factor``; None: the same draw, keeping the aspect). Positive factors
    zoom out (the image shrinks), negative ones in."""
    rows = factor_range(height_factor, "height_factor", -1.0 + 1e-6)
    cols = None if width_factor is None else factor_range(width_factor, "width_factor",
                                                          -1.0 + 1e-6)

    def sample(seed, shape, batch):
        row_seed, col_seed = seeds(seed, 2)
        zoom_rows = 1 + uniform(row_seed, batch, *rows)
        zoom_cols = zoom_rows if cols is None else 1 + uniform(col_seed, batch, *cols)
        return tf.stack([zoom_rows, zoom_cols], -1)

    def matrix(zoom, height, width):
        zy, zx = zoom[..., 0], zoom[..., 1]
        zero = tf.zeros_like(zx)
        return _affine(zx, zero, (width - 1) / 2 * (1 - zx), zero, zy, (height - 1) / 2 * (1 - zy))
    return _projective_op("zoom", sample, matrix, fill_mode, fill_value, interpolation)


@register("shear")
def get_shear(x_factor=0.0, y_factor=0.0, fill_mode="reflect", interpolation="bilinear",
              fill_value=0.0):
    """Keras' RandomShear: input x += sx * y and y += sy * x (about the top-left
    corner, as Keras), sx and sy from the factors (within [-1, 1]), both negated with
    probability 0.5."""
    xs, ys = factor_range(x_factor, "x_factor"), factor_range(y_factor, "y_factor")

    def sample(seed, shape, batch):
        x_seed, y_seed, sign_seed = seeds(seed, 3)
        sign = tf.where(coin(sign_seed, batch, 0.5), -1.0, 1.0)
        return tf.stack([uniform(x_seed, batch, *xs) * sign,
                         uniform(y_seed, batch, *ys) * sign], -1)

    def matrix(shear, height, width):
        one = tf.ones_like(shear[..., 0])
        return _affine(one, shear[..., 0], 0 * one, shear[..., 1], one, 0 * one)
    return _projective_op("shear", sample, matrix, fill_mode, fill_value, interpolation)


def homography(start, end):
    """The projective transform [..., 8] taking ``end`` points to ``start`` points
    ([..., 4, 2], (x, y)), i.e. output pixel -> input pixel of a warp that moves the
    corners ``start`` to ``end``; float64."""
    sx, sy = start[..., 0], start[..., 1]
    ex, ey = end[..., 0], end[..., 1]
    one, zero = tf.ones_like(ex), tf.zeros_like(ex)
    rows_x = tf.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1)
    rows_y = tf.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)
    system = tf.concat([rows_x, rows_y], -2)  # [..., 8, 8]
    target = tf.concat([sx, sy], -1)[..., None]
    return tf.linalg.solve(system, target)[..., 0]


def corners(height, width):
    """The corners (x, y) as Keras orders them: top-left, top-right, bottom-left,
    bottom-right; float64 [4, 2]."""
    zero = tf.zeros_like(width)
    return tf.stack([tf.stack([zero, zero]), tf.stack([width - 1, zero]),
                     tf.stack([zero, height - 1]), tf.stack([width - 1, height - 1])])


@register("perspective")
def get_perspective(scale=1.0, p=1.0, interpolation="bilinear", fill_value=0.0):
    """Keras' RandomPerspective: each corner point c moves to c + c * u, u uniform in
    [-scale/2, scale/2] per coordinate (so, as in Keras, the top-left corner stays),
    with probability p; constant fill."""
    if not isinstance(scale, (int, float)) or not 0 <= scale <= 1:
        raise ValueError(f"perspective scale must be in [0, 1], not {scale!r}.")
    p = probability(p)

    def sample(seed, shape, batch):
        move_seed, coin_seed = seeds(seed, 2)
        moves = uniform(move_seed, tf.concat([batch, [4, 2]], 0), -0.5 * scale, 0.5 * scale)
        return moves * tf.cast(coin(coin_seed, batch, p), tf.float32)[..., None, None]

    def matrix(moves, height, width):
        start = corners(height, width)
        return homography(start + tf.zeros_like(moves), start + start * moves)
    return _projective_op("perspective", sample, matrix, "constant", fill_value,
                          interpolation, projective=True)


@register("elastic_transform")
def get_elastic_transform(scale=1.0, p=1.0, fill_mode="reflect", interpolation="bilinear",
                          fill_value=0.0):
    """Keras' RandomElasticTransform: every pixel displaced by a smooth random field,
    Gaussian noise times sigma, blurred by sigma and scaled by alpha, with (Keras)
    alpha = 0.1 * f * max(H, W) and sigma = 0.05 * f * min(H, W) for a strength f
    uniform in [0, scale] (or a given (low, high)), with probability p. Unlike Keras
    (whose two fields are drawn from one seed, so equal), the row and column fields
    are independent. Examples are processed one by one."""
    if isinstance(scale, (int, float)) and scale < 0:
        raise ValueError(f"elastic_transform scale must be >= 0, not {scale!r}.")
    low, high = factor_range((0.0, float(scale)) if isinstance(scale, (int, float)) else
                             scale, "scale", 0.0, 1e9)
    p = probability(p)
    check_fill(fill_mode, interpolation)

    def sample(seed, shape, batch):
        strength_seed, coin_seed, field_seed = seeds(seed, 3)
        field_seeds = tf.random.stateless_uniform(tf.concat([batch, [2]], 0), field_seed,
                                                  minval=None, maxval=None, dtype=tf.int64)
        strength = tf.where(coin(coin_seed, batch, p), uniform(strength_seed, batch, low, high),
                            0.0)
        return strength, field_seeds

    def deform(x, strength, field_seed, is_mask):
        height, width = tf.shape(x)[0], tf.shape(x)[1]
        h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        alpha = 0.1 * strength * tf.maximum(h, w)
        sigma = 0.05 * strength * tf.minimum(h, w)
        noise = tf.random.stateless_normal(tf.stack([height, width, 2]), field_seed) * sigma
        # Keras' kernel: (6 * int(sigma)) | 1 taps.
        field = gaussian_filter(noise, tf.maximum(sigma, 1e-3),
                                tf.maximum(3 * tf.cast(sigma, tf.int32), 1)) * alpha
        rows = tf.cast(tf.range(height), tf.float32)[:, None] + field[..., 0]
        cols = tf.cast(tf.range(width), tf.float32)[None, :] + field[..., 1]
        out = sample_at(x[None], rows[None], cols[None], is_mask or interpolation == "nearest",
                        fill_mode, 0.0 if is_mask else fill_value)[0]
        return to_dtype(out, x.dtype)

    def apply(x, params, is_mask):
        strength, field_seed = params
        return tf.cond(strength > 0, lambda: deform(x, strength, field_seed, is_mask),
                       lambda: x)
    return Op("elastic_transform", GEOMETRIC, sample, apply)
