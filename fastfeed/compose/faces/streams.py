"""The face streams: :func:`pair_stream` (pairs and a same-person label) and
:func:`identity_batches` (P people x K images with their identity)."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import tensorflow as tf

from fastfeed.compose.augment import Pipeline, resolve
from fastfeed.compose.faces.index import check_people
from fastfeed.compose.faces.sampling import PairSampler, sample_identity_indices
from fastfeed.compose.faces.sources import Faces, faces_for
from fastfeed.compose.feed import Feed
from fastfeed.compose.service import check_pure

AUTOTUNE = tf.data.AUTOTUNE


def _resolve_augment(augment, seed, image_keys):
    try:
        augment_fn = resolve(augment, seed=seed, image_keys=image_keys, mask_keys=(),
                             independent=True)
    except ValueError as error:
        raise ValueError(f"Unknown augment {augment!r}: {error}") from None
    if getattr(augment_fn, "mixing_start", None) is not None:
        name = augment_fn.ops[augment_fn.mixing_start].name
        raise ValueError(f"augment {augment!r}: {name} mixes examples and their labels, "
                         f"and a face stream's label (same person or not, a person's "
                         f"number) means nothing for a mix of two. Leave {name} out here; "
                         f"it suits class or mask labels (composite_stream, your own "
                         f"batches).")
    return augment_fn


def _batch_images(source, augment_fn, batch_index, face_indices: dict, batch_size: int,
                  dtype):
    """``{key: images}`` for ``{key: face indices [B]}``, augmented. A leading run of
    nearest geometric ops reads straight from the table (one gather, same pixels)."""
    if (isinstance(augment_fn, Pipeline) and augment_fn.grid_prefix > 0
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
                cache: bool = True, max_cache_bytes: int | None = None,
                num_parallel_calls: int = AUTOTUNE, feed: Feed = Feed()) -> tf.data.Dataset:
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
      num_parallel_calls: parallel batches (tests use it to show determinism).
      feed: the first batch, this pipeline's shard, the tf.data service
        (:class:`fastfeed.compose.feed.Feed`).
    """
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"dtype must be tf.uint8 or tf.float32, not {dtype!r}.")
    if feed.service:
        check_pure(augment)
    augment_fn = _resolve_augment(augment, seed, ("image1", "image2"))
    source, index = faces_for(people, exclude, image_size, cache, max_cache_bytes,
                               batch_size, lambda i: check_people(i, positive_fraction))
    sampler = PairSampler(index.offsets, index.counts, positive_fraction)

    def make_batch(batch_index):
        index1, index2, label = sampler.sample(_batch_seed(seed, batch_index), batch_size)
        return _batch_images(source, augment_fn, batch_index,
                             {"image1": index1, "image2": index2}, batch_size, dtype), label

    return feed.batches(make_batch, num_parallel_calls)


def identity_batches(people: Mapping[str, Sequence[str]] | Faces, *,
                     people_per_batch: int = 32, images_per_person: int = 4,
                     image_size: int = 112, seed: int = 0, exclude: Iterable[str] = (),
                     augment=None, dtype=tf.uint8, cache: bool = True,
                     max_cache_bytes: int | None = None,
                     num_parallel_calls: int = AUTOTUNE, feed: Feed = Feed()
                     ) -> tf.data.Dataset:
    """Infinite batches ``({'image': [P*K,S,S,3]}, person int32 [P*K])``: P people, K
    images each, so one batch of P*K decoded images labels all P*K*(P*K-1)/2 pairs
    (for losses such as :func:`fastfeed.models.losses.supervised_contrastive`).

        faces = decode_faces(people, 72, central=0.56)
        stream = identity_batches(faces, exclude=test_people, seed=1,
                                  augment="random_crop(64)|flip_lr")

    ``person`` numbers the stream's people (sorted names after ``exclude``). Seeding,
    ``exclude``, ``augment`` (each image draws its own), ``dtype``, ``cache`` and
    ``feed`` are as for :func:`pair_stream`.
    """
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"dtype must be tf.uint8 or tf.float32, not {dtype!r}.")
    if people_per_batch < 2 or images_per_person < 2:
        raise ValueError(f"identity_batches needs people_per_batch >= 2 and "
                         f"images_per_person >= 2 (to form same and different pairs); "
                         f"got {people_per_batch} and {images_per_person}.")
    batch_size = people_per_batch * images_per_person
    if feed.service:
        check_pure(augment)
    augment_fn = _resolve_augment(augment, seed, ("image",))

    def check(index):
        eligible = int((index.counts >= 2).sum())
        if eligible < people_per_batch:
            raise ValueError(
                f"people_per_batch={people_per_batch} distinct people are needed per "
                f"batch, but only {eligible} people have two or more images after "
                f"`exclude`; lower people_per_batch or add people.")
    source, index = faces_for(people, exclude, image_size, cache, max_cache_bytes,
                               batch_size, check)
    max_count = int(index.counts.max())
    offsets, counts = index.offsets, index.counts

    def make_batch(batch_index):
        indices, person = sample_identity_indices(
            _batch_seed(seed, batch_index), people_per_batch, images_per_person,
            offsets, counts, max_count)
        return _batch_images(source, augment_fn, batch_index, {"image": indices},
                             batch_size, dtype), person

    return feed.batches(make_batch, num_parallel_calls)


def _finish(images, dtype):
    if dtype == tf.float32:
        return tf.cast(images, tf.float32) / 255.0
    if images.dtype != tf.uint8:
        images = tf.saturate_cast(images + 0.5, tf.uint8)  # round half up
    return images
