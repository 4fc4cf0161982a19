"""Background removal: the object of a photo cut out by a model trained on generated
composites, refined against the photo.

    from fastfeed import background
    cutout = background.remove_background("photo.jpg")        # RGBA PIL image
    cutout.save("photo.png")
    mask = background.remove_background("photo.jpg", output="mask")

The modules: :mod:`~fastfeed.background.inference` (models, their maps, pseudo-labels),
:mod:`~fastfeed.background.refine` (guided filter, GrabCut),
:mod:`~fastfeed.background.metrics` (IoU, F, S, E, per-photo differences). Adapting
the model to a user's own photos drives training, so it sits above: :mod:`fastfeed.adapt`.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from fastfeed import images
from fastfeed.background import inference, metrics, refine
from fastfeed.background.inference import (DEFAULT_MODEL, DEFAULT_REFINEMENT,
                                           DEFAULT_SCALES, DEFAULT_SIZE, REFINEMENTS,
                                           load_model, predict)

__all__ = ["DEFAULT_MODEL", "DEFAULT_REFINEMENT", "DEFAULT_SCALES", "DEFAULT_SIZE",
           "OUTPUTS", "REFINEMENTS", "cutout", "inference", "keep_transparency",
           "load_model", "metrics", "predict", "refine", "remove_background"]

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
                      scales=DEFAULT_SCALES, max_pixels: int = images.MAX_PIXELS
                      ) -> Image.Image:
    """The cut-out of ``image`` (a path, bytes, a PIL image or an RGB/gray array) at
    its full resolution (a photo's own transparency kept: what is transparent there
    stays so): RGBA (``output='rgba'``), the mask alone (``'mask'``), or the
    object on ``bg_color`` (``'color'``). ``model``: a Keras model or a path to one;
    None loads the shipped default once. ``refinement``, ``scales``: see
    :func:`fastfeed.background.predict`."""
    if model is None or isinstance(model, (str, os.PathLike)):
        key = str(model or DEFAULT_MODEL)
        if key not in _MODELS:
            _MODELS[key] = load_model(key)
        model = _MODELS[key]
    rgb, own = images.read_rgb_alpha(image, max_pixels)
    return cutout(rgb, keep_transparency(predict(model, rgb, size, refinement, scales),
                                         own), output, bg_color)


def keep_transparency(alpha: np.ndarray, own: np.ndarray | None) -> np.ndarray:
    """The cut-out's alpha within the photo's own transparency (uint8, None for an
    opaque photo): what was already removed stays removed."""
    if own is None:
        return alpha
    return np.minimum(alpha, own.astype(np.float32) / 255.0)
