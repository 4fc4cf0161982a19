"""Native TF augmentation ops, registered by name and composed from a spec string.

Each op is a small registered factory (the big_vision style): ``get_<op>(args) -> Op``.
A pipeline is a string of ops joined by ``|``, parsed safely (Python literals only, no
``eval``):

    fn = parse("flip_lr|random_resized_crop(112, scale=(0.6, 1))|color_jitter(0.2, 0.2, 0.2)"
               "|gaussian_blur(p=0.2)|jpeg_quality(50, 95)", seed=0)
    dataset = dataset.enumerate().map(fn, num_parallel_calls=tf.data.AUTOTUNE)

``fn(index, example) -> example``. Every random draw comes from stateless ops seeded by
(seed, index, op number): an example's augmentation does not depend on thread
scheduling. Geometric ops draw once and apply the same draw to every image key and to
the mask keys (nearest-neighbour for masks); photometric ops touch images only. With
``independent=True`` each image key gets its own draws (the two faces of a pair).
Examples may be single ([H, W, C]) or batches ([B, H, W, C]): a batch draws every
parameter for its B examples at once, from (seed, index, op number), example i taking
element i. Images keep their dtype (uint8 in [0, 255] or float); masks keep theirs.

The package: ``registry`` (Op, register, the spec parser), ``geometric`` and
``photometric`` (the first ops; the one resampling of a run of warps), ``warps`` and
``tones`` (Keras 3's geometric and photometric layers as ops), ``policies``
(``rand_augment``, ``aug_mix``), ``mixing`` (``cut_mix``, ``mix_up``: batches, with
masks and labels), ``pipeline`` (draws, XLA stages, fused warps, mixing on batches,
the table fast path), ``resolve`` (every form ``augment=`` takes); the photometric
ops' maths is :mod:`fastfeed.colour`, shared with the model layers of
:mod:`fastfeed.models.layers`.
A new op is one function decorated with
``@register("name")``; see ``available()``.
"""

from fastfeed.compose.augment import (geometric, mixing, photometric, policies,  # noqa: F401
                                      tones, warps)  # (the modules register their ops)
from fastfeed.compose.augment.geometric import exact_transform, gather_grid, warp
from fastfeed.compose.augment.pipeline import Pipeline, parse
from fastfeed.compose.augment.registry import (GEOMETRIC, MIXING, PHOTOMETRIC, REGISTRY,
                                               Op, available, build_op, register)
from fastfeed.compose.augment.resolve import is_albumentations, resolve

__all__ = ["GEOMETRIC", "MIXING", "PHOTOMETRIC", "REGISTRY", "Op", "Pipeline", "available",
           "build_op", "exact_transform", "gather_grid", "is_albumentations", "parse",
           "register", "resolve", "warp"]
