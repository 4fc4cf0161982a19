"""Background removal with a trained model: reading photos, predicting, refining, and
measuring against masks.

    from fastfeed import segment
    cutout = segment.remove_background("photo.jpg")         # PIL RGBA, full resolution
    mask = segment.remove_background(array, output="mask")  # PIL L
    model = segment.load_model("runs/bg/main/model.keras")  # else the shipped model

The model sees the photo at ``size`` pixels on its longer side (the scale it was
trained at); its probability map is brought back to the full resolution by bilinear
upsampling and a guided filter (He et al., 2010) driven by the full-resolution photo,
so the alpha follows the photo's edges rather than the low-resolution blocks.
The guided filter is the few box filters of the paper, with OpenCV's ``boxFilter``;
OpenCV's own ``ximgproc.guidedFilter`` lives only in the contrib build.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

MAX_PIXELS = 100_000_000  # 100 MP: a photo larger than this is refused, not decoded
BETA2 = 0.3  # the F-measure's beta^2 in salient-object evaluation (precision first)
DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "models", "weights",
                             "unet_small_bg.keras")
DEFAULT_SIZE = 160  # the model's input: this many pixels on the longer side
# GrabCut seeded by the model: on the 200 real_dev photos, IoU 0.764 against 0.688 for
# the guided filter alone and 0.703 for GrabCut alone (README, "Background removal").
DEFAULT_REFINEMENT = "grabcut"


class ImageError(ValueError):
    """A photo that cannot be used, with the reason and the fix."""


# ------------------------------------------------------------------------- reading
def read_image(source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """RGB uint8 [H, W, 3] from a path, bytes, a PIL image or an array: EXIF
    orientation applied; grayscale, 16-bit, CMYK, palette and RGBA made RGB (alpha
    dropped: the model decides what the object is). Raises :class:`ImageError` naming
    the problem for corrupt, truncated or too-large images."""
    from fastfeed.compose import folders

    name = source if isinstance(source, (str, os.PathLike)) else "image"
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
            raise ImageError(f"array of shape {source.shape}: expected [H, W], "
                             f"[H, W, 1], [H, W, 3] or [H, W, 4].")
        if array.dtype == np.uint16:
            array = (array.astype(np.uint32) * 255 // 65535).astype(np.uint8)
        elif array.dtype != np.uint8:
            raise ImageError(f"array of dtype {array.dtype}: expected uint8 or uint16.")
        _check_size(name, array.shape[1], array.shape[0], max_pixels)
        return np.ascontiguousarray(np.repeat(array, 3, axis=2) if array.shape[2] == 1
                                    else array[..., :3])
    try:
        if isinstance(source, Image.Image):
            image = source
        else:
            data = source if isinstance(source, bytes) else open(source, "rb").read()
            image = Image.open(io.BytesIO(data))
        _check_size(name, image.width, image.height, max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
        image = ImageOps.exif_transpose(image)
        image = folders.eight_bit(image, folders.AssetReport(str(name), "image"), str(name))
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageError(f"{name}: not a readable image ({error}); check the file, or "
                         f"re-save it as JPEG or PNG.") from None
    return np.asarray(image.convert("RGB"))


def _check_size(name, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} is {width * height:,} pixels, over "
                         f"the limit of {max_pixels:,}; downscale it first or raise "
                         f"--max-pixels.")


def read_mask(path: str) -> np.ndarray:
    """A ground-truth mask as bool [H, W] (pixels >= 128 of its gray level)."""
    try:
        image = Image.open(path)
        image.load()
    except (OSError, ValueError) as error:
        raise ImageError(f"{path}: not a readable mask ({error}).") from None
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.getchannel("A")
    return np.asarray(image.convert("L")) >= 128


# ------------------------------------------------------------------------ metrics
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


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def mask_pairs(directory: str, limit: int = 0) -> list[tuple[str, str, str]]:
    """``(stem, photo, mask)`` for the photos of ``directory/images`` that have a mask
    of the same stem in ``directory/masks`` (others are logged and left out)."""
    images_dir, masks_dir = (os.path.join(directory, d) for d in ("images", "masks"))
    for folder in (images_dir, masks_dir):
        if not os.path.isdir(folder):
            raise ImageError(f"{folder} not found: a folder of real photos holds images/ "
                             f"(photos) and masks/ (masks, 255 = object, same stems).")
    masks = {os.path.splitext(n)[0]: os.path.join(masks_dir, n)
             for n in sorted(os.listdir(masks_dir)) if n.lower().endswith(IMAGE_SUFFIXES)}
    pairs, unmatched = [], []
    for name in sorted(os.listdir(images_dir)):
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if stem in masks:
            pairs.append((stem, os.path.join(images_dir, name), masks[stem]))
        else:
            unmatched.append(name)
    if unmatched:
        logger.warning("%d photos of %s have no mask of the same stem in masks/ and are "
                       "left out: %s", len(unmatched), images_dir, ", ".join(unmatched[:5]))
    if not pairs:
        raise ImageError(f"{directory}: no photo in images/ has a mask of the same stem "
                         f"in masks/.")
    return pairs[:limit] if limit else pairs


def evaluate_pairs(pairs, methods: dict, progress=None) -> dict[str, Scores]:
    """Scores of each ``methods[name](rgb) -> probability [H, W]`` over ``pairs``
    (from :func:`mask_pairs`), at the photos' full resolution. ``progress(done,
    total)`` is called after each photo."""
    scores = {name: Scores() for name in methods}
    for done, (stem, image_path, mask_path) in enumerate(pairs, 1):
        rgb = read_image(image_path)
        truth = read_mask(mask_path)
        if truth.shape != rgb.shape[:2]:
            raise ImageError(f"{mask_path}: mask {truth.shape[::-1]} and photo "
                             f"{rgb.shape[1::-1]} differ in size.")
        for name, method in methods.items():
            scores[name].add(stem, method(rgb), truth)
        if progress:
            progress(done, len(pairs))
    return scores


# --------------------------------------------------------------------- prediction
def load_model(path: str | None = None):
    """A model trained by ``fastfeed train --task composites`` (its ``model.keras``, or
    the run folder holding ``main/model.keras``), or the shipped default."""
    import keras

    from fastfeed import models

    models.available()  # registers the custom layers
    path = path or DEFAULT_MODEL
    if os.path.isdir(path):
        path = os.path.join(path, "main", "model.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model {path} not found; pass a model.keras written "
                                f"by `fastfeed train --task composites`.")
    return keras.models.load_model(path, compile=False)


def model_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """The photo resized (area) so its longer side is about ``size`` and each side a
    multiple of the model's stride: uint8 [h, w, 3]."""
    from fastfeed.models.segmentation import STRIDE

    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    h = max(STRIDE, int(round(height * scale / STRIDE)) * STRIDE)
    w = max(STRIDE, int(round(width * scale / STRIDE)) * STRIDE)
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def predict_low(model, rgb: np.ndarray, size: int = DEFAULT_SIZE, flip: bool = True
                ) -> np.ndarray:
    """The model's object probability at its input resolution, float32 [h, w]
    (averaged with the mirrored photo's when ``flip``)."""
    small = model_input(rgb, size)
    batch = np.stack([small, small[:, ::-1]]) if flip else small[None]
    logits = np.asarray(model(batch, training=False), np.float32)[..., 0]
    probability = 1.0 / (1.0 + np.exp(-logits))
    return (probability[0] + probability[1][:, ::-1]) / 2 if flip else probability[0]


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float
                  ) -> np.ndarray:
    """He et al.'s guided filter with a gray guide: ``source`` smoothed where the guide
    is flat and following the guide's edges; both float32 [H, W] in [0, 1]."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(source)
    cov_ip = box(guide * source) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def refine(rgb: np.ndarray, probability: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """The low-resolution probability brought to the photo's size: bilinear, then a
    guided filter driven by the photo's gray levels; float32 [H, W] in [0, 1]."""
    height, width = rgb.shape[:2]
    up = cv2.resize(probability.astype(np.float32), (width, height),
                    interpolation=cv2.INTER_LINEAR)
    # The filter's window: about the size of one low-resolution pixel.
    radius = max(1, int(round(max(height / probability.shape[0],
                                  width / probability.shape[1]))))
    guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return np.clip(guided_filter(guide, up, radius, eps), 0.0, 1.0)


REFINEMENTS = ("guided", "grabcut", "none")


def predict(model, rgb: np.ndarray, size: int = DEFAULT_SIZE, refinement: str = "guided"
            ) -> np.ndarray:
    """Object probability at the photo's full resolution, float32 [H, W]: the model's
    map brought up by a guided filter (``'guided'``), by GrabCut seeded with it then
    the guided filter (``'grabcut'``, see :func:`grabcut_refine`), or bilinear only
    (``'none'``)."""
    if refinement not in REFINEMENTS:
        raise ValueError(f"refinement={refinement!r}: use one of {', '.join(REFINEMENTS)}.")
    low = predict_low(model, rgb, size)
    if refinement == "guided":
        return refine(rgb, low)
    if refinement == "grabcut":
        return grabcut_refine(rgb, low)
    height, width = rgb.shape[:2]
    return cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)


def _grabcut_small(rgb: np.ndarray, longest: int):
    height, width = rgb.shape[:2]
    scale = min(1.0, longest / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2BGR)


def _grabcut_run(small, mask, rect, iterations: int, mode: int) -> np.ndarray:
    """GrabCut's object pixels (definite or probable) as float32 0/1, seeded."""
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(small, mask, rect, background, foreground, iterations, mode)
    return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)


def _inset_rect(width: int, height: int, inset: float) -> tuple[int, int, int, int]:
    """GrabCut's rectangle (x, y, w, h): ``inset`` of each side inside the border."""
    return (int(width * inset), int(height * inset), max(1, int(width * (1 - 2 * inset))),
            max(1, int(height * (1 - 2 * inset))))


def grabcut(rgb: np.ndarray, longest: int = 320, iterations: int = 5,
            inset: float = 0.05) -> np.ndarray:
    """OpenCV's GrabCut, model-free: the rectangle ``inset`` inside the border as
    "probably object", ``iterations`` rounds at ``longest`` px on the longer side; the
    object mask at full resolution as float32 0/1."""
    height, width = rgb.shape[:2]
    small = _grabcut_small(rgb, longest)
    h, w = small.shape[:2]
    objects = _grabcut_run(small, np.zeros((h, w), np.uint8), _inset_rect(w, h, inset),
                           iterations, cv2.GC_INIT_WITH_RECT)
    return cv2.resize(objects, (width, height), interpolation=cv2.INTER_NEAREST)


# When GrabCut seeded by the model ends up this far from the model's own map (IoU of
# the two below it), the seed was not an object GrabCut could hold on to, and the
# rectangle's GrabCut is used instead. Chosen on real_dev 0001-0100 with the shipped
# and an adapted model (README, "Adapting to your photos").
RECTANGLE_BELOW = 0.5


def grabcut_refine(rgb: np.ndarray, probability: np.ndarray, longest: int = 320,
                   iterations: int = 5, inset: float = 0.05,
                   rectangle_below: float = RECTANGLE_BELOW, blend: bool = True
                   ) -> np.ndarray:
    """The model's map as GrabCut's seed instead of a rectangle: pixels with
    probability >= 0.5 "probably object", the rest "probably background", and, as the
    GrabCut baseline's rectangle says, background for sure on the border strip
    (``inset`` of each side) wherever the model sees no object there. GrabCut's colour
    models then move the boundary to the photo's edges. Its mask is averaged with the
    model's map (confidence still ranks pixels for the F-measure) and brought to full
    resolution by the guided filter. Where the model sees no object, its own map is
    returned (GrabCut needs seeds of both kinds).

    Per photo, the two maps decide which GrabCut to trust: where the seeded GrabCut's
    object overlaps the model's by less than ``rectangle_below`` (IoU), GrabCut ran
    away from the seed (the colours do not separate what the model picked), and the
    rectangle-initialised GrabCut of :func:`grabcut` takes its place (still averaged
    with the model's map). ``blend=False``: GrabCut's mask alone, not averaged."""
    small = _grabcut_small(rgb, longest)
    h, w = small.shape[:2]
    seed = cv2.resize(probability.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    mask = np.where(seed >= 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    border = np.ones((h, w), bool)
    border[int(h * inset):h - int(h * inset), int(w * inset):w - int(w * inset)] = False
    mask[border & (seed < 0.5)] = cv2.GC_BGD
    if not (mask == cv2.GC_PR_FGD).any() or (mask == cv2.GC_PR_FGD).all():
        return refine(rgb, probability)
    objects = _grabcut_run(small, mask, None, iterations, cv2.GC_INIT_WITH_MASK)
    if iou(objects, seed >= 0.5) < rectangle_below:
        objects = _grabcut_run(small, np.zeros((h, w), np.uint8), _inset_rect(w, h, inset),
                               iterations, cv2.GC_INIT_WITH_RECT)
    return refine(rgb, (objects + seed) / 2 if blend else objects)


# ------------------------------------------------------------------ pseudo-labels
# Changes whenever teacher_labels (or the refinement it calls) labels differently, so
# that cached pseudo-labels of an older teacher are not reused.
TEACHER_VERSION = 2
def teacher_labels(model, rgb: np.ndarray, size: int = DEFAULT_SIZE,
                   disagree_weight: float = 0.3, blend: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A photo's training target without a human mask, and a per-pixel confidence:
    ``(target, weight)``, float32 [H, W] each in [0, 1] at the photo's size.

    The target is what the remover gives (GrabCut seeded by ``model``'s map, see
    :func:`grabcut_refine`); the weight is 1 where it agrees with the model-free
    rectangle GrabCut (:func:`grabcut`) and ``disagree_weight`` where the two differ,
    so the student learns most from what two different teachers agree on.
    ``blend=False``: the target is GrabCut's mask alone (see :func:`grabcut_refine`),
    not averaged with the model's own map, so its corrections count in full."""
    target = grabcut_refine(rgb, predict_low(model, rgb, size), blend=blend)
    agree = (target >= 0.5) == (grabcut(rgb) >= 0.5)
    return target, np.where(agree, 1.0, disagree_weight).astype(np.float32)


def shrink(rgb: np.ndarray, longest: int) -> np.ndarray:
    """The photo with its longer side at most ``longest`` px (area resampling)."""
    height, width = rgb.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


def image_files(folder: str):
    """The image files under ``folder`` by suffix (:data:`IMAGE_SUFFIXES`), recursively,
    hidden files left out; sub-folders and names in sorted order."""
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("."):
                yield os.path.join(root, name)


def photo_paths(folder: str) -> list[str]:
    """:func:`image_files` of ``folder`` as a list; a clear error when it is not a
    folder or holds none."""
    if not os.path.isdir(folder):
        raise ImageError(f"{folder}: not a folder; give a folder of photos (JPEG, PNG...).")
    paths = list(image_files(folder))
    if not paths:
        raise ImageError(f"{folder}: no photos ({', '.join(IMAGE_SUFFIXES)}) in it or "
                         f"its subfolders.")
    return paths


# ---------------------------------------------------------------------------- API
OUTPUTS = ("rgba", "mask", "color")


def cutout(rgb: np.ndarray, alpha: np.ndarray, output: str = "rgba",
           bg_color: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """The photo as RGBA with ``alpha`` (float [H, W] in [0, 1]), the mask alone (L),
    or the object over a solid ``bg_color`` (RGB)."""
    if output not in OUTPUTS:
        raise ValueError(f"output={output!r}: use one of {', '.join(OUTPUTS)}.")
    alpha8 = np.clip(np.round(alpha * 255), 0, 255).astype(np.uint8)
    if output == "mask":
        return Image.fromarray(alpha8, "L")
    if output == "rgba":
        return Image.fromarray(np.dstack([rgb, alpha8]), "RGBA")
    a = alpha[..., None].astype(np.float32)
    colour = np.asarray(bg_color, np.float32)
    blended = rgb.astype(np.float32) * a + colour * (1.0 - a)
    return Image.fromarray(np.clip(np.round(blended), 0, 255).astype(np.uint8), "RGB")


_MODELS: dict = {}


def remove_background(image, *, model=None, output: str = "rgba",
                      bg_color: tuple[int, int, int] = (255, 255, 255),
                      size: int = DEFAULT_SIZE, refinement: str = DEFAULT_REFINEMENT,
                      max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The cut-out of ``image`` (a path, bytes, a PIL image or an RGB/gray array) at
    its full resolution: RGBA (``output='rgba'``), the mask alone (``'mask'``), or the
    object on ``bg_color`` (``'color'``). ``model``: a Keras model or a path to one;
    None loads the shipped default once. ``refinement``: see :func:`predict`."""
    if model is None or isinstance(model, (str, os.PathLike)):
        key = str(model or DEFAULT_MODEL)
        if key not in _MODELS:
            _MODELS[key] = load_model(key)
        model = _MODELS[key]
    rgb = read_image(image, max_pixels)
    return cutout(rgb, predict(model, rgb, size, refinement), output, bg_color)
