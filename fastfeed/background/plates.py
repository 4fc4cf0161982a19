"""Background plates: the largest part of a photo with no object in it, for composites.

Real photos without masks teach what a scene behind an object looks like (grass,
water, a street, a blurred room) better than textures do. ``remove-bg --plate`` cuts
from each photo the largest rectangle that the remover's mask, widened by a margin,
leaves free, no narrower than a share of the photo; ``train --task composites
--backgrounds`` then pastes cut-outs on them.

    alpha = background.predict(model, rgb)
    box = plates.plate_box(alpha)               # (top, left, height, width) or None
    if box:
        top, left, height, width = box
        plate = rgb[top:top + height, left:left + width]
"""

from __future__ import annotations

import cv2
import numpy as np

GRID = 64  # the mask is searched on a grid of at most this many cells a side
MIN_SIDE = 0.35  # a plate's sides: at least this share of the photo's shorter side
MARGIN = 0.03  # the object widened by this share of the photo's longer side
MAX_ASPECT = 2.0  # a plate's longer side at most this many times its shorter


def plate_box(alpha: np.ndarray, min_side: float = MIN_SIDE, margin: float = MARGIN,
              max_aspect: float = MAX_ASPECT, grid: int = GRID
              ) -> tuple[int, int, int, int] | None:
    """``(top, left, height, width)`` in ``alpha``'s pixels of the largest rectangle
    (by area, sides at most ``max_aspect`` apart) clear of the object (``alpha`` >=
    0.5, widened by ``margin``), each side at least ``min_side`` times the shorter side
    of ``alpha``; None when there is none. The search runs on a grid of at most
    ``grid`` cells a side; a cell holding any object counts as object."""
    if not (0 < min_side <= 1 and margin >= 0 and max_aspect >= 1 and grid >= 4):
        raise ValueError(f"min_side={min_side}, margin={margin}, max_aspect={max_aspect}, "
                         f"grid={grid}: need 0 < min_side <= 1, margin >= 0, "
                         f"max_aspect >= 1, grid >= 4.")
    height, width = alpha.shape[:2]
    cell = max(height, width) / grid
    rows, cols = max(1, round(height / cell)), max(1, round(width / cell))
    # A cell is object if any pixel in it is (its area average is then above 0).
    taken = cv2.resize((alpha >= 0.5).astype(np.float32), (cols, rows),
                       interpolation=cv2.INTER_AREA) > 0
    reach = int(np.ceil(margin * grid))
    if reach:
        taken = cv2.dilate(taken.astype(np.uint8), np.ones((2 * reach + 1,) * 2)) > 0
    least = int(np.ceil(min_side * min(rows, cols)))
    # below[t, c]: object cells in rows < t of column c, so rows t..b hold
    # below[b + 1] - below[t] of them.
    below = np.concatenate([np.zeros((1, cols), np.int32),
                            np.cumsum(taken, axis=0, dtype=np.int32)])
    best, best_area = None, 0
    for top in range(rows - least + 1):
        for bottom in range(top + least, rows + 1):
            tall = bottom - top
            free = (below[bottom] - below[top]) == 0
            if not free.any():
                break  # a taller band from this top only holds more
            start, run = _longest_run(free)
            run = min(run, int(max_aspect * tall))
            if run < least or tall > max_aspect * run:
                continue
            if tall * run > best_area:
                best_area, best = tall * run, (top, start, tall, run)
    if best is None:
        return None
    top, left, tall, wide = best
    scale_y, scale_x = height / rows, width / cols
    y0, x0 = int(round(top * scale_y)), int(round(left * scale_x))
    y1 = min(height, int(round((top + tall) * scale_y)))
    x1 = min(width, int(round((left + wide) * scale_x)))
    return y0, x0, y1 - y0, x1 - x0


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """``(start, length)`` of the longest run of True in ``flags`` (the first such)."""
    padded = np.concatenate([[0], flags.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[::2], edges[1::2]
    if not len(starts):
        return 0, 0
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k] - starts[k])


def plate(rgb: np.ndarray, alpha: np.ndarray, **options) -> np.ndarray | None:
    """The photo's plate (:func:`plate_box` of ``alpha``), or None when it has none."""
    box = plate_box(alpha, **options)
    if box is None:
        return None
    top, left, height, width = box
    return rgb[top:top + height, left:left + width]
