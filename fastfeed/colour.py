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


def adjust_contrast(x, factor):
    """The distance to the image's mean (over pixels and channels) scaled by ``factor``.
    The mean is summed in float64, so that an image gives the same bits alone or in a
    batch (a float32 sum's rounding depends on how the reduction is tiled: one level
    apart on 1 value in 19,200 at 96 px). Where float64 is missing (TPUs; JAX without
    x64) it is float32, the same maths to within that rounding."""
    mean = ops.cast(ops.mean(ops.cast(x, "float64"), axis=(-3, -2, -1), keepdims=True),
                    x.dtype)
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
