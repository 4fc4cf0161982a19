"""How well a mask matches the truth: per-photo IoU and MAE, the dataset's max
F-measure, the salient-object field's S-measure, E-measure and weighted F (from
pysodmetrics, when installed), and per-photo differences between two methods with
their standard error; and the real photos with masks they are measured on."""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from fastfeed import images

logger = logging.getLogger(__name__)

BETA2 = 0.3  # the F-measure's beta^2 in salient-object evaluation (precision first)


def iou(probability: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of ``probability >= 0.5`` and the bool ``truth`` (1 when
    both are empty)."""
    predicted = probability >= 0.5
    union = np.logical_or(predicted, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, truth).sum() / union)


def mae(probability: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error between the probability map and the 0/1 truth."""
    return float(np.mean(np.abs(probability.astype(np.float64) - truth)))


THRESHOLDS = np.arange(256) / 255.0  # probability >= t, as saliency benchmarks do


def precision_recall(probability: np.ndarray, truth: np.ndarray):
    """Precision and recall of ``probability >= t`` for every t of :data:`THRESHOLDS`
    (precision 1 where nothing is predicted; recall 1 where the truth is empty)."""
    levels = np.clip(np.round(probability * 255), 0, 255).astype(np.int64).ravel()
    positives = np.bincount(levels[truth.ravel()], minlength=256)
    counts = np.bincount(levels, minlength=256)
    # Pixels at level >= t: reverse cumulative sums.
    predicted = np.cumsum(counts[::-1])[::-1]
    true_positive = np.cumsum(positives[::-1])[::-1]
    precision = np.where(predicted > 0, true_positive / np.maximum(predicted, 1), 1.0)
    total = truth.sum()
    recall = true_positive / total if total else np.ones(256)
    return precision, recall


def f_measure(precision, recall, beta2: float = BETA2):
    return ((1 + beta2) * precision * recall
            / np.maximum(beta2 * precision + recall, 1e-12))


def sod_metrics():
    """The ``py_sod_metrics`` module (PyPI: pysodmetrics, the ``metrics`` extra), or
    None when it is not installed."""
    try:
        import py_sod_metrics
    except ImportError:
        return None
    return py_sod_metrics


# The salient-object field's structure-aware measures, from pysodmetrics: S-measure
# (Fan et al., ICCV 2017), mean E-measure (Fan et al., IJCAI 2018) and weighted F
# (Margolin et al., CVPR 2014), as published SOD results report them.
SOD_MEASURES = ("s_measure", "e_measure", "weighted_f")


@dataclasses.dataclass
class Scores:
    """Per-image IoU and MAE and the dataset's max F-measure: precision and recall
    averaged over images at each threshold, F of the means, the best threshold's.
    With pysodmetrics installed, also per-image S-measure, mean E-measure and
    weighted F (:data:`SOD_MEASURES`)."""

    names: list = dataclasses.field(default_factory=list)
    ious: list = dataclasses.field(default_factory=list)
    maes: list = dataclasses.field(default_factory=list)
    precision_sum: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(256))
    recall_sum: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(256))
    f_at_half: list = dataclasses.field(default_factory=list)
    structure: bool = True  # compute SOD_MEASURES when pysodmetrics is there
    sod: dict = dataclasses.field(default_factory=lambda: {k: [] for k in SOD_MEASURES})

    def add(self, name: str, probability: np.ndarray, truth: np.ndarray) -> None:
        if probability.shape != truth.shape:
            raise ValueError(f"{name}: prediction {probability.shape} and mask "
                             f"{truth.shape} differ in size.")
        precision, recall = precision_recall(probability, truth)
        self.names.append(name)
        self.ious.append(iou(probability, truth))
        self.maes.append(mae(probability, truth))
        self.precision_sum += precision
        self.recall_sum += recall
        self.f_at_half.append(float(f_measure(precision[128], recall[128])))
        library = sod_metrics() if self.structure else None
        if library is not None:
            pred = np.clip(probability, 0, 1).astype(np.float64)
            truth = truth.astype(bool)
            s, e, w = library.Smeasure(), library.Emeasure(), library.WeightedFmeasure()
            for measure in (s, e, w):
                measure.step(pred, truth, normalize=False)
            self.sod["s_measure"].append(float(s.sms[-1]))
            self.sod["e_measure"].append(float(np.mean(e.changeable_ems[-1])))
            self.sod["weighted_f"].append(float(w.weighted_fms[-1]))

    def per_image(self, metric: str) -> np.ndarray:
        """The per-image values of ``metric`` (``iou``, ``mae`` or a SOD measure)."""
        values = {"iou": self.ious, "mae": self.maes, **self.sod}[metric]
        return np.asarray(values, np.float64)

    def summary(self) -> dict:
        count = len(self.names)
        if not count:
            return {"images": 0}
        curve = f_measure(self.precision_sum / count, self.recall_sum / count)
        result = {"images": count, "iou": float(np.mean(self.ious)),
                  "mae": float(np.mean(self.maes)), "max_f": float(curve.max()),
                  "max_f_threshold": float(THRESHOLDS[int(curve.argmax())])}
        result.update({k: float(np.mean(v)) for k, v in self.sod.items() if v})
        return result

    def rows(self) -> list[dict]:
        rows = [{"image": n, "iou": round(i, 4), "mae": round(m, 4), "f": round(f, 4)}
                for n, i, m, f in zip(self.names, self.ious, self.maes, self.f_at_half)]
        for key, values in self.sod.items():
            for row, value in zip(rows, values):
                row[key] = round(value, 4)
        return rows


def paired_difference(scores: Scores, baseline: Scores, metric: str = "iou") -> dict:
    """How ``scores`` differ from ``baseline`` photo by photo on ``metric``: the mean
    difference, its standard error (the per-photo differences' standard deviation over
    the square root of their count), and the photos better, worse and tied (within
    0.001). A mean under two standard errors is noise."""
    if scores.names != baseline.names:
        raise ValueError("paired_difference needs the same photos in the same order.")
    difference = scores.per_image(metric) - baseline.per_image(metric)
    count = len(difference)
    error = float(np.std(difference, ddof=1) / np.sqrt(count)) if count > 1 else float("nan")
    sign = -1 if metric == "mae" else 1  # lower MAE is better
    return {"metric": metric, "photos": count, "mean": float(np.mean(difference)),
            "standard_error": error,
            "better": int(np.sum(sign * difference > 1e-3)),
            "worse": int(np.sum(sign * difference < -1e-3)),
            "tied": int(np.sum(np.abs(difference) <= 1e-3))}


def difference_text(d: dict) -> str:
    """A :func:`paired_difference` in words: ``+0.0546 +- 0.0184 SE (3.0 SE), better on
    66, worse on 31, tied 3``."""
    error = d["standard_error"]
    spread = (f" +- {error:.4f} SE ({d['mean'] / error:+.1f} SE)"
              if error > 0 else "")  # nan with one photo, 0 when all are equal
    return (f"{d['mean']:+.4f}{spread}, better on {d['better']}, worse on {d['worse']}, "
            f"tied {d['tied']}")


def csv_text(scores: dict[str, "Scores"], extra: dict[str, list] | None = None) -> str:
    """The per-image scores of several methods as CSV text, a row per image and
    ``<method>_<measure>`` columns (spaces in a method's name become ``_``);
    ``extra``: more ``{column: [a value per image]}``."""
    import csv
    import io

    rows = {}
    for name, score in scores.items():
        key = name.replace(" ", "_")
        for row in score.rows():
            rows.setdefault(row["image"], {"image": row["image"]}).update(
                {f"{key}_{k}": v for k, v in row.items() if k != "image"})
    for column, values in (extra or {}).items():
        for row, value in zip(rows.values(), values):
            row[column] = value
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(next(iter(rows.values()))))
    writer.writeheader()
    writer.writerows(rows.values())
    return text.getvalue()


def labelled_photos(directory: str, limit: int = 0) -> list[tuple[str, str, str]]:
    """``(stem, photo, mask)`` for the photos of ``directory/images`` that have a mask
    of the same stem in ``directory/masks`` (others are logged and left out)."""
    images_dir, masks_dir = (os.path.join(directory, d) for d in ("images", "masks"))
    for folder in (images_dir, masks_dir):
        if not os.path.isdir(folder):
            raise images.ImageError(f"{folder} not found: a folder of real photos holds "
                                    f"images/ (photos) and masks/ (masks, 255 = object, "
                                    f"same stems).")
    masks = {os.path.splitext(n)[0]: os.path.join(masks_dir, n)
             for n in sorted(os.listdir(masks_dir)) if n.lower().endswith(images.SUFFIXES)}
    found, unmatched = [], []
    for name in sorted(os.listdir(images_dir)):
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in images.SUFFIXES:
            continue
        if stem in masks:
            found.append((stem, os.path.join(images_dir, name), masks[stem]))
        else:
            unmatched.append(name)
    if unmatched:
        logger.warning("%d photos of %s have no mask of the same stem in masks/ and are "
                       "left out: %s", len(unmatched), images_dir, ", ".join(unmatched[:5]))
    if not found:
        raise images.ImageError(f"{directory}: no photo in images/ has a mask of the same stem "
                         f"in masks/.")
    return found[:limit] if limit else found


def evaluate_photos(photos, methods: dict, progress=None,
                    skipped: list | None = None) -> dict[str, Scores]:
    """Scores of each ``methods[name](rgb) -> probability [H, W]`` over ``photos``
    (from :func:`labelled_photos`), at the photos' full resolution. ``progress(done,
    total)`` is called after each photo. A photo or mask that cannot be read (or whose
    sizes differ) is left out of every method's scores and, given a ``skipped`` list,
    added to it as ``(stem, why)``; without one it raises ImageError."""
    scores = {name: Scores() for name in methods}
    for done, (stem, image_path, mask_path) in enumerate(photos, 1):
        try:
            rgb = images.read_rgb(image_path)
            truth = images.read_mask(mask_path)
            if truth.shape != rgb.shape[:2]:
                raise images.ImageError(f"{mask_path}: mask {truth.shape[::-1]} and "
                                        f"photo {rgb.shape[1::-1]} differ in size.")
        except images.ImageError as error:
            if skipped is None:
                raise
            skipped.append((stem, str(error)))
        else:
            for name, method in methods.items():
                scores[name].add(stem, method(rgb), truth)
        if progress:
            progress(done, len(photos))
    return scores
