"""The colour maths of the photometric ops, written once in ``keras.ops``.

The stream's registry ops (:mod:`fastfeed.compose.augment`, in tf.data, on the CPU)
and the model layers of the same names (:mod:`fastfeed.models.layers`, on the
accelerator, any Keras backend) both call these, so a stream op and a model layer
given the same factor give the same pixels. It imports only Keras, so that streams
and models share it without importing each other. Images are float in
[0, 255], [..., H, W, 3]; ``factor`` is a scalar for one image or [B] for a batch.
"""

from __future__ import annotations

from keras import ops

# Luma weights as Keras' rgb_to_grayscale has them, so that `grayscale` and
# keras.layers.RandomGrayscale compute the same thing.
LUMA = (0.2989, 0.5870, 0.1140)


def per_example(factor, x):
    """``factor`` shaped to broadcast against ``x``: [B] -> [B, 1, 1, 1]."""
    if len(factor.shape) == 0:
        return factor
    return ops.reshape(factor, (-1,) + (1,) * (len(x.shape) - 1))


def luma(x):
    """The luma of ``x`` [..., 3], keeping a channel axis of 1."""
    return ops.sum(x * ops.convert_to_tensor(LUMA, dtype=x.dtype), axis=-1, keepdims=True)


def adjust_brightness(x, factor):
    """Multiplicative brightness: ``x * factor``."""
    return ops.clip(x * per_example(factor, x), 0, 255)


MEAN_STEPS = 128  # the contrast mean counts each value to 1/128 of a level


def mean_of(x):
    """The mean of each image of ``x`` [..., H, W, C] over pixels and channels, kept as
    [..., 1, 1, 1]: every value rounded to 1/128 of a level, summed exactly in
    integers (int32 along each row of up to 65,535 pixels, then float64), so that an
    image gives the same bits alone or in a batch however the reduction is tiled (a
    float32 sum's rounding is not: one level apart on 1 value in 19,200 at 96 px), 2x
    faster than a float64 sum under XLA here. Within 1/256 of a level of the exact
    mean. Where float64 is missing (TPUs; JAX without x64) the last sum is float32."""
    steps = ops.cast(ops.round(x * MEAN_STEPS), "int32")
    rows = ops.sum(steps, axis=-2)  # [..., H, C]
    total = ops.sum(ops.cast(rows, "float64"), axis=(-2, -1), keepdims=True)
    count = x.shape[-3] * x.shape[-2] * x.shape[-1] if None not in x.shape[-3:] else None
    if count is None:
        shape = ops.shape(x)
        count = ops.cast(shape[-3] * shape[-2] * shape[-1], "float64")
    return ops.cast(total[..., None] / (count * MEAN_STEPS), x.dtype)


def adjust_contrast(x, factor):
    """The distance to the image's mean (over pixels and channels, :func:`mean_of`)
    scaled by ``factor``."""
    mean = mean_of(x)
    return ops.clip((x - mean) * per_example(factor, x) + mean, 0, 255)


def adjust_saturation(x, factor):
    """The distance to the luma scaled by ``factor``."""
    gray = luma(x)
    return ops.clip((x - gray) * per_example(factor, x) + gray, 0, 255)


ADJUST = {"brightness": adjust_brightness, "contrast": adjust_contrast,
          "saturation": adjust_saturation}


def factor_range(name: str, amount) -> tuple[float, float]:
    """``amount`` -> the factors' (low, high): a number a gives (1 - a, 1 + a), a pair
    is taken as it is; factors must stay >= 0."""
    if isinstance(amount, (int, float)):
        low, high = 1 - amount, 1 + amount
    elif (isinstance(amount, (tuple, list)) and len(amount) == 2
          and all(isinstance(v, (int, float)) for v in amount) and amount[0] <= amount[1]):
        low, high = amount
    else:
        raise ValueError(f"{name} must be a number or an ordered pair (low, high), not "
                         f"{amount!r}.")
    if low < 0:
        raise ValueError(f"{name} must leave factors >= 0, not {amount!r}.")
    return float(low), float(high)
