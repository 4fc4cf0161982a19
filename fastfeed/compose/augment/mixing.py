"""Batch-level ops, Keras' CutMix and MixUp: each example of a batch is mixed with
another example of the same batch (a stateless permutation of the batch).

What is mixed, and how:

- images: ``cut_mix`` pastes a box of the partner's image; ``mix_up`` blends the two
  images, lam * own + (1 - lam) * partner (rounded back to the image's dtype);
- masks: ``cut_mix`` pastes the same box of the partner's masks (any dtype);
  ``mix_up`` blends float masks like images, and refuses integer masks (a pixel of a
  blend belongs to two objects, which a 0/1 mask cannot say: use ``cut_mix``, or
  float masks);
- labels (the pipeline's ``label_keys``, by default ``label``): float labels ([B] or
  one-hot [B, K]) become lam * own + (1 - lam) * partner, lam being the share of the
  example's own pixels (``cut_mix``: 1 - the pasted box's pixel count over the image's;
  Keras uses the box's real-valued area); integer labels (class ids) are refused
  with the fix (one-hot them first);
- other keys are left as they are.

Examples must come as batches ([B, H, W, C]); a single example is refused.
"""

from __future__ import annotations

import tensorflow as tf

from fastfeed.compose.augment.registry import (MIXING, Op, positive, register, seeds,
                                               to_dtype, uniform)


def _permutation(seed, batch):
    """A stateless shuffle of range(B)."""
    return tf.argsort(tf.random.stateless_uniform(batch, seed))


def _beta(seed, batch, alpha: float):
    gammas = tf.random.stateless_gamma(tf.concat([batch, [2]], 0), seed, alpha=alpha)
    return gammas[..., 0] / tf.reduce_sum(gammas, -1)


def _refuse_integers(dtypes: dict, why) -> None:
    """ValueError ``why(key, dtype name)`` for the first key whose dtype is not float."""
    for key, dtype in dtypes.items():
        if not dtype.is_floating:
            raise ValueError(why(key, dtype.name))


def _check_labels(op_name: str, labels: dict) -> None:
    _refuse_integers(labels, lambda key, dtype: (
        f"{op_name} mixes labels, but '{key}' is {dtype} (class ids, or a same/different "
        f"bit): a mixed example's label is a fraction. One-hot it (tf.one_hot) or cast "
        f"it to float before the augmentation, or leave {op_name} out."))


def _check_float_masks(masks: dict, labels: dict) -> None:
    _refuse_integers(masks, lambda key, dtype: (
        f"mix_up blends masks, but '{key}' is {dtype}: a pixel of a blend belongs to two "
        f"objects, which an integer mask cannot say. Use cut_mix (it pastes whole "
        f"pixels, masks included), or give float masks."))
    _check_labels("mix_up", labels)


def _mix_labels(labels: dict, own, partner_of):
    """Float ``labels`` (checked by the op's ``check``, which the pipeline runs first)
    mixed by the share ``own`` [B]."""
    out = {}
    for key, value in labels.items():
        weight = tf.reshape(own, [-1] + [1] * (value.shape.rank - 1))
        out[key] = weight * value + (1 - weight) * partner_of(value)
    return out


@register("cut_mix")
def get_cut_mix(factor=1.0):
    """Keras' CutMix: lam ~ Beta(factor, factor); a box of sqrt(1 - lam) of the width
    and the height at a uniform position inside the image shows the partner."""
    alpha = positive(factor, "cut_mix factor")

    def sample(seed, shape, batch):
        order_seed, lam_seed, place_seed = seeds(seed, 3)
        lam = _beta(lam_seed, batch, alpha)
        return _permutation(order_seed, batch), lam, uniform(place_seed,
                                                             tf.concat([batch, [2]], 0))

    def apply(images, masks, labels, params):
        order, lam, place = params
        first = next(iter(images.values()))
        height, width = (tf.cast(v, tf.float32) for v in tf.unstack(tf.shape(first)[1:3]))
        ratio = tf.sqrt(1.0 - lam)
        box_w, box_h = ratio * width, ratio * height
        x0, y0 = place[:, 0] * (width - box_w), place[:, 1] * (height - box_h)
        cols = tf.range(width)[None, None, :, None]
        rows = tf.range(height)[None, :, None, None]
        b = lambda v: v[:, None, None, None]  # noqa: E731
        inside = ((cols >= b(x0)) & (cols < b(x0 + box_w)) & (rows >= b(y0))
                  & (rows < b(y0 + box_h)))
        own = 1.0 - tf.reduce_mean(tf.cast(inside, tf.float32), axis=[1, 2, 3])

        def paste(value):
            return tf.where(inside, tf.gather(value, order), value)
        return ({k: paste(v) for k, v in images.items()},
                {k: paste(v) for k, v in masks.items()},
                _mix_labels(labels, own, lambda v: tf.gather(v, order)))
    return Op("cut_mix", MIXING, sample, apply,
              check=lambda masks, labels: _check_labels("cut_mix", labels))


@register("mix_up")
def get_mix_up(alpha=0.2):
    """Keras' MixUp: lam ~ Beta(alpha, alpha) per example; images (and float masks and
    labels) become lam * own + (1 - lam) * partner."""
    alpha = positive(alpha, "mix_up alpha")

    def sample(seed, shape, batch):
        order_seed, lam_seed = seeds(seed, 2)
        return _permutation(order_seed, batch), _beta(lam_seed, batch, alpha)

    def apply(images, masks, labels, params):
        order, lam = params
        weight = lam[:, None, None, None]

        def blend(value):
            mixed = weight * tf.cast(value, tf.float32) + (1 - weight) * tf.cast(
                tf.gather(value, order), tf.float32)
            return to_dtype(mixed, value.dtype)
        return ({k: blend(v) for k, v in images.items()},
                {k: blend(v) for k, v in masks.items()},
                _mix_labels(labels, lam, lambda v: tf.gather(v, order)))
    return Op("mix_up", MIXING, sample, apply, check=_check_float_masks)
