"""Preview grids: look at what a pipeline feeds before training on it.

    grid = composite_grid(next(iter(composite_stream(batch_size=8))))
    cv2.imwrite('grid.png', grid[..., ::-1])
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

import cv2
import numpy as np

from fastfeed import files

OUTLINE_RGB = (255, 32, 200)  # magenta: rare in products and surfaces
SAME_RGB, DIFFERENT_RGB = (40, 170, 60), (200, 40, 40)


def outline(image: np.ndarray, mask: np.ndarray, colour=OUTLINE_RGB) -> np.ndarray:
    """``image`` (uint8 HxWx3) with the border of ``mask`` (HxW or HxWx1, nonzero
    inside) drawn one pixel wide."""
    mask = (np.asarray(mask).reshape(image.shape[:2]) > 0).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = np.ascontiguousarray(image).copy()
    cv2.drawContours(out, contours, -1, colour, 1)
    return out


def _tile(cells: list[np.ndarray], columns: int, gap: int = 4) -> np.ndarray:
    height, width = cells[0].shape[:2]
    rows = -(-len(cells) // columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255,
                   np.uint8)
    for k, cell in enumerate(cells):
        r, c = divmod(k, columns)
        grid[r * (height + gap):r * (height + gap) + height,
             c * (width + gap):c * (width + gap) + width] = cell
    return grid


def composite_grid(batch: Mapping[str, np.ndarray], columns: int = 4) -> np.ndarray:
    """A grid of composites, each beside itself with its mask outlined. ``batch``:
    ``{'image': uint8 [B,S,S,3] (or float in [0,1]), 'mask': [B,S,S,1]}``."""
    images = np.asarray(batch["image"])
    if images.dtype != np.uint8:
        images = np.clip(images * 255 + 0.5, 0, 255).astype(np.uint8)
    masks = np.asarray(batch["mask"])
    cells = [np.concatenate([image, outline(image, mask)], axis=1)
             for image, mask in zip(images, masks)]
    return _tile(cells, columns)


def _label_bar(width: int, text: str, colour) -> np.ndarray:
    bar = np.full((22, width, 3), colour, np.uint8)
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return bar


def pairs_grid(pairs: Iterable[Mapping], columns: int = 2, size: int = 160) -> np.ndarray:
    """Pairs side by side over a bar with their label (green: same, red: different).
    Each item: ``{'image1', 'image2': uint8 HxWx3, 'label': 0/1, 'person1',
    'person2': str or bytes}``."""
    cells = []
    for pair in pairs:
        faces = [cv2.resize(np.asarray(pair[k]), (size, size), interpolation=cv2.INTER_AREA)
                 for k in ("image1", "image2")]
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in (pair.get("person1", ""), pair.get("person2", ""))]
        same = int(pair["label"]) == 1
        text = (f"same: {names[0]}" if same else f"different: {names[0]} / {names[1]}")
        row = np.concatenate([faces[0], np.full((size, 4, 3), 255, np.uint8), faces[1]], 1)
        cells.append(np.concatenate(
            [row, _label_bar(row.shape[1], text[:48], SAME_RGB if same else DIFFERENT_RGB)]))
    if not cells:
        raise ValueError("No pairs to show.")
    return _tile(cells, columns, gap=8)


def write_png(path: str, rgb: np.ndarray) -> None:
    """Writes an RGB uint8 array as PNG, creating the folder; raises on failure."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with files.written_whole(path, ".part.png") as temporary:  # cv2 reads the suffix
        if not cv2.imwrite(temporary, np.ascontiguousarray(rgb[..., ::-1])):
            raise OSError(f"Could not write {path!r} (is the suffix .png?).")

