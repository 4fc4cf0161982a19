"""Face images decoded once at their table size: JPEG decoded at a reduced ratio where
that is exact enough, the central part kept, resized."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


_RATIOS = (1, 2, 4, 8)


def _is_jpeg(data):
    return tf.equal(tf.strings.substr(data, 0, 2), b"\xff\xd8")


def _resize(image, image_size: int, antialias: bool, central: float = 1.0):
    if central < 1.0:
        image = tf.image.central_crop(image, central)
    image = tf.image.resize(image, [image_size, image_size], antialias=antialias)
    return tf.saturate_cast(image + 0.5, tf.uint8)


def jpeg_ratio(height: int, width: int, image_size: int, central: float = 1.0) -> int:
    """The largest DCT scaling ratio whose decoded image (its central ``central``
    fraction) still covers ``image_size``."""
    short = int(min(height, width) * central)
    return max([r for r in _RATIOS if short // r >= image_size] or [1])


def decode_resized(data, image_size: int, central: float = 1.0):
    """Decodes one image to uint8 [S, S, 3] (any format TF reads; JPEGs with DCT
    scaling), keeping its central ``central`` fraction. The generic, branchy path:
    :func:`decode_all` is faster for many."""
    def jpeg():
        shape = tf.image.extract_jpeg_shape(data)
        short = tf.cast(tf.cast(tf.minimum(shape[0], shape[1]), tf.float32) * central,
                        tf.int32)
        usable = tf.reduce_sum(tf.cast(
            short // tf.constant(_RATIOS, tf.int32) >= image_size, tf.int32))
        return tf.switch_case(tf.maximum(usable - 1, 0), [
            (lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r)) for r in _RATIOS])

    def other():
        return tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)

    return _resize(tf.cond(_is_jpeg(data), jpeg, other), image_size, antialias=True,
                   central=central)


def decode_all(paths: Sequence[str], image_size: int, keep: bool = True,
               central: float = 1.0) -> tuple[np.ndarray | None, dict[int, str]]:
    """Decodes every image once, on all cores: the uint8 [N, S, S, 3] table (None
    unless ``keep``) and ``{index: reason}`` for images that could not be read.
    ``central`` keeps that central fraction of each image before resizing (LFW's
    deep-funneled faces fill the central 140 of 250 px: ``central=0.56``).

    A first pass reads each JPEG's header to pick its DCT ratio; then each group of
    equal ratio is decoded with that fixed ratio and a plain bilinear resize (the ratio
    leaves less than 2x to shrink, so no antialiasing is needed), which runs 5x faster
    than one branchy decoder per image.
    """
    table = np.zeros((len(paths), image_size, image_size, 3), np.uint8) if keep else None
    ok = np.zeros(len(paths), bool)
    indices = tf.range(len(paths))

    def header(i, path):
        data = tf.io.read_file(path)
        shape = tf.cond(_is_jpeg(data), lambda: tf.image.extract_jpeg_shape(data)[:2],
                        lambda: tf.constant([-1, -1], tf.int32))
        return i, shape

    ratio = np.zeros(len(paths), np.int32)  # 0: not a JPEG, or unreadable header
    headers = tf.data.Dataset.from_tensor_slices((indices, list(paths))).map(
        header, num_parallel_calls=AUTOTUNE, deterministic=False).ignore_errors()
    for batch_indices, shapes in headers.batch(1024).as_numpy_iterator():
        for i, (height, width) in zip(batch_indices, shapes):
            if height > 0:
                ratio[i] = jpeg_ratio(height, width, image_size, central)

    for r in sorted(set(ratio.tolist())):
        group = np.flatnonzero(ratio == r).astype(np.int32)
        if r:
            def decode(i, path, r=r):
                image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=r)
                return i, _resize(image, image_size, antialias=False, central=central)
        else:
            def decode(i, path):
                return i, decode_resized(tf.io.read_file(path), image_size, central)
        dataset = tf.data.Dataset.from_tensor_slices(
            (group, [paths[i] for i in group])).map(
                decode, num_parallel_calls=AUTOTUNE, deterministic=False).ignore_errors()
        for batch_indices, images in dataset.batch(256).prefetch(2).as_numpy_iterator():
            if keep:
                table[batch_indices] = images
            ok[batch_indices] = True

    bad = {}
    for i in np.flatnonzero(~ok):
        try:  # again, eagerly, for the error message
            decode_resized(tf.io.read_file(paths[i]), image_size, central)
            bad[int(i)] = "unreadable"
        except (tf.errors.OpError, ValueError) as error:
            bad[int(i)] = getattr(error, "message", str(error)).strip().splitlines()[-1]
    return table, bad
