"""`fastfeed preview product_composites`: a grid of a built split's composites, each
beside itself with its mask outlined, optionally augmented (masks moving with them)."""

from __future__ import annotations

import numpy as np


def grid(builder, split: str, count: int, columns: int, seed: int, augment) -> np.ndarray:
    """``count`` examples of ``split`` (shuffled with ``seed``) in ``columns`` columns;
    ``augment``: a spec or albumentations file, or None."""
    from fastfeed.compose import augment as augmentation
    from fastfeed.preview import composite_grid

    dataset = builder.as_dataset(split=split).shuffle(1000, seed=seed).take(count)
    dataset = dataset.map(lambda example: {"image": example["image"],
                                           "mask": example["mask"]})
    if augment:
        fn = augmentation.resolve(augment, seed=seed, mask_keys=("mask",),
                                  image_keys=("image",))
        dataset = dataset.enumerate().map(fn)
    examples = list(dataset.as_numpy_iterator())
    return composite_grid({key: np.stack([e[key] for e in examples])
                           for key in ("image", "mask")}, columns=columns)
