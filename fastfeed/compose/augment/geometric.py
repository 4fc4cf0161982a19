"""Geometric ops: one draw moves every image key and the masks (nearest for masks)."""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from fastfeed.compose.augment.registry import (GEOMETRIC, Op, coin,
                                               image_size, ordered_pair, probability,
                                               register, seeds, to_dtype, uniform)


def exact_transform(transform, fraction_bits: int = 7):
    """``transform`` rounded to multiples of 2**-fraction_bits (1/128 pixel).

    TF's bilinear ``ImageProjectiveTransformV3`` gives results that differ in the last
    bits when its coordinates do, and graph rewrites (Grappler reorders arithmetic
    differently in eager, ``tf.function`` and ``tf.data``) move coordinates computed in
    float32 by a bit now and then: enough to change a rounded uint8 pixel. With dyadic
    coefficients and integer pixel values every product and sum of the kernel is
    exact in float32 (coordinates need 21 bits, weighted sums 22), so any evaluation
    order or fused multiply-add gives the same bits. Compute the transform in float64
    before rounding it; 1/128 pixel is far below what sampling can show.
    """
    scale = float(2**fraction_bits)
    return tf.round(transform * scale) / scale


def warp(image, transform, output_shape, nearest=False):
    """``image`` [H, W, C] (or a batch [B, H, W, C] with transforms [B, 8]) resampled
    at ``transform`` [8] (output pixel -> input pixel, as in
    ``ImageProjectiveTransformV3``) into ``output_shape``; zeros outside."""
    single = image.shape.rank == 3
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None] if single else image,
        transforms=transform[None] if single else transform, output_shape=output_shape,
        fill_value=0.0, interpolation="NEAREST" if nearest else "BILINEAR",
        fill_mode="CONSTANT")
    return out[0] if single else out


FRACTION_BITS, PROJECTIVE_BITS = 16, 32
FILL_MODES = ("constant", "reflect", "wrap", "nearest")


def _square(transform):
    """[..., 8] -> [..., 3, 3] (the implicit 1 restored)."""
    ones = tf.ones_like(transform[..., :1])
    return tf.reshape(tf.concat([transform, ones], -1),
                      tf.concat([tf.shape(transform)[:-1], [3, 3]], 0))


def transform_of(ops, params, height, width):
    """The float64 transform [..., 8] of the ``ops``' matrices' product (given their
    ``params``, applied in order) for an input of ``height`` x ``width`` (int32
    scalars). The product is computed in float64 and rounded to 2**-16 (2**-32 for the
    projective terms), so every graph path gives the same bits."""
    height, width = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    product = None
    for op, p in zip(ops, params):
        matrix = _square(op.matrix(tf.nest.map_structure(
            lambda v: tf.cast(v, tf.float64), p), height, width))
        product = matrix if product is None else tf.linalg.matmul(product, matrix)
        if op.size is not None:
            height, width = (tf.constant(v, tf.float64) for v in op.size)
    flat = tf.reshape(product, tf.concat([tf.shape(product)[:-2], [9]], 0))
    flat = flat[..., :8] / flat[..., 8:]
    transform = tf.concat([exact_transform(flat[..., :6], FRACTION_BITS),
                           exact_transform(flat[..., 6:], PROJECTIVE_BITS)], -1)
    return transform


def _fill_index(index, length, fill_mode):
    """Integer ``index`` brought inside [0, length) as ``fill_mode`` extends the image
    (reflect: d c b a | a b c d | d c b a, as ImageProjectiveTransformV3), and whether
    it was inside."""
    inside = (index >= 0) & (index < length)
    if fill_mode == "wrap":
        return tf.math.floormod(index, length), inside
    if fill_mode == "reflect":
        index = tf.math.floormod(index, 2 * length)
        return tf.where(index >= length, 2 * length - 1 - index, index), inside
    return tf.clip_by_value(index, 0, length - 1), inside


WEIGHT_BITS = 11  # bilinear weights of uint8 images in 1/2048 px: the blend fits int32


def _bilinear_fixed(tap, fy, fx):
    """The bilinear blend of 8-bit values in integers at ``fy``, ``fx`` (int32
    coordinates in 1/2048 px): weights of 11 bits, the four taps blended in int32 and
    rounded half up (what OpenCV does with 5 bits). Within one level of the float64
    blend, 1.65x faster here; the same bits however XLA orders the arithmetic."""
    one = 1 << WEIGHT_BITS
    top, left = tf.bitwise.right_shift(fy, WEIGHT_BITS), tf.bitwise.right_shift(fx, WEIGHT_BITS)
    wy = tf.bitwise.bitwise_and(fy, one - 1)[..., None]
    wx = tf.bitwise.bitwise_and(fx, one - 1)[..., None]
    upper = tap(top, left) * (one - wx) + tap(top, left + 1) * wx
    lower = tap(top + 1, left) * (one - wx) + tap(top + 1, left + 1) * wx
    blend = upper * (one - wy) + lower * wy
    return tf.bitwise.right_shift(blend + (1 << (2 * WEIGHT_BITS - 1)), 2 * WEIGHT_BITS)


def _fixed(coordinate):
    """Float coordinates -> int32 in 1/2048 px (floor)."""
    return tf.cast(tf.floor(coordinate * (1 << WEIGHT_BITS)), tf.int32)


def _taps(x, fill_mode, fill_value):
    """``tap(row, col, dtype=None)``: the values of ``x`` [B, H, W, C] at integer
    ``row`` and ``col`` [B, H', W'], outside the image as ``fill_mode``."""
    height, width, channels = tf.shape(x)[1], tf.shape(x)[2], tf.shape(x)[3]
    flat = tf.reshape(x, tf.stack([-1, channels]))
    base = (tf.range(tf.shape(x)[0]) * height * width)[:, None, None]

    def tap(row, col, dtype=None):
        row, row_in = _fill_index(row, height, fill_mode)
        col, col_in = _fill_index(col, width, fill_mode)
        values = tf.gather(flat, base + row * width + col)
        if dtype is not None:
            values = tf.cast(values, dtype)
        if fill_mode == "constant":
            fill = tf.round(fill_value) if dtype is not None and dtype.is_integer else fill_value
            values = tf.where((row_in & col_in)[..., None], values,
                              tf.cast(fill, values.dtype))
        return values
    return tap


def _sample_fixed(x, fy, fx, nearest, fill_mode, fill_value):
    """``x`` [B, H, W, C] at int32 source coordinates in 1/2048 px [B, H', W']:
    nearest (half up; the dtype kept) or, for 8-bit images, :func:`_bilinear_fixed`
    (int32 out)."""
    tap = _taps(x, fill_mode, fill_value)
    if nearest:
        half = 1 << (WEIGHT_BITS - 1)
        return tap(tf.bitwise.right_shift(fy + half, WEIGHT_BITS),
                   tf.bitwise.right_shift(fx + half, WEIGHT_BITS))
    return _bilinear_fixed(lambda row, col: tap(row, col, tf.int32), fy, fx)


def sample_at(x, rows, cols, nearest, fill_mode, fill_value):
    """``x`` [B, H, W, C] at the source ``rows`` and ``cols`` [B, H', W'] of every
    output pixel (floats): bilinear in the coordinates' dtype (values cast to it; 8-bit
    images in fixed point, :func:`_bilinear_fixed`, int32 out), or ``nearest`` (half
    up, as ImageProjectiveTransformV3; the dtype kept); outside the image as
    ``fill_mode`` (one of FILL_MODES, 'constant' filling ``fill_value``)."""
    if nearest:
        tap = _taps(x, fill_mode, fill_value)
        return tap(tf.cast(tf.floor(rows + 0.5), tf.int32),
                   tf.cast(tf.floor(cols + 0.5), tf.int32))
    if x.dtype == tf.uint8:
        return _sample_fixed(x, _fixed(rows), _fixed(cols), False, fill_mode, fill_value)
    tap = _taps(x, fill_mode, fill_value)
    top, left = tf.floor(rows), tf.floor(cols)
    wy, wx = (rows - top)[..., None], (cols - left)[..., None]
    top, left = tf.cast(top, tf.int32), tf.cast(left, tf.int32)
    upper = tap(top, left, rows.dtype) * (1 - wx) + tap(top, left + 1, rows.dtype) * wx
    lower = tap(top + 1, left, rows.dtype) * (1 - wx) + tap(top + 1, left + 1, rows.dtype) * wx
    return upper * (1 - wy) + lower * wy


def _affine_terms(transform, out_height, out_width, fill_mode, sides):
    """The integer terms of the source coordinates of an affine ``transform`` [B, 8]
    (float64, multiples of 2**-16 as :func:`transform_of` rounds them), in 2**-16 px,
    int64: ``[(row_term [B, H', 1], column_term [B, 1, W'])]`` for the rows, then the
    columns; a pixel's coordinate is their sum. With a periodic fill ('reflect',
    'wrap') each is reduced by whole periods (2 * side, the side), which moves no
    folded pixel. Computed outside XLA, which would recompute them for every pixel."""
    t = tf.cast(tf.round(transform * (1 << FRACTION_BITS)), tf.int64)
    ys = tf.range(out_height, dtype=tf.int64)[None, :, None]
    xs = tf.range(out_width, dtype=tf.int64)[None, None, :]
    fold = {"reflect": 2, "wrap": 1}.get(fill_mode)
    terms = []
    for axis, (a, b, c) in enumerate(((t[:, 3], t[:, 4], t[:, 5]),
                                       (t[:, 0], t[:, 1], t[:, 2]))):
        row_term = b[:, None, None] * ys + c[:, None, None]
        column_term = a[:, None, None] * xs
        if fold is not None:
            cycle = fold * tf.cast(sides[axis], tf.int64) * (1 << FRACTION_BITS)
            row_term = tf.math.floormod(row_term, cycle)
            column_term = tf.math.floormod(column_term, cycle)
        terms.append((row_term, column_term))
    return terms


def _fits_int32(terms):
    """Whether every coordinate's two terms, and their sum, fit in int32 (sources
    within 16,384 px of the origin, whatever the fill)."""
    largest = [tf.reduce_max(tf.abs(row)) + tf.reduce_max(tf.abs(column))
               for row, column in terms]
    return tf.reduce_max(tf.stack(largest)) < (1 << 30)


def _fixed_coordinates(terms, fill_mode, sides):
    """The int32 source coordinates (rows, cols) [B, H', W'] in 1/2048 px of
    :func:`_affine_terms`' ``terms`` (int32 when they fit, else int64): the same
    pixels as ``floor(coordinate * 2048)`` of the float64 maths. In int64, other fills
    than the periodic ones clamp the coordinate to [-2, side + 1] px, beyond which
    every tap lies outside just as before."""
    shift = FRACTION_BITS - WEIGHT_BITS
    out = []
    for (row_term, column_term), side in zip(terms, sides):
        fixed = tf.bitwise.right_shift(row_term + column_term, shift)
        if row_term.dtype == tf.int32:
            out.append(fixed)
            continue
        if fill_mode not in ("reflect", "wrap"):
            side = tf.cast(side, tf.int64)
            fixed = tf.clip_by_value(fixed, -2 * (1 << WEIGHT_BITS),
                                     (side + 1) * (1 << WEIGHT_BITS))
        out.append(tf.cast(fixed, tf.int32))
    return out


@tf.function(jit_compile=True)
def _resample_affine(x, terms, nearest, fill_mode, fill_value):
    """:func:`_resample` for an affine transform of 8-bit images, or sampled nearest:
    the coordinates from :func:`_affine_terms`, all in integers (the same bits)."""
    sides = (tf.shape(x)[1], tf.shape(x)[2])
    fy, fx = _fixed_coordinates(terms, fill_mode, sides)
    out = _sample_fixed(x, fy, fx, nearest, fill_mode, fill_value)
    return out if nearest else tf.cast(out, x.dtype)


def _resample(x, transform, output_shape, nearest, fill_mode, fill_value, affine=False):
    """``x`` [B, H, W, C] sampled at ``transform`` [B, 8] (float64, output pixel ->
    input pixel) into ``output_shape`` (a tuple, or None: the input's): the result of
    ImageProjectiveTransformV3 (to within one level of rounding), 4.5x faster here
    under XLA. Coordinates, weights and the bilinear blend are exact for transforms
    rounded as :func:`transform_of` rounds them and 8-bit values, so the bits do not
    depend on how XLA orders the arithmetic: float64, or, for an ``affine`` transform
    (no projective terms) of 8-bit images or sampled nearest, integers
    (:func:`_resample_affine`, the same bits, 1.9x faster; sums in int32 when they
    fit, as they do for every periodic fill and any source within 16,384 px). 8-bit
    images come back 8-bit (the blend is whole levels), others float32; ``nearest``
    keeps the dtype."""
    if affine and (nearest or x.dtype == tf.uint8):
        shape = tf.shape(x)
        out_height, out_width = ((shape[1], shape[2]) if output_shape is None
                                 else output_shape)
        terms = _affine_terms(transform, out_height, out_width, fill_mode,
                              (shape[1], shape[2]))
        narrow = tf.nest.map_structure(lambda term: tf.cast(term, tf.int32), terms)
        return tf.cond(_fits_int32(terms),
                       lambda: _resample_affine(x, narrow, nearest, fill_mode, fill_value),
                       lambda: _resample_affine(x, terms, nearest, fill_mode, fill_value))
    return _resample_projective(x, transform, output_shape, nearest, fill_mode, fill_value)


@tf.function(jit_compile=True)
def _resample_projective(x, transform, output_shape, nearest, fill_mode, fill_value):
    """:func:`_resample` in float64 coordinates."""
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    out_height, out_width = (height, width) if output_shape is None else output_shape
    t = transform[:, :, None, None]
    ys = tf.cast(tf.range(out_height), tf.float64)[None, :, None]
    xs = tf.cast(tf.range(out_width), tf.float64)[None, None, :]
    denominator = t[:, 6] * xs + t[:, 7] * ys + 1
    sx = (t[:, 0] * xs + t[:, 1] * ys + t[:, 2]) / denominator
    sy = (t[:, 3] * xs + t[:, 4] * ys + t[:, 5]) / denominator
    out = sample_at(x, sy, sx, nearest, fill_mode, fill_value)
    if nearest:
        return out
    return tf.cast(out, x.dtype if x.dtype == tf.uint8 else tf.float32)


def warp_matrices(ops, params, x, is_mask):
    """``x`` resampled once by the product of the ``ops``' matrices (given their
    ``params``, applied in order; see :func:`transform_of`), all with the same ``warp``
    settings (or none, for flips and crops); the output has the size of the last op
    with a ``size``. Images come back in their dtype (rounded), masks are sampled
    nearest."""
    fill_mode, fill_value, interpolation = next(op.warp for op in ops if op.warp)
    shape = tf.shape(x)
    transform = transform_of(ops, params, shape[-3], shape[-2])
    output_shape = next((tuple(op.size) for op in reversed(ops) if op.size is not None),
                        None)
    nearest = is_mask or interpolation == "nearest"
    single = x.shape.rank == 3
    batch_transform = tf.broadcast_to(transform, tf.concat([
        [1] if single else tf.shape(x)[:1], [8]], 0))
    out = _resample(x[None] if single else x, batch_transform,
                    output_shape, nearest, fill_mode,
                    0.0 if is_mask else float(fill_value),
                    not any(op.projective for op in ops))
    out = out[0] if single else out
    return out if out.dtype == x.dtype else to_dtype(out, x.dtype)


def gather_grid(x, rows, cols):
    """``x`` [H, W, C] at the source ``rows`` [H'] and ``cols`` [W'] of every output
    pixel (a batch [B, H, W, C] with rows [B, H'] and cols [B, W']). Compiled with XLA:
    a batch of random crops 0.46 -> 0.06 CPU ms an image here."""
    if rows.shape.rank == 1:
        return _gather_one(x, rows, cols)
    return _gather_batch(x, rows, cols)


@tf.function(jit_compile=True)
def _gather_one(x, rows, cols):
    return tf.gather(tf.gather(x, rows, axis=0), cols, axis=1)


@tf.function(jit_compile=True)
def _gather_batch(x, rows, cols):
    return tf.gather(tf.gather(x, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def grid_of(ops, params, height, width):
    """Source ``(rows, cols)`` of every output pixel of nearest ``ops`` (each with a
    ``grid``) applied in order to ``height x width`` images, for the draws' batch
    shape: one gather does them all."""
    rows = cols = None
    for op, p in zip(ops, params):
        op_rows, op_cols = op.grid(p, height if rows is None else tf.shape(rows)[-1],
                                   width if cols is None else tf.shape(cols)[-1])
        if rows is None:
            rows, cols = op_rows, op_cols
        else:
            rows = tf.gather(rows, op_rows, batch_dims=rows.shape.rank - 1)
            cols = tf.gather(cols, op_cols, batch_dims=cols.shape.rank - 1)
    return rows, cols


def _grid_op(name, sample, grid, size) -> Op:
    """A nearest geometric op defined by its ``grid``: applying it is gathering the
    grid's pixels, so a table read and a whole image give the same pixels."""
    def apply(x, params, is_mask):
        shape = tf.shape(x)
        return gather_grid(x, *grid(params, shape[-3], shape[-2]))
    return Op(name, GEOMETRIC, sample, apply, size=size, batchable=True, grid=grid)


def _span(batch, length):
    """``range(length)`` broadcast to ``batch + [length]``."""
    return tf.broadcast_to(tf.range(length), tf.concat([batch, [length]], 0))


def _nearest(start, extent, output):
    """Source indices of ``output`` samples spread over [start, start + extent),
    sample i at the centre of its cell: start + floor((i + 0.5) * extent / output).
    Integer arithmetic, so every path computes the same indices."""
    steps = tf.range(output)
    return (tf.expand_dims(start, -1)
            + (2 * steps + 1) * tf.expand_dims(extent, -1) // (2 * output))


def _affine(a0, a1, a2, b0, b1, b2):
    """The transform [..., 8] of an affine map (no projective terms)."""
    zero = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=-1)


def flip_matrix(horizontal, vertical, height, width):
    """The transform of mirroring left-right where ``horizontal`` is 1 and top-bottom
    where ``vertical`` is 1 (float, 0 or 1), for ``height`` x ``width`` images."""
    sx, sy = 1 - 2 * horizontal, 1 - 2 * vertical
    zero = tf.zeros_like(sx)
    return _affine(sx, zero, (1 - sx) / 2 * (width - 1), zero, sy, (1 - sy) / 2 * (height - 1))


def _flip(name: str, p: float, along_rows: bool) -> Op:
    """Mirror rows (``along_rows``) or columns with probability p."""
    p = probability(p)

    def grid(flip, height, width):
        batch = tf.shape(flip)
        rows, cols = _span(batch, height), _span(batch, width)
        if along_rows:
            return tf.where(tf.expand_dims(flip, -1), height - 1 - rows, rows), cols
        return rows, tf.where(tf.expand_dims(flip, -1), width - 1 - cols, cols)

    axis = -3 if along_rows else -2

    def apply(x, flip, is_mask):
        if flip.shape.rank == 0:  # one example: only the branch taken
            return tf.cond(flip, lambda: _reversed(x, axis), lambda: x)
        return _reversed_where(x, flip, axis)

    def matrix(flip, height, width):  # joins a neighbouring warp
        never = tf.zeros_like(flip)
        return flip_matrix(never if along_rows else flip, flip if along_rows else never,
                           height, width)
    return Op(name, GEOMETRIC, lambda seed, shape, batch: coin(seed, batch, p), apply,
              batchable=True, grid=grid, matrix=matrix)


@tf.function(jit_compile=True)
def _reversed(x, axis):
    """``x`` mirrored along ``axis``, compiled (TF's kernel: 3x slower here)."""
    return tf.reverse(x, [axis])


@tf.function(jit_compile=True)
def _reversed_where(x, flip, axis):
    """The batch ``x`` with examples where ``flip`` [B] mirrored along ``axis``:
    compiled, 6.4x cheaper here than TF's reverse and Select (a 384x384 image)."""
    return tf.where(flip[:, None, None, None], tf.reverse(x, [axis]), x)


@register("flip_lr")
def get_flip_lr(p=0.5):
    """Mirror left-right with probability p."""
    return _flip("flip_lr", p, along_rows=False)


@register("flip_ud")
def get_flip_ud(p=0.5):
    """Mirror top-bottom with probability p."""
    return _flip("flip_ud", p, along_rows=True)


@register("rot90")
def get_rot90(p=1.0):
    """With probability p, a rotation by 90, 180 or 270 degrees (square images keep
    their shape; batches must be square)."""
    p = probability(p)

    def sample(seed, shape, batch):
        turn_seed, coin_seed = seeds(seed, 2)
        turns = tf.random.stateless_uniform(batch, turn_seed, 1, 4, tf.int32)
        return tf.where(coin(coin_seed, batch, p), turns, 0)
    return Op("rot90", GEOMETRIC, sample, lambda x, k, is_mask: tf.image.rot90(x, k))


def _resize(image, size, is_mask):
    out = tf.image.resize(image, size, method="nearest" if is_mask else "bilinear")
    return tf.cast(out, image.dtype) if is_mask else out


@register("resize")
def get_resize(size, method="bilinear"):
    """Resize to ``size`` (int or (height, width)); ``method`` 'bilinear' (masks
    nearest) or 'nearest' (every key: a gather of whole pixels)."""
    size = image_size(size)
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"resize method must be 'bilinear' or 'nearest', not {method!r}.")
    sample = lambda seed, shape, batch: tf.zeros(batch)  # noqa: E731  (nothing to draw)
    if method == "bilinear":
        return Op("resize", GEOMETRIC, sample,
                  lambda x, params, is_mask: _resize(x, size, is_mask), size=size,
                  batchable=True)

    def grid(params, height, width):
        batch = tf.shape(params)
        return (_nearest(tf.zeros(batch, tf.int32), tf.fill(batch, height), size[0]),
                _nearest(tf.zeros(batch, tf.int32), tf.fill(batch, width), size[1]))
    return _grid_op("resize", sample, grid, size)


@register("center_crop")
def get_center_crop(size):
    """The central ``size`` window (padded with zeros where the image is smaller)."""
    height, width = image_size(size)
    return Op("center_crop", GEOMETRIC, lambda seed, shape, batch: tf.zeros(batch),
              lambda x, params, is_mask: tf.image.resize_with_crop_or_pad(x, height, width),
              size=(height, width), batchable=True)


@register("random_crop")
def get_random_crop(size):
    """A ``size`` window at a uniform position (the image must be at least that big)."""
    height, width = image_size(size)

    def sample(seed, shape, batch):
        row_seed, col_seed = seeds(seed, 2)
        return tf.stack([
            tf.random.stateless_uniform(batch, row_seed, 0, shape[0] - height + 1, tf.int32),
            tf.random.stateless_uniform(batch, col_seed, 0, shape[1] - width + 1, tf.int32)],
            axis=-1)

    def grid(offset, image_height, image_width):
        offset = tf.unstack(offset, 2, axis=-1)
        return (tf.expand_dims(offset[0], -1) + tf.range(height),
                tf.expand_dims(offset[1], -1) + tf.range(width))
    op = _grid_op("random_crop", sample, grid, (height, width))

    def apply(x, offset, is_mask):  # one example: a slice (a copy, not a gather)
        if x.shape.rank != 3:
            return op.apply(x, offset, is_mask)
        return tf.slice(x, tf.concat([offset, [0]], 0), tf.stack([height, width, -1]))
    return dataclasses.replace(op, apply=apply)


@register("random_resized_crop")
def get_random_resized_crop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), method="bilinear"):
    """Inception-style crop: area fraction in ``scale``, aspect ratio in ``ratio``,
    resized to ``size``. ``method='nearest'`` samples whole pixels (one gather, any
    dtype, batches and tables of faces at once); 'bilinear' resizes the crop (masks
    nearest)."""
    size = image_size(size)
    scale, ratio = ordered_pair(scale, "scale"), ordered_pair(ratio, "ratio")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must be within (0, 1], not {scale!r}.")
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"random_resized_crop method must be 'bilinear' or 'nearest', "
                         f"not {method!r}.")

    def sample(seed, shape, batch):
        area_seed, ratio_seed, top_seed, left_seed = seeds(seed, 4)
        height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
        area = uniform(area_seed, batch, *scale) * height * width
        aspect = tf.exp(uniform(ratio_seed, batch, math.log(ratio[0]), math.log(ratio[1])))
        crop_w = tf.minimum(tf.sqrt(area * aspect), width)
        crop_h = tf.minimum(tf.sqrt(area / aspect), height)
        top = uniform(top_seed, batch) * (height - crop_h)
        left = uniform(left_seed, batch) * (width - crop_w)
        box = tf.cast(tf.round(tf.stack([top, left, crop_h, crop_w], axis=-1)), tf.int32)
        return tf.maximum(box, [0, 0, 1, 1])

    if method == "bilinear":
        def matrix(box, height, width):
            # The whole-pixel box stretched over the output, pixel centres on pixel
            # centres (tf.image.resize's half-pixel convention): one resampling, fused
            # with the warps and flips around it; masks nearest.
            top, left, box_height, box_width = tf.unstack(box, 4, axis=-1)
            scale_y, scale_x = box_height / size[0], box_width / size[1]
            zero = tf.zeros_like(scale_x)
            return _affine(scale_x, zero, left + 0.5 * scale_x - 0.5, zero, scale_y,
                           top + 0.5 * scale_y - 0.5)
        op = Op("random_resized_crop", GEOMETRIC, sample, None, size=size, batchable=True,
                matrix=matrix, warp=("nearest", 0.0, "bilinear"))
        return dataclasses.replace(op, apply=lambda x, params, is_mask: warp_matrices(
            [op], [params], x, is_mask))

    def grid(box, height, width):
        top, left, height_, width_ = tf.unstack(box, 4, axis=-1)
        return _nearest(top, height_, size[0]), _nearest(left, width_, size[1])
    return _grid_op("random_resized_crop", sample, grid, size)


@register("rotate")
def get_rotate(degrees=15.0, p=1.0):
    """With probability p, a rotation about the centre by an angle uniform in
    [-degrees, degrees]; corners filled with zeros; masks nearest."""
    low, high = ordered_pair(degrees, "degrees") if isinstance(degrees, (tuple, list)) else (
        -float(degrees), float(degrees))
    p = probability(p)

    def sample(seed, shape, batch):
        angle_seed, coin_seed = seeds(seed, 2)
        angle = uniform(angle_seed, batch, low, high) * (math.pi / 180)
        return tf.where(coin(coin_seed, batch, p), angle, 0.0)

    def apply(x, angle, is_mask):
        height, width = (tf.cast(v, tf.float64) for v in tf.unstack(tf.shape(x)[-3:-1]))
        angle = tf.cast(angle, tf.float64)
        cos, sin = tf.cos(angle), tf.sin(angle)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        zero = tf.zeros_like(cos)
        transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                              sin, cos, cy - sin * cx - cos * cy, zero, zero], axis=-1)
        transform = tf.cast(exact_transform(transform), tf.float32)
        return warp(x, transform, tf.shape(x)[-3:-1], nearest=is_mask)
    return Op("rotate", GEOMETRIC, sample, apply, batchable=True)
