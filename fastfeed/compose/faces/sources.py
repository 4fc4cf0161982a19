"""Where a batch's images come from: a decoded table in memory (:class:`FaceTable`) or
decoding per batch (:class:`FaceReader`); :func:`decode_faces` makes the :class:`Faces`
that several streams share."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from fastfeed.compose.faces.decoding import decode_all, decode_resized
from fastfeed.compose.faces.index import PeopleIndex

logger = logging.getLogger(__name__)


class FaceTable:
    """Faces decoded once into an in-memory uint8 table; gathers batches from it.

    A face source has ``images(indices) -> uint8 [B, S, S, 3]`` and ``can_gather``;
    where that is true, ``gather(indices, rows, cols)`` reads chosen pixels directly.
    """

    def __init__(self, table: np.ndarray):
        self.image_size = table.shape[1]
        self.table = tf.convert_to_tensor(table)
        # Crops and flips read as one gather of pixels, with int32 indices.
        self.can_gather = table.shape[0] * self.image_size ** 2 < 2**31
        self.flat = tf.reshape(self.table, [-1, 3])

    def images(self, indices):
        """uint8 [B, S, S, 3] for image ``indices`` [B]."""
        return tf.gather(self.table, indices)

    @tf.function(jit_compile=True)
    def gather(self, indices, rows, cols):
        """uint8 [B, H', W', 3]: output pixel (y, x) of example b is pixel
        (rows[b, y], cols[b, x]) of image indices[b] (only where ``can_gather``)."""
        # XLA fuses the index arithmetic into the gather: 2.3x faster here than TF's
        # gather of 3-byte slices (0.8 ms instead of 1.9 ms for 64 faces at 112 px).
        # The random draws that made rows and cols stay outside XLA, whose stateless
        # random numbers differ from TF's.
        size = self.image_size
        first = tf.cast(indices, tf.int32) * size * size
        return tf.gather(self.flat, first[:, None, None] + rows[:, :, None] * size
                         + cols[:, None, :])


class FaceReader:
    """Faces read and decoded per pair (``cache=False``): little memory, slower."""

    can_gather = False  # no table to read crops from: decode, then augment

    def __init__(self, paths: Sequence[str], image_size: int, batch_size: int,
                 central: float = 1.0):
        self.paths = tf.constant(list(paths))
        self.image_size, self.batch_size, self.central = image_size, batch_size, central

    def images(self, indices):
        def load(i):
            return decode_resized(tf.io.read_file(self.paths[i]), self.image_size,
                                  self.central)
        images = tf.map_fn(load, indices, fn_output_signature=tf.uint8,
                           parallel_iterations=16)
        return tf.ensure_shape(images, [self.batch_size, self.image_size,
                                        self.image_size, 3])


def available_memory() -> int:
    """What the kernel reports as available (MemAvailable: free memory plus page cache
    it can reclaim); MemFree alone understates it on any machine that has read files."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def face_source(index: PeopleIndex, image_size: int, *, cache: bool = True,
               max_cache_bytes: int | None = None, batch_size: int = 64,
               central: float = 1.0):
    """``(source, index)``: a :class:`FaceTable` (``cache``) or :class:`FaceReader`
    over ``index``'s images, and the index without the images that could not be read
    (decoded once either way, so a corrupt image is skipped, counted and logged up
    front instead of failing a batch mid-stream)."""
    if cache:
        needed = len(index.paths) * image_size * image_size * 3
        limit = max_cache_bytes if max_cache_bytes is not None else available_memory() // 2
        if needed > limit:
            raise MemoryError(
                f"The decoded cache would take {needed / 2**20:.0f} MiB for "
                f"{len(index.paths)} images at {image_size}x{image_size}, over the "
                f"{limit / 2**20:.0f} MiB allowed (max_cache_bytes, default half the "
                f"available memory). Use cache=False (decode per pair, slower), a "
                f"smaller image_size, or raise max_cache_bytes.")
    table, bad = decode_all(index.paths, image_size, keep=cache, central=central)
    if bad:
        shown = "; ".join(f"{index.paths[i]}: {why}" for i, why in list(bad.items())[:5])
        logger.warning("Skipped %d unreadable image(s) of %d: %s%s", len(bad),
                       len(index.paths), shown, " ..." if len(bad) > 5 else "")
        keep = np.array([i for i in range(len(index.paths)) if i not in bad], np.int64)
        table = table[keep] if cache else None
        index = index.without_images(set(bad))
    source = (FaceTable(table) if cache
              else FaceReader(index.paths, image_size, batch_size, central))
    return source, index


@dataclasses.dataclass(frozen=True)
class Faces:
    """Decoded faces that several streams can share (e.g. the ten folds of LFW's View
    2, each excluding other people): ``source`` (a :class:`FaceTable` or
    :class:`FaceReader`) and the ``index`` of its rows."""

    source: FaceTable | FaceReader
    index: PeopleIndex

    @property
    def image_size(self) -> int:
        return self.source.image_size


def decode_faces(people: Mapping[str, Sequence[str]], image_size: int = 112, *,
                 central: float = 1.0, cache: bool = True,
                 max_cache_bytes: int | None = None, batch_size: int = 64) -> Faces:
    """Decodes every image of ``people`` once (see :func:`pair_stream` for ``cache``
    and :func:`decode_all` for ``central``); unreadable images are skipped and logged."""
    source, index = face_source(PeopleIndex.build(people), image_size, cache=cache,
                               max_cache_bytes=max_cache_bytes, batch_size=batch_size,
                               central=central)
    return Faces(source, index)


def faces_for(people, exclude, image_size, cache, max_cache_bytes, batch_size, check):
    """``(source, index)`` for a stream: ``people`` decoded here, or already
    :class:`Faces` (then ``image_size`` and ``cache`` were chosen when decoding)."""
    if isinstance(people, Faces):
        index = people.index.subset(exclude)
        check(index)
        return people.source, index
    index = PeopleIndex.build(people, exclude)
    check(index)
    source, index = face_source(index, image_size, cache=cache,
                               max_cache_bytes=max_cache_bytes, batch_size=batch_size)
    check(index)
    return source, index
