"""Augmentation policies built from the registry's own ops: ``rand_augment`` and
``aug_mix``.

``rand_augment(num_ops=2, magnitude=9)`` (Cubuk et al. 2020, "RandAugment"): each
example applies ``num_ops`` ops drawn uniformly, with replacement, from Keras'
RandAugment list (shear, translation, rotation, brightness, color_degeneration,
contrast, sharpness, posterization, solarization, auto_contrast, equalization).
``magnitude`` is the paper's M on its 0-10 scale; at level L = M / 10 each op draws
its strength up to: shear 0.3 L, translation 0.45 L of the side, rotation 30 L
degrees, brightness/contrast/sharpness factors 1 +- 0.9 L, colour degeneration 0.9 L,
posterization down to 8 - 4 L bits, solarization above a threshold of 255 (1 - L)
(timm's and the paper's ranges). As in Keras (and unlike the paper's fixed M) the
strength is drawn up to the magnitude. Keras' ``RandAugment(factor=f)`` is magnitude
10 f, but Keras picks the ops once per batch; here every example picks its own.
Geometric ops move the masks (nearest); photometric ones leave them. An 8-bit image
stays 8-bit from op to op (rounded after each, as the paper's PIL implementation
and albumentations keep images), and each op runs as one compiled call on the
example: the batch's examples go one by one (each picks its own ops), 2.2x cheaper
per image than the ops' graph kernels here.

``aug_mix(severity=3, width=3, depth=(1, 3), alpha=1.0)`` (Hendrycks et al. 2020,
"AugMix"): ``width`` chains of 1-3 ops (from auto_contrast, equalization,
posterization, rotation, solarization, shear, translation, and with ``all_ops`` also
colour degeneration, contrast, brightness, sharpness, as Keras' ``all_ops``), each at
level severity / 10, mixed with Dirichlet(alpha) weights, then blended with the
original by m ~ Beta(alpha, alpha). Keras' ``AugMix(num_chains, chain_depth, factor,
alpha)`` is ``width``, ``depth``, severity 10 * factor, ``alpha``. A blend of several
geometric variants has no mask that follows it, so streams with masks are refused
unless ``geometric=False`` (then its ops are photometric only and masks are kept).
"""

from __future__ import annotations

import tensorflow as tf

from fastfeed.compose.augment.registry import (GEOMETRIC, PHOTOMETRIC, Op, build_op,
                                               int_range, positive, register, seeds, switch,
                                               to_dtype)


def _level(value, name: str, top: float = 10.0) -> float:
    if not isinstance(value, (int, float)) or not 0 <= value <= top:
        raise ValueError(f"{name} must be a number in [0, {top:g}], not {value!r}.")
    return float(value) / 10.0


def _geometric_specs(level: float) -> list[str]:
    return [f"shear({0.3 * level}, {0.3 * level})",
            f"translation({0.45 * level}, {0.45 * level})",
            f"rotation({30 * level / 360})"]


def _tone_specs(level: float) -> list[str]:
    return [f"brightness({0.9 * level})", f"color_degeneration({0.9 * level})",
            f"contrast({0.9 * level})",
            f"sharpness(({0.5 - 0.45 * level}, {0.5 + 0.45 * level}))"]


def _basic_specs(level: float) -> list[str]:
    return [f"posterization(({8 - int(4 * level)}, 8))",
            f"solarization(threshold_factor=({1 - level}, 1.0))", "auto_contrast",
            "equalization"]


def _sample_all(ops, seed, shape, batch, count: int):
    """``count`` draws of every op (one per slot), and each slot's op number."""
    choice_seed, *slot_seeds = seeds(seed, count + 1)
    choices = tf.random.stateless_uniform(tf.concat([batch, [count]], 0), choice_seed, 0,
                                          len(ops), tf.int32)
    draws = [[op.sample(s, shape, batch) for op, s in zip(ops, seeds(slot_seed, len(ops)))]
             for slot_seed in slot_seeds]
    return choices, draws


def _given(draws):
    """Drawn parameters as the functions :func:`_apply_one` takes."""
    return [lambda p=p: p for p in draws]


def _apply_one(ops, choice, draws, x, is_mask):
    """``ops[choice]`` applied to ``x`` (float; masks: geometric ops only) with the
    parameters ``draws[choice]()`` gives, drawn inside the branch taken."""
    def branch(op, draw):
        if op.kind != GEOMETRIC:
            return (lambda: x) if is_mask else (lambda: op.apply(x, draw(), False))
        if is_mask:
            return lambda: op.apply(x, draw(), True)
        return lambda: tf.cast(op.apply(x, draw(), False), tf.float32)
    return switch(choice, [branch(op, d) for op, d in zip(ops, draws)])


def _in_dtype(op):
    """``op``'s image function ``f(x, params) -> x`` keeping ``x``'s dtype (integers
    rounded): photometric ops compute on float32 in one XLA call where they allow it
    (their graph kernels cost 2-4x more on one example); geometric ops resample in
    the image's own dtype (8-bit in integers, see geometric.warp_matrices)."""
    if op.kind == GEOMETRIC or op.any_dtype:
        return lambda x, params: op.apply(x, params, False)

    def photometric(x, params):
        return to_dtype(op.apply(tf.cast(x, tf.float32), params, False), x.dtype)
    return tf.function(photometric, jit_compile=True) if op.xla else photometric


@register("rand_augment")
def get_rand_augment(num_ops=2, magnitude=9):
    """RandAugment: ``num_ops`` ops per example at ``magnitude`` (0-10); see the module."""
    if not isinstance(num_ops, int) or not 1 <= num_ops <= 10:
        raise ValueError(f"rand_augment num_ops must be an int in [1, 10], not {num_ops!r}.")
    level = _level(magnitude, "rand_augment magnitude")
    ops = [build_op(spec) for spec in
           _geometric_specs(level) + _tone_specs(level) + _basic_specs(level)]
    functions = [_in_dtype(op) for op in ops]

    def sample(seed, shape, batch):
        if batch.shape[0] != 0:  # a batch of draws (example i: element i)
            return _sample_all(ops, seed, shape, batch, num_ops)
        # One example: its choices, and the seeds the chosen ops draw from when they
        # run (the same draws as drawing all of them first, 11x fewer small ops).
        choice_seed, *slot_seeds = seeds(seed, num_ops + 1)
        choices = tf.random.stateless_uniform([num_ops], choice_seed, 0, len(ops), tf.int32)
        return choices, tf.stack(slot_seeds), tf.convert_to_tensor(shape)

    def lazy(slot_seed, shape):
        """Per op, a function drawing its parameters for this slot (as _sample_all)."""
        none = tf.constant([], tf.int32)
        return [lambda op=op, s=s: op.sample(s, shape, none)
                for op, s in zip(ops, seeds(slot_seed, len(ops)))]

    def apply(x, params, is_mask):
        if len(params) == 3:  # one example's (choices, slot seeds, shape): see sample
            choices, slot_seeds, shape = params
            draws = [lazy(slot_seeds[slot], shape) for slot in range(num_ops)]
        else:
            choices, draws = params
            draws = [_given(slot) for slot in draws]
        for slot in range(num_ops):
            if is_mask:
                x = _apply_one(ops, choices[slot], draws[slot], x, True)
                continue
            x = switch(choices[slot], [lambda f=f, d=d, x=x: f(x, d())
                                       for f, d in zip(functions, draws[slot])])
        return x
    return Op("rand_augment", GEOMETRIC, sample, apply)


@register("aug_mix")
def get_aug_mix(severity=3, width=3, depth=(1, 3), alpha=1.0, all_ops=True, geometric=True):
    """AugMix: ``width`` chains of ``depth`` ops at ``severity`` (1-10), mixed; see the
    module."""
    level = _level(severity, "aug_mix severity")
    if not isinstance(width, int) or not 1 <= width <= 8:
        raise ValueError(f"aug_mix width must be an int in [1, 8], not {width!r}.")
    low, high = int_range(depth, "aug_mix depth", 1, 8)
    alpha = positive(alpha, "aug_mix alpha")
    specs = (_basic_specs(level) + (_geometric_specs(level) if geometric else [])
             + (_tone_specs(level) if all_ops else []))
    ops = [build_op(spec) for spec in specs]

    def sample(seed, shape, batch):
        chain_seed, depth_seed, weight_seed = seeds(seed, 3)
        chains = [_sample_all(ops, s, shape, batch, high) for s in seeds(chain_seed, width)]
        depths = tf.random.stateless_uniform(tf.concat([batch, [width]], 0), depth_seed,
                                             low, high + 1, tf.int32)
        gammas = tf.random.stateless_gamma(tf.concat([batch, [width + 2]], 0), weight_seed,
                                           alpha=alpha)
        weights = gammas[..., :width] / tf.reduce_sum(gammas[..., :width], -1, keepdims=True)
        blend = gammas[..., width] / (gammas[..., width] + gammas[..., width + 1])
        return chains, depths, weights, blend

    def apply(x, params):
        chains, depths, weights, blend = params
        mixed = tf.zeros_like(x)
        for chain, ((choices, draws), chain_depth) in enumerate(zip(chains, tf.unstack(
                depths, width))):
            y = x
            for slot in range(high):
                y = tf.cond(slot < chain_depth,
                            lambda y=y, slot=slot, choices=choices, draws=draws: _apply_one(
                                ops, choices[slot], _given(draws[slot]), y, False),
                            lambda y=y: y)
            mixed += weights[chain] * y
        return blend * x + (1 - blend) * mixed
    return Op("aug_mix", PHOTOMETRIC, sample, lambda x, params, is_mask: apply(x, params),
              xla=False, maskable=not geometric)
