"""Loading composite assets from a user's folders: RGBA cut-outs and background photos.

Every file below the folder (recursively, links may not lead outside it) with an image
suffix is read once. What cannot be used is skipped and reported with a count and the
first names, never fatal unless nothing usable is left:

- objects need a real alpha channel: a file without one, or whose alpha is all opaque
  or all transparent, is skipped;
- palette, grayscale, 16-bit and CMYK files are converted (and counted); an EXIF
  orientation is applied, so a camera's portrait photo is not loaded sideways;
- corrupt or truncated files, files over ``images.MAX_PIXELS`` or over
  ``files.MAX_FILE_BYTES``, and links that escape the folder are skipped
  (:mod:`fastfeed.images` is the policy).

    DATA = files.data_root()  # $FASTFEED_DATA (docs/data.md)
    objects, report = load_objects(f'{DATA}/products/objects', longest_side=256)
    print(report.summary())
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from fastfeed import files, images

logger = logging.getLogger(__name__)



@dataclasses.dataclass
class AssetReport:
    """What a folder load kept, converted and skipped (path, reason)."""

    folder: str
    kind: str
    kept: int = 0
    converted: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def summary(self, shown: int = 3) -> str:
        text = f"{self.kind} from {self.folder}: {self.kept} loaded"
        if self.converted:
            modes = sorted({why for _, why in self.converted})
            text += f", {len(self.converted)} converted ({', '.join(modes)})"
        if self.skipped:
            first = "; ".join(f"{name}: {why}" for name, why in self.skipped[:shown])
            more = " ..." if len(self.skipped) > shown else ""
            text += f", {len(self.skipped)} skipped ({first}{more})"
        return text


class AssetError(ValueError):
    """A folder that yields no usable asset."""


def _candidates(folder: str, suffixes: tuple[str, ...], kind: str) -> tuple[files.FileTree,
                                                                          list[str]]:
    if not os.path.isdir(folder):
        raise AssetError(f"{kind} folder {folder!r} does not exist; pass a folder of "
                         f"{'/'.join(suffixes)} files.")
    tree = files.open_tree(folder)
    names = images.image_names(tree, suffixes)
    if not names:
        raise AssetError(f"{kind} folder {folder!r} holds no {'/'.join(suffixes)} files "
                         f"(searched recursively); add some or pass another folder.")
    return tree, names


def _open(tree: files.FileTree, name: str, report: AssetReport, max_pixels: int
          ) -> Image.Image:
    """The decoded 8-bit image (conversions counted in ``report``), or
    ValueError/OSError with the reason."""
    data = tree.read_many([name])[name]  # raises for escaping links, too-large files
    image, converted = images.decode(data, name, max_pixels)
    if converted:
        report.converted.append((name, converted))
    return image


def _log(report: AssetReport) -> None:
    if report.skipped:
        logger.warning("%s", report.summary(shown=5))
    else:
        logger.info("%s", report.summary())


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-6:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1
                      else cv2.INTER_LINEAR)


def prepare_object(rgba: np.ndarray, longest_side: int) -> np.ndarray:
    """Crops straight-alpha RGBA to its visible box, scales its longest side to
    ``longest_side`` (area averaging on premultiplied colour: no dark fringes) and
    returns it premultiplied, uint8."""
    rows, cols = np.nonzero(rgba[..., 3])
    rgba = rgba[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    alpha = rgba[..., 3:].astype(np.float32) / 255
    premultiplied = np.concatenate([rgba[..., :3] * alpha, rgba[..., 3:]], axis=-1)
    scaled = _resize(premultiplied.astype(np.float32), longest_side / max(rgba.shape[:2]))
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def prepare_background(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """Scales so the shorter side is between ``image_size`` (upscaled when smaller:
    every crop is full) and twice that (large photos are reduced to bound memory)."""
    shorter = min(rgb.shape[:2])
    scale = 1.0
    if shorter < image_size:
        scale = image_size / shorter
    elif shorter > 2 * image_size:
        scale = 2 * image_size / shorter
    out = _resize(rgb, scale)
    if min(out.shape[:2]) < image_size:  # rounding
        out = cv2.resize(out, (max(out.shape[1], image_size), max(out.shape[0], image_size)))
    return out


def _load(folder, suffixes: tuple[str, ...], kind: str, prepare: Callable,
          max_pixels: int) -> tuple[list[tuple[str, np.ndarray]], AssetReport]:
    """Every usable file below ``folder``: ``prepare(image)`` gives the array, or a
    string saying why the file is skipped."""
    folder = os.fspath(folder)
    tree, names = _candidates(folder, suffixes, kind.capitalize())
    report = AssetReport(folder, kind)
    loaded = []
    for name in names:
        try:
            result = prepare(_open(tree, name, report, max_pixels))
        except (OSError, ValueError) as error:
            result = f"unreadable: {error}"
        if isinstance(result, str):
            report.skipped.append((name, result))
        else:
            loaded.append((name, result))
    report.kept = len(loaded)
    _log(report)
    if not loaded:
        item = {"objects": "cut-out", "backgrounds": "background"}[kind]
        raise AssetError(f"No usable {item} in {folder!r}: {report.summary(shown=5)}.")
    return loaded, report


def load_objects(folder: str | os.PathLike, *, longest_side: int = 256,
                 max_pixels: int = images.MAX_PIXELS
                 ) -> tuple[list[tuple[str, np.ndarray]], AssetReport]:
    """RGBA cut-outs below ``folder`` as ``[(relative name, premultiplied uint8
    HxWx4)]``, sorted by name, each scaled to ``longest_side``; and the report.
    Raises AssetError if the folder is missing, empty or has no usable cut-out."""
    def prepare(image: Image.Image):
        if image.mode != "RGBA":
            return "no alpha channel (a cut-out needs transparency)"
        rgba = np.asarray(image)
        if rgba[..., 3].min() == 255:
            return "alpha is fully opaque (not cut out)"
        if rgba[..., 3].max() == 0:
            return "alpha is fully transparent (nothing to paste)"
        return prepare_object(rgba, longest_side)

    return _load(folder, images.SUFFIXES, "objects", prepare, max_pixels)


def load_backgrounds(folder: str | os.PathLike, *, image_size: int = 256,
                     max_pixels: int = images.MAX_PIXELS
                     ) -> tuple[list[tuple[str, np.ndarray]], AssetReport]:
    """Background photos below ``folder`` as ``[(relative name, uint8 HxWx3)]``,
    sorted, scaled by :func:`prepare_background`; and the report."""
    return _load(folder, images.SUFFIXES, "backgrounds",
                 lambda image: prepare_background(np.asarray(image.convert("RGB")),
                                                  image_size), max_pixels)
