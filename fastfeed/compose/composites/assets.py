"""The assets a compositor draws from: objects and backgrounds of one source or a
weighted mix (procedural, a folder, or given arrays), packed into flat tensors."""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from fastfeed.compose.composites import folders, procedural
from fastfeed.compose.composites.recipe import is_procedural


@dataclasses.dataclass
class AssetTable:
    """Images of varied sizes packed into one flat uint8 tensor, each starting on a
    64-byte boundary (so taking a whole image is a view, not a copy), with their
    offsets (in bytes), sizes and names."""

    names: list[str]
    pixels: tf.Tensor
    offsets: tf.Tensor
    heights: tf.Tensor
    widths: tf.Tensor
    channels: int
    cdf: tf.Tensor | None = None  # float64 cumulative pick probabilities; None: uniform

    @classmethod
    def pack(cls, named_images: Sequence[tuple[str, np.ndarray]],
             weights: Sequence[float] | None = None) -> "AssetTable":
        """``weights``: one per image (relative), or None for a uniform pick."""
        images = [np.ascontiguousarray(image) for _, image in named_images]
        channels = images[0].shape[2]
        sizes = np.array([image.size for image in images], np.int64)
        padded = (sizes + 63) // 64 * 64
        if padded.sum() >= 2**31:
            raise MemoryError(f"{len(images)} assets take {padded.sum() / 2**30:.1f} GiB, "
                              f"over the 2 GiB a table can index; use fewer or smaller "
                              f"assets.")
        offsets = np.concatenate([[0], np.cumsum(padded)[:-1]])
        flat = np.zeros(int(padded.sum()), np.uint8)
        for image, offset in zip(images, offsets):
            flat[offset:offset + image.size] = image.reshape(-1)
        return cls(names=[name for name, _ in named_images], pixels=tf.constant(flat),
                   offsets=tf.constant(offsets, tf.int32),
                   heights=tf.constant([image.shape[0] for image in images], tf.int32),
                   widths=tf.constant([image.shape[1] for image in images], tf.int32),
                   channels=channels,
                   cdf=None if weights is None else tf.constant(
                       np.cumsum(weights) / np.sum(weights), tf.float64))

    def pick(self, u):
        """The image index for a uniform ``u`` in [0, 1) (float64): by the weights."""
        if self.cdf is None:
            return tf.minimum(tf.cast(u * len(self), tf.int32), len(self) - 1)
        index = tf.searchsorted(self.cdf, tf.reshape(u, [1]), side="right")[0]
        return tf.minimum(tf.cast(index, tf.int32), len(self) - 1)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def nbytes(self) -> int:
        return int(self.pixels.shape[0])

    def size(self, index):
        """(height, width) of image ``index``."""
        return tf.gather(self.heights, index), tf.gather(self.widths, index)

    def image(self, index, first_row=0, rows=None):
        """Image ``index`` as [h, w, C], or only ``rows`` rows from ``first_row``."""
        height, width = self.size(index)
        rows = height if rows is None else rows
        row_bytes = width * self.channels
        start = tf.gather(self.offsets, index) + first_row * row_bytes
        flat = tf.slice(self.pixels, tf.reshape(start, [1]), tf.reshape(rows * row_bytes, [1]))
        return tf.reshape(flat, tf.stack([rows, width, self.channels]))


def mixed(source, load) -> tuple[list[tuple[str, np.ndarray]], list[float] | None]:
    """Assets of one source, or of a ``{source: weight}`` mix with per-asset weights
    such that each source is picked in proportion to its weight."""
    if not isinstance(source, dict):
        return load(source), None
    named, weights = [], []
    for part, weight in source.items():
        loaded = load(part)
        named += loaded
        weights += [weight / len(loaded)] * len(loaded)
    return named, weights


def object_assets(source, image_size: int, seed: int = 0, count: int = 48
                  ) -> list[tuple[str, np.ndarray]]:
    """Premultiplied RGBA objects, longest side ``image_size``: procedural ones
    (``'procedural'``), a folder's (path), or ``[(name, straight RGBA)]`` given."""
    if is_procedural(source):
        named = procedural.procedural_objects(count=count, seed=seed,
                                          size=max(image_size, 64))
    elif isinstance(source, (str, os.PathLike)):
        return folders.load_objects(source, longest_side=image_size)[0]
    else:
        named = list(source)
    return [(name, folders.prepare_object(rgba, image_size)) for name, rgba in named]


def background_assets(source, image_size: int, seed: int = 0, count: int = 24
                      ) -> list[tuple[str, np.ndarray]]:
    """RGB backgrounds with shorter side in [image_size, 2*image_size]: procedural,
    a folder's, or ``[(name, RGB)]`` given."""
    if is_procedural(source):
        named = procedural.procedural_backgrounds(count=count, seed=seed,
                                              size=max(int(image_size * 1.5), 64))
    elif isinstance(source, (str, os.PathLike)):
        return folders.load_backgrounds(source, image_size=image_size)[0]
    else:
        named = list(source)
    return [(name, folders.prepare_background(rgb, image_size)) for name, rgb in named]
