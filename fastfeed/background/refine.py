"""Bringing the model's low-resolution map to the photo: the guided filter, GrabCut
(model-free from a rectangle, or seeded by the model's map), and closed-form matting in
a band along the edge."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np

from fastfeed.background import metrics


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


def guided(rgb: np.ndarray, probability: np.ndarray, eps: float = 1e-4) -> np.ndarray:
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
# rectangle's GrabCut is used instead (chosen on real_dev 0001-0100: docs/experiments.md).
RECTANGLE_BELOW = 0.5
# The seeded GrabCut's rounds in remove-bg's default: 3 gives the cut-outs of 5 in two
# thirds of the time (docs/background.md, "Beside rembg's U²-NetP").
GRABCUT_ITERATIONS = 3


def grabcut_refine(rgb: np.ndarray, probability: np.ndarray, longest: int = 320,
                   iterations: int = GRABCUT_ITERATIONS, inset: float = 0.05,
                   rectangle_below: float = RECTANGLE_BELOW, blend: bool = True,
                   keep_empty: bool = False) -> np.ndarray:
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
    with the model's map). Where that too finds no object at all (the colours say
    "all background"; 10 of the 200 photos of $FASTFEED_DATA/unlabeled), the model's
    own map is returned, as where the model sees none: an empty cut-out of a photo in
    which the model sees an object is never the better answer. ``keep_empty=True``:
    GrabCut's empty mask is kept (the adaptation teacher, as it was measured).
    ``blend=False``: GrabCut's mask alone, not averaged."""
    small = _grabcut_small(rgb, longest)
    h, w = small.shape[:2]
    seed = cv2.resize(probability.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    mask = np.where(seed >= 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    border = np.ones((h, w), bool)
    border[int(h * inset):h - int(h * inset), int(w * inset):w - int(w * inset)] = False
    mask[border & (seed < 0.5)] = cv2.GC_BGD
    if not (mask == cv2.GC_PR_FGD).any() or (mask == cv2.GC_PR_FGD).all():
        return guided(rgb, probability)
    objects = _grabcut_run(small, mask, None, iterations, cv2.GC_INIT_WITH_MASK)
    if metrics.iou(objects, seed >= 0.5) < rectangle_below:
        objects = _grabcut_run(small, np.zeros((h, w), np.uint8), _inset_rect(w, h, inset),
                               iterations, cv2.GC_INIT_WITH_RECT)
    if not keep_empty and not objects.any():
        return guided(rgb, probability)
    return guided(rgb, (objects + seed) / 2 if blend else objects)


# Closed-form matting's band: its half-width is this share of the longer side of the
# image it is solved on (2 px at least; 2 px on a ~400x300 photo gave the best of 2, 3
# and 5 px on real_dev 0001-0100, docs/background.md "Edges"). Larger photos are
# matted at MATTING_SIDE px on their longer side (the cost grows with the pixels).
MATTING_BAND = 0.005
MATTING_SIDE = 1024


def matting_installed() -> bool:
    """Whether pymatting (the ``matting`` extra) can be imported, without importing it
    (its first import compiles numba code)."""
    return importlib.util.find_spec("pymatting") is not None


def pymatting():
    """pymatting's closed-form alpha (PyPI: pymatting, the ``matting`` extra)."""
    try:
        from pymatting import estimate_alpha_cf
    except ImportError:
        raise ImportError("refinement 'matting' needs pymatting: pip install "
                          "'fastfeed[matting]' (or pip install pymatting).") from None
    return estimate_alpha_cf


def matting(rgb: np.ndarray, probability: np.ndarray, band: float = MATTING_BAND,
            longest: int = MATTING_SIDE) -> np.ndarray:
    """``probability`` (float [H, W] at ``rgb``'s size) made an alpha matte: sure object
    more than the band inside the edge of ``probability >= 0.5``, sure background more
    than the band outside, and within it the alpha that closed-form matting (Levin et
    al., PAMI 2008; pymatting) solves from the photo's colours; on the photo at most
    ``longest`` px, brought back to its size bilinearly. A photo with no object or
    nothing else keeps ``probability``."""
    estimate_alpha_cf = pymatting()
    from pymatting.preconditioner.jacobi import jacobi

    height, width = probability.shape
    scale = min(1.0, longest / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = rgb if scale == 1 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    seed = probability if scale == 1 else cv2.resize(probability, size,
                                                     interpolation=cv2.INTER_LINEAR)
    inside = (seed >= 0.5).astype(np.uint8)
    reach = max(2, int(round(band * max(size))))
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    sure_object = cv2.erode(inside, kernel) > 0
    sure_background = cv2.dilate(inside, kernel) == 0
    if not sure_object.any() or not sure_background.any():
        return probability
    trimap = np.where(sure_object, 1.0, np.where(sure_background, 0.0, 0.5))
    # Jacobi's preconditioner: pymatting's default (incomplete Cholesky) prints to
    # stdout when it has to retry, and the band is thin enough not to need it.
    alpha = estimate_alpha_cf(small / 255.0, trimap, preconditioner=jacobi)
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    if scale == 1:
        return alpha
    return cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
