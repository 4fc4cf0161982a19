"""Composite streams: the compositor made from asset sources, its examples from a
seed, and batched (augmented, sharded, served) streams."""

from __future__ import annotations

import logging
from typing import Callable

import tensorflow as tf

from fastfeed.compose.augment import Pipeline, is_albumentations, resolve
from fastfeed.compose.composites.assets import (AssetTable, background_assets, mixed,
                                                 object_assets)
from fastfeed.compose.composites.compositor import Compositor
from fastfeed.compose.composites.recipe import PROCEDURAL, Recipe
from fastfeed.compose.feed import Feed
from fastfeed.compose.service import batch_numbers, check_pure, distribute

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
INDEX = "_index"  # an example's number, carried to its batch's augmentation

# The keys of a composite example and their dtypes (what its augmentation sees).
EXAMPLE_DTYPES = {"image": tf.uint8, "mask": tf.uint8, "alpha": tf.uint8}


def make_compositor(objects=PROCEDURAL, backgrounds=PROCEDURAL, *, image_size: int = 256,
                    asset_seed: int = 0, recipe: Recipe = Recipe()) -> Compositor:
    """Loads (or renders) and packs the assets once; see :func:`composite_stream`."""
    if image_size < 16:
        raise ValueError(f"image_size={image_size} is too small; use 16 or more.")
    object_table = AssetTable.pack(*mixed(
        objects, lambda source: object_assets(source, image_size, asset_seed)))
    background_table = AssetTable.pack(*mixed(
        backgrounds, lambda source: background_assets(source, image_size, asset_seed)))
    logger.info("Composite assets: %d objects (%.1f MiB), %d backgrounds (%.1f MiB)",
                len(object_table), object_table.nbytes / 2**20, len(background_table),
                background_table.nbytes / 2**20)
    return Compositor(object_table, background_table, image_size, recipe)


def composite_examples(compositor: Compositor, *, seed: int = 0, start: int = 0,
                       stop: int | None = None, finish: Callable | None = None,
                       num_parallel_calls: int = AUTOTUNE) -> tf.data.Dataset:
    """Unbatched examples ``index = start, start+1, ...`` (up to ``stop``, or
    infinite), example i drawn from the stateless seed (seed, i), with
    ``object_index``/``background_index``; ``finish(index, example) -> example`` runs
    in the same map when given."""
    def make(index):
        example = compositor.example(tf.stack([tf.constant(seed, tf.int64), index]))
        return example if finish is None else finish(index, example)

    options = tf.data.Options()
    options.deterministic = True
    indices = (tf.data.Dataset.counter(start) if stop is None
               else tf.data.Dataset.range(start, stop))
    return (indices.map(make, num_parallel_calls=num_parallel_calls, deterministic=True)
            .with_options(options))


def composite_stream(objects=PROCEDURAL, backgrounds=PROCEDURAL, *, image_size: int = 256,
                     batch_size: int = 32, seed: int = 0, augment=None,
                     dtype=tf.uint8, recipe: Recipe = Recipe(), asset_seed: int = 0,
                     num_parallel_calls: int = AUTOTUNE,
                     compositor: Compositor | None = None, feed: Feed = Feed()
                     ) -> tf.data.Dataset:
    """Infinite batches ``{'image': [B,S,S,3], 'mask': uint8 [B,S,S,1] in {0,1},
    'alpha': uint8 [B,S,S,1]}`` of objects pasted on backgrounds.

    Args:
      objects: ``'procedural'`` (built-in, rendered from ``asset_seed``), a folder of
        RGBA PNG/WebP cut-outs (recursive; unusable files are skipped and logged), or
        a list of ``(name, straight-alpha RGBA uint8)``.
      backgrounds: ``'procedural'``, a folder of JPEG/PNG/WebP photos, or a list of
        ``(name, RGB uint8)``. Smaller than ``image_size``: scaled up. Either may be
        a mix ``{source: weight}`` (see :func:`parse_mix`): each source is picked in
        proportion to its weight, then an asset of it uniformly.
      image_size: output side S.
      batch_size: examples per batch.
      seed: example i is drawn from the stateless seed (seed, i): the same seed gives
        the same examples bit for bit, whatever the parallelism or batch size.
      augment: moves ``mask`` and ``alpha`` with ``image`` (nearest-neighbour). A spec
        string of :mod:`fastfeed.compose.augment` ops (``'flip_lr|rotate(10)|hue(0.05)'``)
        or ``fn(index, example) -> example`` runs on each example i before batching
        (draws from (seed, i): independent of the batch size). An albumentations
        transform (object, dict, or JSON/YAML path) runs on each batch k after
        batching, one Python call per batch (example i of batch k seeded from
        (seed, k, i): the same examples for the same batch size).
      dtype: tf.uint8 (default) or tf.float32 for ``image`` in [0, 1].
      recipe: ranges of the random draws, see :class:`Recipe`.
      num_parallel_calls: parallel examples (tests use it to show determinism).
      compositor: assets already packed by :func:`make_compositor` (then ``objects``,
        ``backgrounds``, ``image_size``, ``recipe`` and ``asset_seed`` are its own).
      feed: the first batch (a resumed training's: the stream from batch ``start`` on
        is the one that would have followed batch ``start - 1``), one worker's
        batches of a multi-worker training, the batches made on tf.data service
        workers (pure-TF ``augment`` only), bit for bit the local ones
        (:class:`fastfeed.compose.feed.Feed`).
    """
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"dtype must be tf.uint8 or tf.float32, not {dtype!r}.")
    # An albumentations transform runs once per batch (one Python call for B examples:
    # per example, the call costs more than the transform); native ops too, each
    # example drawing as it would alone (the same bytes, one call per batch: 1.6x the
    # augmented composites/s of a per-example map here); a user's function per example.
    per_batch = is_albumentations(augment)
    if feed.service:
        check_pure(augment)
    augment = resolve(augment, seed=seed, image_keys=("image",), mask_keys=("mask", "alpha"))
    if compositor is None:
        compositor = make_compositor(objects, backgrounds, image_size=image_size,
                                     asset_seed=asset_seed, recipe=recipe)

    def to_dtype(example):
        if dtype == tf.float32:
            example = {**example, "image": tf.cast(example["image"], tf.float32) / 255.0}
        return example

    # Mixing ops (cut_mix, mix_up) and the ops after them run on each batch k.
    mix_from = getattr(augment, "mixing_start", None)
    if hasattr(augment, "check"):  # what cannot be mixed is refused here, not in a map
        augment.check(EXAMPLE_DTYPES)

    batched = isinstance(augment, Pipeline)

    def finish(index, example):
        example = {key: example[key] for key in EXAMPLE_DTYPES}
        if augment is None:
            return to_dtype(example)
        if per_batch or batched:  # the batch's ops need to know whose it is
            return {**example, INDEX: index}
        example = augment(index, example)  # a user's fn(index, example)
        return to_dtype(example)

    def whole_batch(k):  # batch k: examples kB ... kB + B - 1
        return composite_examples(compositor, seed=seed, start=k * batch_size,
                                  stop=(k + 1) * batch_size, finish=finish,
                                  num_parallel_calls=num_parallel_calls)

    numbers = batch_numbers(feed.start, feed.shard)
    if feed.service or feed.shard != (1, 0):
        # Made per batch number, so that the service's sharding (or a multi-worker
        # shard) hands out whole batches, each the local stream's batch k.
        stream = numbers.interleave(whole_batch, block_length=batch_size,
                                    num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        stream = composite_examples(compositor, seed=seed, start=feed.start * batch_size,
                                    finish=finish, num_parallel_calls=num_parallel_calls)
    stream = stream.batch(batch_size, drop_remainder=True)
    if per_batch or batched:
        def batch_ops(batch):
            # Batch k holds examples kB ... kB + B - 1 (carried along: under the service
            # a worker's batches are not numbered by a second range of its own).
            batch = dict(batch)
            indices = batch.pop(INDEX)
            k = indices[0] // batch_size
            if per_batch:
                return to_dtype(augment(k, batch))
            batch = augment.apply_from(0, indices, batch, stop=mix_from)
            if mix_from is not None:  # mixing ops and those after them: per batch
                batch = augment.apply_from(mix_from, k, batch)
            return to_dtype(batch)
        stream = stream.map(batch_ops, num_parallel_calls=AUTOTUNE, deterministic=True)
    if feed.service:
        stream = distribute(stream, feed.service, feed.job_name)
    return stream.prefetch(AUTOTUNE)
