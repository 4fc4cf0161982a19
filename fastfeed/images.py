"""The one image reader: which files are images, how large one may be, and how any of
them becomes 8-bit RGB or RGBA.

    from fastfeed import images
    rgb = images.read_rgb("photo.jpg")                 # uint8 [H, W, 3], EXIF applied
    for path in images.image_paths("shop_photos/"):    # every image below, sorted
        ...

One policy for every reader of fastfeed (remove-bg, eval-bg, the unlabelled photos of
self-training, the compositing assets of user folders):

- an image file is one whose suffix is in :data:`SUFFIXES`, found recursively with
  hidden files left out, by :func:`image_paths` (links may not lead outside the folder,
  see :mod:`fastfeed.files`);
- an image over ``max_pixels`` (default :data:`MAX_PIXELS`) is refused before it is
  decoded, with an :class:`ImageError` naming the file, its size and the limit; so are
  corrupt and truncated files;
- palette, grayscale, 1-bit, 16-bit and CMYK images become RGB (RGBA where they carry
  transparency), each conversion named; the EXIF orientation is applied.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
logger = logging.getLogger(__name__)

MAX_PIXELS = 100_000_000  # 100 MP: a larger image is refused, not decoded


class ImageError(ValueError):
    """An image that cannot be used, with the reason and the fix."""


def check_size(name, width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raises :class:`ImageError` when ``width x height`` is over ``max_pixels``."""
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} is {width * height:,} pixels, over "
                         f"the limit of {max_pixels:,}; downscale it first or raise "
                         f"the limit (--max-pixels).")


def eight_bit(image: Image.Image) -> tuple[Image.Image, str]:
    """``(image as RGB or RGBA, what was converted: '' when nothing)``."""
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image, ""
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image).astype(np.uint32)
        top = 65535 if values.max() > 255 else 255
        gray = Image.fromarray((values * 255 // top).astype(np.uint8), "L")
        return gray.convert("RGB"), "16-bit"
    what = {"P": "palette", "PA": "palette", "L": "grayscale", "LA": "grayscale",
            "1": "1-bit", "CMYK": "CMYK"}.get(mode, mode)
    keeps_alpha = mode in ("LA", "PA", "La") or "transparency" in image.info
    return image.convert("RGBA" if keeps_alpha else "RGB"), what


def decode(data: bytes, name: str, max_pixels: int = MAX_PIXELS
           ) -> tuple[Image.Image, str]:
    """``(8-bit RGB or RGBA image, conversion)`` from encoded bytes, its size checked
    before decoding and its EXIF orientation applied; :class:`ImageError` naming
    ``name`` for anything unusable."""
    try:
        with warnings.catch_warnings():
            # The size is checked against max_pixels below, before decoding: PIL's own
            # decompression-bomb guess (89 MP) is not the policy.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            check_size(name, image.width, image.height, max_pixels)
            image.load()  # truncated or corrupt data fails here
        # Cameras store the sensor's orientation in EXIF; without this, a portrait
        # photo would be read sideways.
        return eight_bit(ImageOps.exif_transpose(image))
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: over twice PIL's decompression-bomb limit of "
                         f"{Image.MAX_IMAGE_PIXELS:,} pixels; downscale it first.") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"{name}: not a readable image ({_no_address(error)}); check the "
                         f"file, or re-save it as JPEG or PNG.") from None


def _no_address(error) -> str:
    """An error's text without the memory addresses of objects it names."""
    return re.sub(r"<([\w.]+) object at 0x[0-9a-fA-F]+>", r"<\1>", str(error))


def read_rgb(source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """RGB uint8 [H, W, 3] from a path, bytes, a PIL image or an array (alpha dropped:
    what the object is, the model decides; :func:`read_rgb_alpha` keeps it). Arrays
    may be [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], uint8 or uint16."""
    return read_rgb_alpha(source, max_pixels)[0]


def read_rgb_alpha(source, max_pixels: int = MAX_PIXELS
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb, alpha)``: :func:`read_rgb`'s RGB and the image's own transparency as
    uint8 [H, W], or None when it has none (no alpha, or an opaque one)."""
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "image"
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, np.ndarray,
                               Image.Image)):
        raise ImageError(f"{type(source).__name__} is not an image: give a path, bytes, "
                         f"a PIL image or an array.")
    if isinstance(source, np.ndarray):
        array = source[..., None] if source.ndim == 2 else source
        if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
            raise ImageError(f"array of shape {source.shape}: expected [H, W], "
                             f"[H, W, 1], [H, W, 3] or [H, W, 4].")
        if not array.size:
            raise ImageError(f"array of shape {source.shape}: empty; give an image of "
                             f"at least one pixel.")
        if array.dtype == np.uint16:
            array = (array.astype(np.uint32) * 255 // 65535).astype(np.uint8)
        elif array.dtype != np.uint8:
            raise ImageError(f"array of dtype {array.dtype}: expected uint8 or uint16.")
        check_size(name, array.shape[1], array.shape[0], max_pixels)
        rgb = np.ascontiguousarray(np.repeat(array, 3, axis=2) if array.shape[2] == 1
                                   else array[..., :3])
        return rgb, _transparency(array[..., 3] if array.shape[2] == 4 else None)
    if isinstance(source, Image.Image):
        check_size(name, source.width, source.height, max_pixels)
        image, _ = eight_bit(ImageOps.exif_transpose(source))
    else:
        if isinstance(source, (bytes, bytearray)):
            data = bytes(source)
        else:
            try:
                with open(source, "rb") as f:
                    data = f.read()
            except OSError as error:
                raise ImageError(f"{name}: cannot be read ({error.strerror}).") from None
        image, _ = decode(data, name, max_pixels)
    alpha = None
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    return np.asarray(image.convert("RGB")), _transparency(alpha)


def _transparency(alpha: np.ndarray | None) -> np.ndarray | None:
    return None if alpha is None or alpha.min() == 255 else np.ascontiguousarray(alpha)


def read_mask(path: str) -> np.ndarray:
    """A ground-truth mask as bool [H, W]: its alpha where it has one, else its gray
    level, >= 128; a mask stored as 0 and 1 (the largest value 1) is read as such."""
    try:
        image = Image.open(path)
        image.load()
    except (OSError, ValueError) as error:
        raise ImageError(f"{path}: not a readable mask ({error}).") from None
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.getchannel("A")
    gray = np.asarray(eight_bit(image)[0].convert("L"))  # 16-bit scaled as photos are
    return gray >= (1 if gray.max() == 1 else 128)


def shrink(rgb: np.ndarray, longest: int) -> np.ndarray:
    """The image with its longer side at most ``longest`` px (area resampling)."""
    height, width = rgb.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


def image_names(tree, suffixes: tuple[str, ...] = SUFFIXES) -> list[str]:
    """The image files of a :class:`fastfeed.files.FileTree` (relative names, sorted),
    hidden files left out."""
    return sorted(name for name in tree.names() if name.lower().endswith(suffixes)
                  and not os.path.basename(name).startswith("."))


def image_paths(folder: str, suffixes: tuple[str, ...] = SUFFIXES) -> list[str]:
    """Every image file below ``folder`` (recursively, sorted; a link that leads
    outside it is left out, with a warning); :class:`ImageError` when it is not a
    folder or holds none."""
    from fastfeed import files

    if not os.path.isdir(folder):
        raise ImageError(f"{folder}: not a folder; give a folder of images "
                         f"({', '.join(suffixes)}).")
    tree = files.DirectoryTree(folder)
    paths = []
    for name in image_names(tree, suffixes):
        try:
            tree.resolve(name)
        except files.UnsafePathError as error:
            logger.warning("skipped: %s", error)
            continue
        paths.append(os.path.join(folder, name))
    if not paths:
        raise ImageError(f"{folder}: no images ({', '.join(suffixes)}) in it or its "
                         f"subfolders.")
    return paths
