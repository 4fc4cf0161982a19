"""The protocol's maths: the threshold chosen on labelled pairs, accuracy, ROC AUC, and
View 2's standard error."""

from __future__ import annotations

import numpy as np


def best_threshold(scores, labels) -> float:
    """The threshold on ``scores`` (same person when ``score > threshold``) with the
    highest accuracy on these labelled pairs: midpoints between sorted scores, ties
    going to the lowest such midpoint."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2,
                                 [values[-1] + 1.0]])
    # correct(t) = positives above t + negatives at or below t, for all t at once.
    order = np.sort(scores[labels])
    negatives = np.sort(scores[~labels])
    above = len(order) - np.searchsorted(order, candidates, side="right")
    below = np.searchsorted(negatives, candidates, side="right")
    return float(candidates[int(np.argmax(above + below))])


def accuracy(scores, labels, threshold: float) -> float:
    """Share of pairs whose ``score > threshold`` equals their label."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    return float(np.mean((scores > threshold) == labels))


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve: the probability that a random same-person pair scores
    above a random different-person pair (ties count half)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    positive, negative = scores[labels], scores[~labels]
    if not len(positive) or not len(negative):
        raise ValueError("ROC AUC needs both same-person and different-person pairs.")
    ordered = np.sort(negative)
    below = np.searchsorted(ordered, positive, side="left")
    ties = np.searchsorted(ordered, positive, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(positive) * len(negative)))


def standard_error(values) -> float:
    """``std / sqrt(n)`` with the sample standard deviation, as LFW's results page
    reports View 2 (``n`` = 10 folds)."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(len(values)))
