"""Which images a batch holds, drawn with stateless TF ops on the index tables:
pairs (half of them, by default, of one person) or P people x K images."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf


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
