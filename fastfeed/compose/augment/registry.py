"""The op registry and the spec parser: ``"flip_lr|rotate(10)|hue(0.05)"`` -> ops.

An op is a small registered factory (the big_vision style), ``get_<op>(args) -> Op``:
``Op.sample`` draws the random parameters, ``Op.apply`` applies them deterministically
(the albumentations split of ``get_params`` and ``apply``). Arguments in a spec are
Python literals only, parsed with ``ast`` (no ``eval``).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Callable

import tensorflow as tf
from tensorflow.python.ops import cond_v2

from fastfeed.compose.opspec import did_you_mean, parse_op

GEOMETRIC, PHOTOMETRIC, MIXING = "geometric", "photometric", "mixing"


@dataclasses.dataclass(frozen=True)
class Op:
    """One augmentation op.

    ``sample(seed, shape, batch) -> params`` draws from a stateless ``seed`` for images
    of ``shape`` ([H, W, C], a tensor); ``batch`` is ``[]`` for one example or ``[B]``
    for a batch, whose example i takes element i of every draw.
    ``apply(x, params, is_mask) -> x`` applies them to a float image in [0, 255]
    (geometric ops: any dtype) or a mask. With ``batchable``, ``apply`` also takes a
    batch [B, H, W, C] with params of leading size B, computing exactly what it
    computes per example. ``grid(params, height, width) -> (rows, cols)`` (nearest
    geometric ops only) gives the source row and column of every output pixel, so
    that a run of such ops is one gather from a table of images.

    ``MIXING`` ops (CutMix, MixUp) mix the examples of a batch with each other:
    ``apply(images, masks, labels, params) -> (images, masks, labels)`` on dicts of
    batches (see :mod:`fastfeed.compose.augment.mixing`). ``maskable=False``: an op
    whose output no mask can follow (AugMix with its geometric ops), refused on
    examples with masks.
    """

    name: str
    kind: str
    sample: Callable
    apply: Callable
    xla: bool = True  # photometric ops: may be compiled with their neighbours
    # Photometric ops that read neighbouring pixels start their own XLA call: fused
    # with the ops before them, XLA recomputes those for every tap (sharpness after
    # colour jitter: 0.53 -> 0.77 CPU ms a 256x256 image here).
    stencil: bool = False
    # Photometric ops whose apply takes images of any dtype and returns that dtype
    # (integers rounded), the same values as on float32 and rounding after: an 8-bit
    # image need not go through float32 and back (each a pass over the pixels).
    any_dtype: bool = False
    size: tuple[int, int] | None = None  # the output size of fixed-size geometric ops
    batchable: bool = False
    grid: Callable | None = None
    maskable: bool = True
    # Projective ops: matrix(params, height, width) -> float64 [..., 8] (output pixel ->
    # input pixel) and warp = (fill_mode, fill_value, interpolation). A run of such ops
    # with the same warp is one resampling with the product of their matrices.
    matrix: Callable | None = None
    warp: tuple | None = None
    projective: bool = False  # the matrix has projective terms (else affine: faster)
    # check(mask dtypes, label dtypes): ValueError for keys the op cannot handle.
    check: Callable | None = None


REGISTRY: dict[str, Callable[..., Op]] = {}


def register(name: str):
    """Registers ``factory(*args, **kwargs) -> Op`` under ``name``."""
    def decorate(factory):
        if name in REGISTRY:
            raise ValueError(f"Augmentation op {name!r} is registered twice.")
        REGISTRY[name] = factory
        return factory
    return decorate


def available() -> dict[str, str]:
    """``{name: signature}`` of every registered op."""
    return {name: f"{name}{inspect.signature(factory)}" for name, factory
            in sorted(REGISTRY.items())}


def listing() -> str:
    return "; ".join(available().values())


def build_op(text: str) -> Op:
    """One op from ``name`` or ``name(literal args)``; ValueError if unknown or bad."""
    name, args, kwargs = parse_op(text)
    if name not in REGISTRY:
        raise ValueError(f"Unknown augmentation op {name!r}.{did_you_mean(name, REGISTRY)} "
                         f"Available: {listing()}.")
    factory = REGISTRY[name]
    try:
        inspect.signature(factory).bind(*args, **kwargs)
    except TypeError as error:
        raise ValueError(f"Bad arguments for augmentation op {text!r}: {error}. "
                         f"Expected {available()[name]}.") from None
    return factory(*args, **kwargs)


def uniform(seed, batch, low=0.0, high=1.0):
    """Floats uniform in [low, high), of shape ``batch``."""
    return tf.random.stateless_uniform(batch, seed, low, high)


def coin(seed, batch, p):
    return uniform(seed, batch) < p


def seeds(seed, n):
    return tf.unstack(tf.random.experimental.stateless_split(seed, n))


def to_dtype(x, dtype):
    """``x`` in ``dtype``: rounded and saturated for integer dtypes, cast otherwise."""
    return tf.saturate_cast(tf.round(x), dtype) if dtype.is_integer else tf.cast(x, dtype)


def switch(index, branches):
    """``branches[index]()``, the branch run as a function of its own rather than
    lowered into the graph: lowered, every op of every branch not taken is still
    visited as dead (RandAugment's 11 branches, two slots: 0.33 -> 0.13 CPU ms of
    overhead per example in a tf.data map here)."""
    if tf.executing_eagerly():
        return branches[int(index)]()
    return cond_v2.indexed_case(index, branches, lower_using_switch_merge=False)


def apply_where(condition, transform, x):
    """``transform(x)`` where ``condition`` holds, else ``x``. One example (a scalar
    condition): ``tf.cond``, which computes only the branch taken. A batch (condition
    [B]): whole examples chosen by ``Select``. ``tf.where`` with a broadcast condition
    costs 12x more here (a flip of a 384x384 image: 1,781 against 21,937 images/s)."""
    condition = tf.convert_to_tensor(condition)
    if condition.shape.rank == 0:
        return tf.cond(condition, lambda: transform(x), lambda: x)
    return tf.raw_ops.Select(condition=condition, x=transform(x), y=x)


def _finite(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def ordered_pair(value, name) -> tuple[float, float]:
    if _finite(value):
        return float(value), float(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(_finite(v) for v in value) and value[0] <= value[1]):
        return float(value[0]), float(value[1])
    raise ValueError(f"{name} must be a number or an ordered pair (low, high), not {value!r}.")


def factor_range(value, name: str, low: float = -1.0, high: float = 1.0
                 ) -> tuple[float, float]:
    """Keras' factor convention: ``f`` -> (-|f|, |f|), an ordered pair -> itself; the
    range within [low, high]."""
    if _finite(value):
        pair = (-abs(float(value)), abs(float(value)))
    else:
        pair = ordered_pair(value, name)
    if pair[0] < low or pair[1] > high:
        raise ValueError(f"{name}={value!r}: the range must lie within [{low:g}, {high:g}].")
    return pair


def positive(value, name: str) -> float:
    if not _finite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, not {value!r}.")
    return float(value)


def int_range(value, name: str, low: int, high: int) -> tuple[int, int]:
    """An int ``v`` -> (v, v), an integer pair -> itself; both ends within [low, high]."""
    pair = (value, value) if isinstance(value, int) else value
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
            and low <= pair[0] <= pair[1] <= high):
        raise ValueError(f"{name} must be an int or an integer pair (low, high) within "
                         f"[{low}, {high}], not {value!r}.")
    return int(pair[0]), int(pair[1])


def probability(p, name="p") -> float:
    if not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], not {p!r}.")
    return float(p)


def image_size(size) -> tuple[int, int]:
    if isinstance(size, int) and size > 0:
        return size, size
    if (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(s, int) and s > 0 for s in size)):
        return int(size[0]), int(size[1])
    raise ValueError(f"size must be a positive int or (height, width), not {size!r}.")
