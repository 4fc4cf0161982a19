"""Losses and batch metrics, in ``keras.ops``: face verification (contrastive, pair
BCE) and masks (BCE + dice, optionally weighted per pixel)."""

from __future__ import annotations

import keras
from keras import ops


def supervised_contrastive(embeddings, labels, temperature: float = 0.1):
    """Supervised contrastive loss (Khosla et al., 2020) over every pair of a batch.

    Args:
      embeddings: unit vectors [N, D] (e.g. P people x K images of
        :func:`fastfeed.compose.faces.identity_batches`).
      labels: identity [N]; images with the same label are positives.
      temperature: the softmax temperature on cosine similarities.

    For each anchor, the mean over its positives of ``-log softmax`` of their
    similarity against every other image of the batch; averaged over anchors that have
    a positive. All N*(N-1)/2 pairs contribute.
    """
    embeddings = ops.cast(embeddings, "float32")
    n = ops.shape(embeddings)[0]
    logits = ops.matmul(embeddings, ops.transpose(embeddings)) / temperature
    self_mask = ops.eye(n, dtype="bool")
    logits = ops.where(self_mask, -1e9, logits)
    log_prob = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    same = ops.logical_and(ops.equal(labels[:, None], labels[None, :]),
                           ops.logical_not(self_mask))
    same = ops.cast(same, "float32")
    positives = ops.sum(same, axis=1)
    per_anchor = -ops.sum(same * log_prob, axis=1) / ops.maximum(positives, 1.0)
    has = ops.cast(positives > 0, "float32")
    return ops.sum(per_anchor * has) / ops.maximum(ops.sum(has), 1.0)


def nearest_neighbour_accuracy(embeddings, labels):
    """Share of images whose most similar other image of the batch is the same person
    (a cheap training-time accuracy for identity batches)."""
    embeddings = ops.cast(embeddings, "float32")
    similarity = ops.matmul(embeddings, ops.transpose(embeddings))
    similarity = similarity - 1e9 * ops.eye(ops.shape(embeddings)[0])
    nearest = ops.argmax(similarity, axis=1)
    return ops.mean(ops.cast(ops.equal(ops.take(labels, nearest), labels), "float32"))


def pair_bce(logits, labels):
    """Binary cross-entropy of pair logits [B, 1] (or [B]) against labels [B]."""
    logits = ops.reshape(ops.cast(logits, "float32"), (-1,))
    return ops.mean(keras.losses.binary_crossentropy(
        ops.cast(labels, "float32")[:, None], logits[:, None], from_logits=True))


def pair_accuracy(logits, labels):
    """Share of pairs whose logit has the label's sign (threshold 0)."""
    logits = ops.reshape(ops.cast(logits, "float32"), (-1,))
    return ops.mean(ops.cast(ops.equal(ops.cast(logits > 0, "float32"),
                                       ops.cast(labels, "float32")), "float32"))


def mask_bce_dice(logits, truth, weight=None, dice_weight: float = 1.0):
    """``(BCE + dice_weight * (1 - dice), {"bce", "iou"})`` for mask logits and
    targets in [0, 1], all [B, H, W, 1]; dice (soft IoU) is per image, then averaged.
    ``weight`` (same shape, optional) counts each pixel by it in both terms; the batch
    IoU then compares with targets made binary at 0.5."""
    logits = ops.cast(logits, "float32")
    truth = ops.cast(truth, "float32")
    probability = ops.sigmoid(logits)
    pixels = ops.binary_crossentropy(truth, logits, from_logits=True)
    if weight is None:
        bce = ops.mean(pixels)
        weight = ops.ones_like(truth)
    else:
        weight = ops.cast(weight, "float32")
        bce = ops.sum(weight * pixels) / ops.maximum(ops.sum(weight), 1.0)
    overlap = ops.sum(weight * probability * truth, axis=(1, 2, 3))
    total = ops.sum(weight * (probability + truth), axis=(1, 2, 3))
    dice = 1.0 - ops.mean((2.0 * overlap + 1.0) / (total + 1.0))
    return bce + dice_weight * dice, {"bce": bce, "iou": mask_iou(logits, truth)}


def mask_iou(logits, truth):
    """Mean per-image IoU of ``logits > 0`` against ``truth >= 0.5``."""
    predicted = ops.cast(logits > 0, "float32")
    truth = ops.cast(ops.cast(truth, "float32") >= 0.5, "float32")
    hard = ops.sum(predicted * truth, axis=(1, 2, 3))
    union = ops.sum(ops.maximum(predicted, truth), axis=(1, 2, 3))
    return ops.mean((hard + 1.0) / (union + 1.0))
