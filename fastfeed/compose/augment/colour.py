"""The colour maths of the photometric ops, written once in ``keras.ops``.

The registry ops (in tf.data, on the CPU) and the Keras layers of the same names
(inside a model, on the accelerator, any Keras backend) both call these, so a stream
op and a model layer given the same factor give the same pixels. Images are float in
[0, 255], [..., H, W, 3]; ``factor`` is a scalar for one image or [B] for a batch.
"""

from __future__ import annotations

from keras import ops

from fastfeed.compose.augment.registry import ordered_pair

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
    """The distance to the image's mean (over pixels and channels) scaled by ``factor``."""
    mean = ops.mean(x, axis=(-3, -2, -1), keepdims=True)
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
    low, high = (1 - amount, 1 + amount) if isinstance(amount, (int, float)) else (
        ordered_pair(amount, name))
    if low < 0:
        raise ValueError(f"{name} must leave factors >= 0, not {amount!r}.")
    return float(low), float(high)
