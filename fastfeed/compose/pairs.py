"""An infinite, seeded stream of face pairs for verification training.

The article's pipeline draws pairs in a Python generator and decodes both JPEGs per pair
in a serial ``map``. Here each image is decoded once, into a uint8 table of resized
faces, and each batch is sampled with stateless TF ops on index tables and gathered
from it: no Python and no per-example ``map`` in the steady state.

    from fastfeed import lfw
    people = lfw.people_from_dir('../shared/data/lfw/lfw-deepfunneled.tgz')
    test_people = lfw.people_in_protocol_files(['../shared/data/lfw/pairs.txt'])
    stream = pair_stream(people, exclude=test_people, seed=1,
                         augment="flip_lr|random_resized_crop(112, scale=(0.75, 1), "
                                 "method='nearest')")
    ({'image1': x1, 'image2': x2}, label) = next(iter(stream))  # uint8 [64,112,112,3]

:func:`identity_batches` draws P people x K images per batch instead, for losses over
every pair of the batch; :func:`decode_faces` decodes once for several streams (e.g.
one per LFW fold, each with its own ``exclude``).

The pieces: :class:`PairSampler` draws image indices only; a face source
(:class:`FaceTable`, the decoded table, or :class:`FaceReader`, decoding per pair for
``cache=False``) turns indices into images; :func:`pair_stream` joins them with the
augmentation.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from fastfeed.compose import augment as augment_ops
from fastfeed.compose import service as service_ops

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


# --------------------------------------------------------------------------- people
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

    def subset(self, exclude: Iterable[str]) -> "PeopleIndex":
        """The same images (rows keep their numbers) with the people of ``exclude``
        left out: what a stream samples from when the table holds everyone."""
        exclude = set(exclude)
        keep = np.array([p for p, name in enumerate(self.names) if name not in exclude],
                        np.int64)
        return PeopleIndex(tuple(self.names[p] for p in keep), self.paths,
                           self.offsets[keep], self.counts[keep])


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



# ------------------------------------------------------------------------- sampling
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


@dataclasses.dataclass(frozen=True)
class PairSampler:
    """Draws batches of pairs as image indices: pure, stateless, no images involved."""

    offsets: np.ndarray  # int32 [P]: person p owns images offsets[p]..+counts[p]
    counts: np.ndarray  # int32 [P]
    positive_fraction: float = 0.5

    def sample(self, seed, batch_size: int):
        """``(index1, index2, label)`` for ``seed`` [2] int64; see
        :func:`sample_pair_indices`."""
        return sample_pair_indices(seed, batch_size, self.offsets, self.counts,
                                   self.positive_fraction)


# ---------------------------------------------------------------------- face sources
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


def _available_memory() -> int:
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


def load_faces(index: PeopleIndex, image_size: int, *, cache: bool = True,
               max_cache_bytes: int | None = None, batch_size: int = 64,
               central: float = 1.0):
    """``(source, index)``: a :class:`FaceTable` (``cache``) or :class:`FaceReader`
    over ``index``'s images, and the index without the images that could not be read
    (decoded once either way, so a corrupt image is skipped, counted and logged up
    front instead of failing a batch mid-stream)."""
    if cache:
        needed = len(index.paths) * image_size * image_size * 3
        limit = max_cache_bytes if max_cache_bytes is not None else _available_memory() // 2
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
    source, index = load_faces(PeopleIndex.build(people), image_size, cache=cache,
                               max_cache_bytes=max_cache_bytes, batch_size=batch_size,
                               central=central)
    return Faces(source, index)


def _faces_for(people, exclude, image_size, cache, max_cache_bytes, batch_size, check):
    """``(source, index)`` for a stream: ``people`` decoded here, or already
    :class:`Faces` (then ``image_size`` and ``cache`` were chosen when decoding)."""
    if isinstance(people, Faces):
        index = people.index.subset(exclude)
        check(index)
        return people.source, index
    index = PeopleIndex.build(people, exclude)
    check(index)
    source, index = load_faces(index, image_size, cache=cache,
                               max_cache_bytes=max_cache_bytes, batch_size=batch_size)
    check(index)
    return source, index


# ---------------------------------------------------------------------------- stream
def _resolve_augment(augment, seed, image_keys):
    try:
        return augment_ops.resolve(augment, seed=seed, image_keys=image_keys,
                                   mask_keys=(), independent=True)
    except ValueError as error:
        raise ValueError(f"Unknown augment {augment!r}: {error}") from None


def _batch_images(source, augment_fn, batch_index, face_indices: dict, batch_size: int,
                  dtype):
    """``{key: images}`` for ``{key: face indices [B]}``, augmented. A leading run of
    nearest geometric ops reads straight from the table (one gather, same pixels)."""
    if (isinstance(augment_fn, augment_ops.Pipeline) and augment_fn.grid_prefix > 0
            and source.can_gather):
        images = {}
        for group, (key, indices) in enumerate(face_indices.items()):
            rows, cols = augment_fn.table_grid(batch_index, group, source.image_size,
                                               source.image_size, batch_size)
            images[key] = source.gather(indices, rows, cols)
        images = augment_fn.apply_from(augment_fn.grid_prefix, batch_index, images)
    else:
        images = {key: source.images(indices) for key, indices in face_indices.items()}
        if augment_fn is not None:
            images = augment_fn(batch_index, images)
    return {key: _finish(value, dtype) for key, value in images.items()}


def _batch_seed(seed: int, batch_index):
    batch_seed = tf.stack([tf.constant(seed, tf.int64), batch_index])
    # The first of three splits, as when the stream seeded its own batch ops with the
    # other two: the same seed still gives the same pairs.
    return tf.random.experimental.stateless_split(batch_seed, 3)[0]


def pair_stream(people: Mapping[str, Sequence[str]] | Faces, *, image_size: int = 112,
                batch_size: int = 64, seed: int = 0, exclude: Iterable[str] = (),
                positive_fraction: float = 0.5, augment=None, dtype=tf.uint8,
                cache: bool = True, max_cache_bytes: int | None = None, start: int = 0,
                num_parallel_calls: int = AUTOTUNE, shard: tuple[int, int] = (1, 0),
                service: str | None = None, job_name: str | None = None
                ) -> tf.data.Dataset:
    """Infinite batches ``({'image1': [B,S,S,3], 'image2': [B,S,S,3]}, label float32[B])``.

    Args:
      people: ``{person: [image paths]}``, e.g. from :func:`fastfeed.lfw.people_from_dir`,
        or :class:`Faces` already decoded by :func:`decode_faces` (then ``image_size``,
        ``cache`` and ``max_cache_bytes`` were chosen there).
      image_size: side S of the decoded faces (resized whole, no crop).
      batch_size: pairs per batch.
      seed: same seed, same pairs (and augmentations) bit for bit, whatever the
        parallelism: batch k is drawn with stateless ops seeded by (seed, k).
      exclude: people to leave out (e.g. the LFW test folds:
        :func:`fastfeed.lfw.people_in_protocol_files`), keeping training
        identity-disjoint.
      positive_fraction: expected share of same-person pairs.
      augment: drawn independently for image1 and image2, per batch k. A spec string
        of :mod:`fastfeed.compose.augment` ops, e.g.
        ``"flip_lr|random_resized_crop(112, scale=(0.75, 1), method='nearest')|hue(0.05)"``
        (a leading run of nearest geometric ops is read straight from the decoded
        table: one gather, the same pixels); ``fn(index, example) -> example`` with
        ``example = {'image1': uint8 [B,S,S,3], 'image2': ...}`` and ``index`` = k; or
        an albumentations transform (object, dict or JSON/YAML path).
      dtype: tf.uint8 (default: a quarter of float32's bytes to move; models rescale)
        or tf.float32 in [0, 1].
      cache: decode every image once into an in-memory uint8 table (N*S*S*3 bytes: LFW's
        13,233 faces at 112 px are 498 MB). If the table would exceed
        ``max_cache_bytes`` (default: half the memory available now), this raises
        with the figures; pass ``cache=False`` to decode per pair instead (reads and
        decodes 2 JPEGs per pair on all cores: several times slower), or lower
        ``image_size``. Either way every image is decoded once at the start, and
        unreadable ones are skipped and logged.
      start: the first batch's number k (a resumed training continues where it
        stopped: batches are seeded by number, so nothing is replayed).
      num_parallel_calls: parallel batches (tests use it to show determinism).
      shard: ``(count, index)``: this input pipeline's share of a multi-worker
        training: the batches k = index + count * j (distinct per pipeline).
      service: ``'HOST:PORT'`` of a tf.data service dispatcher: the batches are made
        on its workers (see :mod:`fastfeed.compose.service`); each batch k is the
        local one, bit for bit, in the order the workers deliver. Pure-TF
        ``augment`` only.
      job_name: trainers that give the same name share one stream through the
        service (each batch goes to one of them).
    """
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"dtype must be tf.uint8 or tf.float32, not {dtype!r}.")
    if service:
        service_ops.check_pure(augment)
    augment_fn = _resolve_augment(augment, seed, ("image1", "image2"))
    source, index = _faces_for(people, exclude, image_size, cache, max_cache_bytes,
                               batch_size, lambda i: _check_people(i, positive_fraction))
    sampler = PairSampler(index.offsets, index.counts, positive_fraction)

    def make_batch(batch_index):
        index1, index2, label = sampler.sample(_batch_seed(seed, batch_index), batch_size)
        return _batch_images(source, augment_fn, batch_index,
                             {"image1": index1, "image2": index2}, batch_size, dtype), label

    return service_ops.batches(make_batch, start, shard, service, job_name,
                               num_parallel_calls)


# ------------------------------------------------------------------ identity batches
def sample_identity_indices(seed, people_per_batch: int, images_per_person: int, offsets,
                            counts, max_count: int):
    """P people and K images of each as image indices, with stateless ops from ``seed``.

    Returns ``(indices int32 [P*K], person int32 [P*K])``, person-major. The P people
    are distinct, drawn among those with two or more images; each person's K images are
    distinct where the person has K or more, else their images in a random order,
    repeated (augmentation then makes the copies differ).
    """
    offsets = tf.convert_to_tensor(offsets, tf.int32)
    counts = tf.convert_to_tensor(counts, tf.int32)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    eligible = tf.cast(tf.where(counts >= 2)[:, 0], tf.int32)
    keys = tf.random.stateless_uniform(tf.shape(eligible), seed=seeds[0])
    person = tf.gather(eligible, tf.math.top_k(keys, people_per_batch).indices)  # [P]
    n = tf.gather(counts, person)[:, None]  # [P, 1]
    keys = tf.random.stateless_uniform([people_per_batch, max_count], seed=seeds[1])
    keys = tf.where(tf.range(max_count)[None, :] < n, keys, 2.0)  # invalid ones last
    order = tf.cast(tf.argsort(keys, axis=1, stable=True), tf.int32)  # [P, max_count]
    slot = tf.range(images_per_person)[None, :] % n  # [P, K]
    image = tf.gather(order, slot, batch_dims=1)
    indices = tf.gather(offsets, person)[:, None] + image
    person = tf.broadcast_to(person[:, None], [people_per_batch, images_per_person])
    return tf.reshape(indices, [-1]), tf.reshape(person, [-1])


def identity_batches(people: Mapping[str, Sequence[str]] | Faces, *,
                     people_per_batch: int = 32, images_per_person: int = 4,
                     image_size: int = 112, seed: int = 0, exclude: Iterable[str] = (),
                     augment=None, dtype=tf.uint8, cache: bool = True,
                     max_cache_bytes: int | None = None, start: int = 0,
                     num_parallel_calls: int = AUTOTUNE, shard: tuple[int, int] = (1, 0),
                     service: str | None = None, job_name: str | None = None
                     ) -> tf.data.Dataset:
    """Infinite batches ``({'image': [P*K,S,S,3]}, person int32 [P*K])``: P people, K
    images each, so one batch of P*K decoded images labels all P*K*(P*K-1)/2 pairs
    (for losses such as :func:`fastfeed.models.losses.supervised_contrastive`).

        faces = decode_faces(people, 72, central=0.56)
        stream = identity_batches(faces, exclude=test_people, seed=1,
                                  augment="random_crop(64)|flip_lr")

    ``person`` numbers the stream's people (sorted names after ``exclude``). Seeding,
    ``exclude``, ``augment`` (each image draws its own), ``dtype``, ``cache``,
    ``start``, ``shard``, ``service`` and ``job_name`` are as for :func:`pair_stream`.
    """
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"dtype must be tf.uint8 or tf.float32, not {dtype!r}.")
    if people_per_batch < 2 or images_per_person < 2:
        raise ValueError(f"identity_batches needs people_per_batch >= 2 and "
                         f"images_per_person >= 2 (to form same and different pairs); "
                         f"got {people_per_batch} and {images_per_person}.")
    batch_size = people_per_batch * images_per_person
    if service:
        service_ops.check_pure(augment)
    augment_fn = _resolve_augment(augment, seed, ("image",))

    def check(index):
        eligible = int((index.counts >= 2).sum())
        if eligible < people_per_batch:
            raise ValueError(
                f"people_per_batch={people_per_batch} distinct people are needed per "
                f"batch, but only {eligible} people have two or more images after "
                f"`exclude`; lower people_per_batch or add people.")
    source, index = _faces_for(people, exclude, image_size, cache, max_cache_bytes,
                               batch_size, check)
    max_count = int(index.counts.max())
    offsets, counts = index.offsets, index.counts

    def make_batch(batch_index):
        indices, person = sample_identity_indices(
            _batch_seed(seed, batch_index), people_per_batch, images_per_person,
            offsets, counts, max_count)
        return _batch_images(source, augment_fn, batch_index, {"image": indices},
                             batch_size, dtype), person

    return service_ops.batches(make_batch, start, shard, service, job_name,
                               num_parallel_calls)


def _finish(images, dtype):
    if dtype == tf.float32:
        return tf.cast(images, tf.float32) / 255.0
    if images.dtype != tf.uint8:
        images = tf.saturate_cast(images + 0.5, tf.uint8)  # round half up
    return images
