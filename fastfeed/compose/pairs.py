"""An infinite, seeded stream of face pairs for verification training.

The article's pipeline draws pairs in a Python generator and decodes both JPEGs per pair
in a serial ``map``. Here decoding happens once, into a uint8 table of resized faces, and
each batch is sampled with stateless TF ops on index tables and gathered from it: no
Python and no per-example ``map`` in the steady state.

    people = people_from_dir('../shared/data/lfw/lfw-deepfunneled.tgz')
    test_people = people_in_protocol_files(['pairs.txt'])
    stream = pair_stream(people, exclude=test_people, seed=1)
    ({'image1': x1, 'image2': x2}, label) = next(iter(stream))  # uint8 [64,112,112,3]
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from fastfeed import files
from fastfeed.compose import augment as augment_ops

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
AUTOTUNE = tf.data.AUTOTUNE


# --------------------------------------------------------------------------- people
def people_from_dir(root: str | os.PathLike, *, extract_dir: str | None = None
                    ) -> dict[str, list[str]]:
    """``{person: [image paths]}`` from an LFW-style tree ``root/<Name>/<image>``.

    People and paths are sorted. ``root`` may also be a tar archive (``lfw.tgz``) whose
    single top folder holds the tree: it is extracted once, safely, to ``extract_dir``
    (default: a folder in the system temp dir named after the archive, reused).
    """
    root = os.fspath(root)
    if os.path.isfile(root):
        root = _extract_archive(root, extract_dir)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root!r} is neither a folder nor an archive.")
    people = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        images = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                        if f.lower().endswith(IMAGE_SUFFIXES))
        if images:
            people[name] = images
    if not people:
        raise ValueError(
            f"No person folders with images in {root!r}: expected <root>/<Name>/<Name>_0001"
            f".jpg (the LFW layout).")
    return people


def _extract_archive(archive: str, extract_dir: str | None) -> str:
    stat = os.stat(archive)
    if extract_dir is None:
        stem = os.path.basename(archive).split(".")[0]
        extract_dir = os.path.join(tempfile.gettempdir(),
                                   f"fastfeed-{stem}-{stat.st_size}-{int(stat.st_mtime)}")
    done = os.path.join(extract_dir, ".complete")
    tree = files.open_tree(archive)
    if not os.path.exists(done):
        logger.info("Extracting %s to %s", archive, extract_dir)
        for relative, data in tree.read_all().items():
            path = os.path.join(extract_dir, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        open(done, "w").close()
    tops = [d for d in os.listdir(extract_dir) if os.path.isdir(os.path.join(extract_dir, d))]
    return os.path.join(extract_dir, tops[0]) if len(tops) == 1 else extract_dir


def people_in_protocol_files(paths: Iterable[str | os.PathLike]) -> set[str]:
    """People named by LFW protocol files (``pairs.txt``...), to pass as ``exclude``."""
    from fastfeed.tfds_builders.lfw_pairs import protocol  # pylint: disable=import-outside-toplevel

    return {person for path in paths for fold in protocol.parse_pairs_file(path)
            for person in protocol.people_in(fold)}


def people_in_lfw_pairs(splits: Sequence[str], name: str = "lfw_pairs/deepfunneled",
                        **load_kwargs) -> set[str]:
    """People in the given splits of a built `lfw_pairs` dataset (e.g. ``fold1``..``fold10``)."""
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

    people = set()
    for split in splits:
        dataset = tfds.load(name, split=split, **load_kwargs).map(
            lambda e: (e["person1"], e["person2"]))
        for person1, person2 in dataset.batch(1024).as_numpy_iterator():
            people.update(p.decode() for p in np.concatenate([person1, person2]))
    return people


@dataclasses.dataclass(frozen=True)
class PeopleIndex:
    """People laid out as index tables: person p owns images offsets[p]..+counts[p]."""

    names: tuple[str, ...]
    paths: tuple[str, ...]
    offsets: np.ndarray  # int32 [P]
    counts: np.ndarray  # int32 [P]

    @classmethod
    def build(cls, people: Mapping[str, Sequence[str]], exclude: Iterable[str] = ()):
        exclude = set(exclude)
        names = tuple(sorted(p for p, images in people.items()
                             if p not in exclude and len(images) > 0))
        counts = np.array([len(people[p]) for p in names], np.int32)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        paths = tuple(path for p in names for path in sorted(people[p]))
        return cls(names, paths, offsets, counts)

    def without_images(self, bad: set[int]) -> "PeopleIndex":
        people = {}
        for p, name in enumerate(self.names):
            start = int(self.offsets[p])
            kept = [self.paths[i] for i in range(start, start + int(self.counts[p]))
                    if i not in bad]
            people[name] = kept
        return PeopleIndex.build(people)


def _check_people(index: PeopleIndex, positive_fraction: float) -> None:
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction={positive_fraction} must be in [0, 1].")
    if len(index.names) < 2:
        raise ValueError(
            f"A pair stream needs at least two people with images after `exclude`; got "
            f"{len(index.names)} ({', '.join(index.names) or 'none'}).")
    if positive_fraction > 0 and not (index.counts >= 2).any():
        raise ValueError(
            "No person has two or more images, so no same-person pair can be drawn; add "
            "images or set positive_fraction=0.")


# ------------------------------------------------------------------- pure functions
def _uniform_below(seed, limits):
    """Per-example integers uniform in [0, limits[k]) (limits int32 [B], all >= 1)."""
    u = tf.random.stateless_uniform(tf.shape(limits), seed=seed, dtype=tf.float32)
    draw = tf.cast(tf.floor(u * tf.cast(limits, tf.float32)), tf.int32)
    return tf.minimum(draw, limits - 1)


def sample_pair_indices(seed, batch_size: int, offsets, counts, positive_fraction: float):
    """One batch of pairs as image indices, drawn with stateless ops from ``seed``.

    Returns ``(index1, index2, label)``: int32 [B], int32 [B], float32 [B]. Positives
    pick a person with two or more images and two different images of theirs; negatives
    two different people and one image of each.
    """
    offsets = tf.convert_to_tensor(offsets, tf.int32)
    counts = tf.convert_to_tensor(counts, tf.int32)
    seeds = tf.random.experimental.stateless_split(seed, 6)
    num_people = tf.shape(counts)[0]
    ones = tf.ones([batch_size], tf.int32)
    label = tf.random.stateless_uniform([batch_size], seed=seeds[0]) < positive_fraction

    # Positives: a person with >= 2 images; images i != j.
    multi = tf.cast(tf.where(counts >= 2)[:, 0], tf.int32)
    num_multi = tf.maximum(tf.shape(multi)[0], 1)
    positive_person = tf.gather(multi, _uniform_below(seeds[1], ones * num_multi))
    n = tf.gather(counts, positive_person)
    i = _uniform_below(seeds[2], n)
    j = _uniform_below(seeds[3], tf.maximum(n - 1, 1))
    j = j + tf.cast(j >= i, tf.int32)
    positive = (tf.gather(offsets, positive_person) + i,
                tf.gather(offsets, positive_person) + j)

    # Negatives: persons a != b, any image of each.
    a = _uniform_below(seeds[1], ones * num_people)
    b = _uniform_below(seeds[4], ones * (num_people - 1))
    b = b + tf.cast(b >= a, tf.int32)
    negative = (tf.gather(offsets, a) + _uniform_below(seeds[2], tf.gather(counts, a)),
                tf.gather(offsets, b) + _uniform_below(seeds[5], tf.gather(counts, b)))

    index1 = tf.where(label, positive[0], negative[0])
    index2 = tf.where(label, positive[1], negative[1])
    return index1, index2, tf.cast(label, tf.float32)


def _crop_flip_boxes(seed, batch, scale_range):
    """Per-image square crop (area fraction in ``scale_range``, side relative to the
    image) at a uniform position, and a coin for the horizontal flip."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    side = tf.sqrt(tf.random.stateless_uniform([batch], seeds[0], *scale_range))
    y0 = tf.random.stateless_uniform([batch], seeds[1]) * (1.0 - side)
    x0 = tf.random.stateless_uniform([batch], seeds[2]) * (1.0 - side)
    flip = tf.random.stateless_uniform([batch], seeds[3]) < 0.5
    return side, y0, x0, flip


def crop_flip_gather(flat_pixels, first_pixel, seed, height, width,
                     scale_range=(0.75, 1.0)):
    """Nearest-sampled random crop+flip read straight from a flat pixel table.

    ``flat_pixels`` is ``[P, C]``: images of ``height x width`` stored row-major one
    after the other; ``first_pixel[b]`` is the row of image b's top-left pixel. Every
    output pixel is one index into the table, so crop, resize and flip are a single
    ``gather`` of C-element pixels that keeps the dtype (no float round trip). Returns
    ``[B, height, width, C]``: the crop is resized back to the input size.
    """
    batch = tf.shape(first_pixel)[0]
    side, y0, x0, flip = _crop_flip_boxes(seed, batch, scale_range)

    def source(start, extent):  # [B, extent] source coordinate of each sample centre
        centres = (tf.range(extent, dtype=tf.float32) + 0.5) / tf.cast(extent, tf.float32)
        coords = tf.floor((start[:, None] + side[:, None] * centres)
                          * tf.cast(extent, tf.float32))
        return tf.minimum(tf.cast(coords, tf.int32), extent - 1)

    rows, cols = source(y0, height), source(x0, width)
    cols = tf.where(flip[:, None], tf.reverse(cols, axis=[1]), cols)
    row_starts = tf.cast(first_pixel, tf.int32)[:, None] + rows * width
    return tf.gather(flat_pixels, row_starts[:, :, None] + cols[:, None, :])


def random_crop_flip(images, seed, scale_range=(0.75, 1.0), method="nearest"):
    """Per-image random square crop (area fraction in ``scale_range``) resized back to
    the input size, and horizontal flip with p=0.5.

    ``method='nearest'`` (default) samples the source grid with one ``gather`` (see
    :func:`crop_flip_gather`): at these scales (at most 1.15x enlargement) it looks like
    a plain crop, keeps the dtype, and the stream fuses it with its table lookup.
    ``'bilinear'`` uses ``crop_and_resize`` (a box with x1 > x2 reads mirrored) and
    returns float32 in the input's value range, at about 3x the cost.
    """
    batch, height, width = tf.unstack(tf.shape(images)[:3])
    if method == "nearest":
        flat = tf.reshape(images, [-1, tf.shape(images)[3]])
        return crop_flip_gather(flat, tf.range(batch) * height * width, seed,
                                height, width, scale_range)
    side, y0, x0, flip = _crop_flip_boxes(seed, batch, scale_range)
    x_left, x_right = tf.where(flip, x0 + side, x0), tf.where(flip, x0, x0 + side)
    boxes = tf.stack([y0, x_left, y0 + side, x_right], axis=1)
    return tf.image.crop_and_resize(images, boxes, tf.range(batch), [height, width],
                                    method=method)


def color_jitter(images, seed, brightness=0.2, contrast=0.2, saturation=0.2):
    """Per-image brightness, contrast and saturation jitter on a batch in [0, 255].

    Applied in that order, the three are one affine colour map per image,
    ``x -> M x + c`` with M = a I + (b/3) J: a single batched matmul instead of three
    passes (2.6x faster here). Returns float32 in [0, 255].
    """
    images = tf.cast(images, tf.float32)
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 3)

    def factor(s, amount):
        return tf.random.stateless_uniform([batch], s, 1 - amount, 1 + amount)

    k_brightness = factor(seeds[0], brightness)
    k_contrast = factor(seeds[1], contrast)
    k_saturation = factor(seeds[2], saturation)
    mean = tf.reduce_mean(images, axis=[1, 2, 3])
    # brightness: x*kb; contrast: (x - m)*kc + m; saturation: (x - gray)*ks + gray.
    a = k_saturation * k_contrast * k_brightness
    b = (1 - k_saturation) * k_contrast * k_brightness
    c = (1 - k_contrast) * k_brightness * mean
    matrix = a[:, None, None] * tf.eye(3) + (b / 3)[:, None, None] * tf.ones([3, 3])
    flat = tf.reshape(images, [batch, -1, 3])
    out = tf.linalg.matmul(flat, matrix) + c[:, None, None]
    return tf.clip_by_value(tf.reshape(out, tf.shape(images)), 0.0, 255.0)


def _flip(images, seed):
    flip = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed) < 0.5
    return tf.where(flip, tf.reverse(images, axis=[2]), images)


BATCH_AUGMENTS: dict[str, Callable] = {
    "flip": _flip,
    "crop_flip": random_crop_flip,
    "crop_flip_bilinear": lambda images, seed: random_crop_flip(images, seed,
                                                                method="bilinear"),
    "jitter": color_jitter,
}


def _parse_augment(augment, seed) -> tuple[list[Callable], Callable | None]:
    """The stream's ``augment`` as (batch ops ``fn(images, seed) -> images``, op k of a
    batch seeded with ``fold_in(seed, k)``; an example map ``fn(index, example)``).

    Batch ops: names of :data:`BATCH_AUGMENTS` joined by '|', one ``fn(images, seed)``,
    or a list of names and such callables. Anything else goes to
    :func:`fastfeed.compose.augment.resolve`: a spec string of registry ops, an
    ``augment.example_map`` function, or an albumentations transform, applied with
    independent draws to image1 and image2.
    """
    if augment is None:
        return [], None
    if isinstance(augment, str) and all(part.strip() in BATCH_AUGMENTS
                                        for part in augment.split("|")):
        return [BATCH_AUGMENTS[part.strip()] for part in augment.split("|")], None
    if isinstance(augment, (list, tuple)):
        unknown = [a for a in augment if not callable(a) and str(a).strip() not in
                   BATCH_AUGMENTS]
        if unknown or not augment:
            raise ValueError(f"Unknown augment {augment!r}: a list holds names from "
                             f"{sorted(BATCH_AUGMENTS)} and fn(images, seed) callables.")
        return [a if callable(a) else BATCH_AUGMENTS[a.strip()] for a in augment], None
    if callable(augment) and not getattr(augment, "example_map", False) and not (
            augment_ops.is_albumentations(augment)):
        return [augment], None
    try:
        return [], augment_ops.resolve(augment, seed=seed, image_keys=("image1", "image2"),
                                       mask_keys=(), independent=True)
    except ValueError as error:
        raise ValueError(f"Unknown augment {augment!r}: neither built-in pair ops "
                         f"({sorted(BATCH_AUGMENTS)} joined by '|') nor a usable "
                         f"registry spec or transform: {error}") from None


def _op_seed(seed, k):
    return tf.random.experimental.stateless_fold_in(seed, k)


def color_jitter_layers(brightness=0.2, contrast=0.2, saturation=0.2, seed=None):
    """Keras preprocessing layers doing the stream's colour jitter on the accelerator,
    inside the model (active in training only). Inputs in [0, 255]."""
    import keras  # pylint: disable=import-outside-toplevel

    return keras.Sequential([
        keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed),
        keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed),
        keras.layers.RandomSaturation((0.5 - saturation / 2, 0.5 + saturation / 2),
                                      value_range=(0, 255), seed=seed),
    ], name="color_jitter")


# ------------------------------------------------------------------------- decoding
_RATIOS = (1, 2, 4, 8)


def _is_jpeg(data):
    return tf.equal(tf.strings.substr(data, 0, 2), b"\xff\xd8")


def _resize(image, image_size: int, antialias: bool):
    image = tf.image.resize(image, [image_size, image_size], antialias=antialias)
    return tf.saturate_cast(image + 0.5, tf.uint8)


def jpeg_ratio(height: int, width: int, image_size: int) -> int:
    """The largest DCT scaling ratio whose decoded image still covers ``image_size``."""
    return max([r for r in _RATIOS if min(height, width) // r >= image_size] or [1])


def decode_resized(data, image_size: int):
    """Decodes one image to uint8 [S, S, 3] (any format TF reads; JPEGs with DCT
    scaling). The generic, branchy path: :func:`decode_table` is faster for many."""
    def jpeg():
        shape = tf.image.extract_jpeg_shape(data)
        short = tf.minimum(shape[0], shape[1])
        usable = tf.reduce_sum(tf.cast(
            short // tf.constant(_RATIOS, tf.int32) >= image_size, tf.int32))
        return tf.switch_case(tf.maximum(usable - 1, 0), [
            (lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r)) for r in _RATIOS])

    def other():
        return tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)

    return _resize(tf.cond(_is_jpeg(data), jpeg, other), image_size, antialias=True)


def decode_table(paths: Sequence[str], image_size: int) -> tuple[np.ndarray, dict[int, str]]:
    """Decodes all images into a uint8 [N, S, S, 3] table, on all cores.

    A first pass reads each JPEG's header to pick its DCT ratio; then each group of
    equal ratio is decoded with that fixed ratio and a plain bilinear resize (the ratio
    leaves less than 2x to shrink, so no antialiasing is needed), which runs 5x faster
    than one branchy decoder per image. Returns the table and ``{index: reason}`` for
    images that could not be read (their rows stay zero; the caller drops them).
    """
    table = np.zeros((len(paths), image_size, image_size, 3), np.uint8)
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
                ratio[i] = jpeg_ratio(height, width, image_size)

    for r in sorted(set(ratio.tolist())):
        group = np.flatnonzero(ratio == r).astype(np.int32)
        if r:
            def decode(i, path, r=r):
                image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=r)
                return i, _resize(image, image_size, antialias=False)
        else:
            def decode(i, path):
                return i, decode_resized(tf.io.read_file(path), image_size)
        dataset = tf.data.Dataset.from_tensor_slices(
            (group, [paths[i] for i in group])).map(
                decode, num_parallel_calls=AUTOTUNE, deterministic=False).ignore_errors()
        for batch_indices, images in dataset.batch(256).prefetch(2).as_numpy_iterator():
            table[batch_indices] = images
            ok[batch_indices] = True

    bad = {}
    for i in np.flatnonzero(~ok):
        try:  # again, eagerly, for the error message
            decode_resized(tf.io.read_file(paths[i]), image_size)
            bad[int(i)] = "unreadable"
        except (tf.errors.OpError, ValueError) as error:
            bad[int(i)] = getattr(error, "message", str(error)).strip().splitlines()[-1]
    return table, bad


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


# ---------------------------------------------------------------------------- stream
def pair_stream(people: Mapping[str, Sequence[str]], *, image_size: int = 112,
                batch_size: int = 64, seed: int = 0, exclude: Iterable[str] = (),
                positive_fraction: float = 0.5, augment=None, dtype=tf.uint8,
                cache: bool = True, max_cache_bytes: int | None = None,
                num_parallel_calls: int = AUTOTUNE) -> tf.data.Dataset:
    """Infinite batches ``({'image1': [B,S,S,3], 'image2': [B,S,S,3]}, label float32[B])``.

    Args:
      people: ``{person: [image paths]}``, e.g. from :func:`people_from_dir`.
      image_size: output side S; images are resized whole (no crop).
      batch_size: pairs per batch.
      seed: same seed, same pairs (and augmentations) bit for bit, whatever the
        parallelism: batch k is drawn with stateless ops seeded by (seed, k).
      exclude: people to leave out (e.g. the LFW test folds:
        :func:`people_in_protocol_files`), keeping training identity-disjoint.
      positive_fraction: expected share of same-person pairs.
      augment: drawn independently for image1 and image2. None; names of the built-in
        batch ops joined by '|' (``'flip'``, ``'crop_flip'``, ``'jitter'``; a leading
        ``'crop_flip'`` is fused with the table lookup: one gather, same pixels);
        ``fn(images float32/uint8 [B,S,S,3], seed) -> images`` in [0, 255], or a list
        of names and such functions. Or, per example: a spec string of
        :mod:`fastfeed.compose.augment` ops (``'flip_lr|rotate(10)|hue(0.05)'``), a
        function marked ``augment.example_map``, or an albumentations transform
        (object, dict or JSON/YAML path); example i of batch k draws from
        (seed, k, i).
      dtype: tf.uint8 (default: a quarter of float32's bytes to move; models rescale)
        or tf.float32 in [0, 1].
      cache: decode every image once into an in-memory uint8 table (N*S*S*3 bytes: LFW's
        13,233 faces at 112 px are 498 MB). If the table would exceed
        ``max_cache_bytes`` (default: half the memory available now), this raises
        with the figures; pass ``cache=False`` to decode per pair instead (reads and
        decodes 2 JPEGs per pair on all cores: several times slower), or lower
        ``image_size``.
      num_parallel_calls: parallel batches (tests use it to show determinism).
    """
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"dtype must be tf.uint8 or tf.float32, not {dtype!r}.")
    ops, example_map = _parse_augment(augment, seed)
    index = PeopleIndex.build(people, exclude)
    _check_people(index, positive_fraction)

    if cache:
        needed = len(index.paths) * image_size * image_size * 3
        limit = max_cache_bytes if max_cache_bytes is not None else _available_memory() // 2
        if needed > limit:
            raise MemoryError(
                f"The decoded cache would take {needed / 2**20:.0f} MiB for "
                f"{len(index.paths)} images at {image_size}x{image_size}, over the "
                f"{limit / 2**20:.0f} MiB allowed (max_cache_bytes). Use cache=False "
                f"(decode per pair, slower), a smaller image_size, or raise "
                f"max_cache_bytes.")
        table, bad = decode_table(index.paths, image_size)
        if bad:
            shown = "; ".join(f"{index.paths[i]}: {why}" for i, why in list(bad.items())[:5])
            logger.warning("Skipped %d unreadable image(s) of %d: %s%s", len(bad),
                           len(index.paths), shown, " ..." if len(bad) > 5 else "")
            keep = np.array([i for i in range(len(index.paths)) if i not in bad], np.int64)
            table = table[keep]
            index = index.without_images(set(bad))
            _check_people(index, positive_fraction)
        table = tf.convert_to_tensor(table)
    else:
        paths = tf.constant(index.paths)
    offsets, counts = index.offsets, index.counts

    # crop_flip first on the cached table: crop, flip and lookup are one gather (the
    # same pixels as gathering whole faces, then cropping them).
    fused_crop = (cache and ops[:1] == [random_crop_flip]
                  and len(index.paths) * image_size * image_size < 2**31)  # int32 indices
    if fused_crop:
        flat_table = tf.reshape(table, [-1, 3])

    def images_for(index_, seed_):
        first_op = 0
        if fused_crop:
            images = crop_flip_gather(flat_table, index_ * image_size * image_size,
                                      _op_seed(seed_, 0), image_size, image_size)
            first_op = 1
        elif cache:
            images = tf.gather(table, index_)
        else:
            def load(i):
                return decode_resized(tf.io.read_file(paths[i]), image_size)
            images = tf.map_fn(load, index_, fn_output_signature=tf.uint8,
                               parallel_iterations=16)
            images.set_shape([batch_size, image_size, image_size, 3])
        for k in range(first_op, len(ops)):
            images = ops[k](images, _op_seed(seed_, k))
        return images

    def finish(images):
        if dtype == tf.float32:
            return tf.cast(images, tf.float32) / 255.0
        if images.dtype != tf.uint8:
            images = tf.saturate_cast(images + 0.5, tf.uint8)  # round half up
        return images

    def make_batch(batch_index):
        batch_seed = tf.stack([tf.constant(seed, tf.int64), batch_index])
        sample_seed, seed1, seed2 = tf.unstack(
            tf.random.experimental.stateless_split(batch_seed, 3))
        index1, index2, label = sample_pair_indices(
            sample_seed, batch_size, offsets, counts, positive_fraction)
        images = {"image1": images_for(index1, seed1), "image2": images_for(index2, seed2)}
        if example_map is not None:
            images = example_map(batch_index, images)
        return {key: finish(value) for key, value in images.items()}, label

    options = tf.data.Options()
    options.deterministic = True
    return (tf.data.Dataset.counter()
            .map(make_batch, num_parallel_calls=num_parallel_calls, deterministic=True)
            .prefetch(AUTOTUNE)
            .with_options(options))
