"""`fastfeed preview lfw_pairs`: a grid of a built split's pairs, each over a bar with
its label, optionally augmented as a training stream would (each image its own draw)."""

from __future__ import annotations

import numpy as np


def grid(builder, split: str, count: int, columns: int, seed: int, augment) -> np.ndarray:
    """``count`` pairs of ``split`` (shuffled with ``seed``) in ``columns`` columns;
    ``augment``: a spec or albumentations file, or None."""
    from fastfeed.compose import augment as augmentation
    from fastfeed.preview import pairs_grid

    dataset = builder.as_dataset(split=split).shuffle(1000, seed=seed).take(count)
    if augment:
        fn = augmentation.resolve(augment, seed=seed, mask_keys=(),
                                  image_keys=("image1", "image2"), independent=True)
        dataset = dataset.enumerate().map(fn)
    return pairs_grid(dataset.as_numpy_iterator(), columns=max(1, columns // 2))
