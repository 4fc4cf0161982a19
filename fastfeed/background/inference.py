"""The model's side of background removal: loading a model, its map of a photo, the
map at full resolution, and the labels it gives photos nobody labelled."""

from __future__ import annotations

import logging
import os
import weakref

import cv2
import numpy as np

from fastfeed.background import refine

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models",
                             "weights", "unet_lite0_bg.keras")
DEFAULT_SIZE = 160  # the model's input: this many pixels on the longer side
# GrabCut seeded by the model: better on real photos than the model alone or GrabCut
# alone (measured in docs/background.md). The default of remove-bg, eval-bg, training's
# evaluation on real photos and the API.
DEFAULT_REFINEMENT = "grabcut"
# The model's maps at 0.8, 1 and 1.2 times ``size`` (128, 160 and 192 px), averaged
# (docs/experiments.md, "Maps at three sizes"). (1.0,): one size, a third of the work.
DEFAULT_SCALES = (0.8, 1.0, 1.2)


def load_model(path: str | None = None):
    """A model trained by ``fastfeed train --task composites`` (its ``model.keras``, or
    the run folder holding ``main/model.keras``), or the shipped default."""
    from fastfeed import models

    path = path or DEFAULT_MODEL
    if os.path.isdir(path):
        path = os.path.join(path, "main", "model.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model {path} not found; pass a model.keras written "
                                f"by `fastfeed train --task composites`.")
    try:
        model = models.load(path)
    except ValueError as error:
        raise ValueError(f"model {error} Pass a model.keras written by `fastfeed train "
                         f"--task composites`.") from None
    check_model(model, path)
    return model


def check_model(model, path: str) -> None:
    """ValueError naming ``path`` unless ``model`` is a background remover: one
    3-channel image in, one mask logit per pixel out."""
    inputs, outputs = model.inputs, model.outputs
    if (len(inputs) == 1 and len(outputs) == 1 and len(inputs[0].shape) == 4
            and inputs[0].shape[-1] == 3 and len(outputs[0].shape) == 4
            and outputs[0].shape[-1] == 1):
        return
    shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
    raise ValueError(f"model {path} ({model.name}) takes {len(inputs)} input(s) {shapes} "
                     f"and gives {tuple(outputs[0].shape)}: not a background-removal model "
                     f"(one image in, a mask out), e.g. a face model of `fastfeed train "
                     f"--task lfw`. Pass a model.keras written by `fastfeed train --task "
                     f"composites`.")


def _stride_multiple(length: float) -> int:
    """``length`` rounded to a multiple of the model's stride, at least one stride."""
    from fastfeed.models.segmentation import STRIDE

    return max(STRIDE, int(round(length / STRIDE)) * STRIDE)


def input_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """``(h, w)`` that a ``height`` x ``width`` photo is given to the model at ``size``:
    its longer side about ``size``, each side a multiple of the model's stride."""
    scale = size / max(height, width)
    return _stride_multiple(height * scale), _stride_multiple(width * scale)


def model_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """The photo resized (area) to :func:`input_shape`: uint8 [h, w, 3]."""
    height, width = input_shape(*rgb.shape[:2], size)
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def scaled_sizes(size: int, scales=(1.0,)) -> list[int]:
    """The model's input sizes for ``scales`` of ``size``: each a multiple of the
    model's stride (at least one stride), e.g. 160 at (0.8, 1, 1.2) -> [128, 160, 192]."""
    if not scales or any(not scale > 0 for scale in scales):
        raise ValueError(f"scales={tuple(scales)}: give one or more numbers > 0, e.g. "
                         f"(0.8, 1.0, 1.2) or (1.0,).")
    return [_stride_multiple(size * scale) for scale in scales]


_COMPILED = weakref.WeakKeyDictionary()  # model -> (its tf.function, shapes seen)


class _NoRetracingWarning(logging.Filter):
    """Drops TensorFlow's warning that a function was traced again: here each new
    input shape is traced on purpose (once), and the warning is noise to a user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


_RETRACING = _NoRetracingWarning()


def model_call(model, batch: np.ndarray, traced: bool = False) -> np.ndarray:
    """``model(batch, training=False)`` as float32 logits. A shape that comes a second
    time runs through a ``tf.function`` traced for it (once, about 0.6 s here): a
    2x96x160 batch of the shipped model takes 18 ms instead of eager Keras' 118 ms, so
    folders, servers and training's evaluation go several times faster, while a
    single photo (each shape once) pays no tracing. The two agree to about 5e-6 in
    the logits (the same ops, in a graph). ``traced``: every shape through the
    ``tf.function``, so that the logits do not depend on which call came first (calls
    from several threads)."""
    import tensorflow as tf

    if model not in _COMPILED:
        _COMPILED[model] = (tf.function(lambda x: model(x, training=False),
                                        autograph=False), set())
        tf.get_logger().addFilter(_RETRACING)
    compiled, seen = _COMPILED[model]
    new = batch.shape not in seen
    seen.add(batch.shape)
    if new and not traced:
        return np.asarray(model(batch, training=False), np.float32)
    return np.asarray(compiled(batch), np.float32)


def trace_shapes(model, photo_shapes, size: int = DEFAULT_SIZE, scales=DEFAULT_SCALES) -> int:
    """Traces :func:`model_call`'s function for each batch :func:`predict_low` makes
    of photos of ``photo_shapes`` (``(height, width)`` each) at ``scales`` of ``size``,
    so that from then on every call runs compiled, whichever comes first: for timings
    that must not depend on which of several methods saw a shape first. Returns how
    many shapes were traced (those already seen are not)."""
    shapes = sorted({(2, *input_shape(height, width, side), 3)
                     for height, width in photo_shapes
                     for side in scaled_sizes(size, scales)})
    seen = _COMPILED[model][1] if model in _COMPILED else set()
    new = [shape for shape in shapes if shape not in seen]
    for shape in new:
        model_call(model, np.zeros(shape, np.uint8), traced=True)
    return len(new)


def predict_low(model, rgb: np.ndarray, size: int = DEFAULT_SIZE, flip: bool = True,
                scales=(1.0,), traced: bool = False) -> np.ndarray:
    """The model's object probability at its input resolution, float32 [h, w]
    (averaged with the mirrored photo's when ``flip``). With several ``scales``, the
    maps of the photo at each of :func:`scaled_sizes` are brought (bilinear) to the
    largest one's resolution and averaged. ``traced``: see :func:`model_call`."""
    maps = []
    for side in dict.fromkeys(scaled_sizes(size, scales)):  # in order, once each
        small = model_input(rgb, side)
        batch = np.stack([small, small[:, ::-1]]) if flip else small[None]
        logits = model_call(model, batch, traced)[..., 0]
        probability = 1.0 / (1.0 + np.exp(-logits))
        maps.append((probability[0] + probability[1][:, ::-1]) / 2 if flip
                    else probability[0])
    if len(maps) == 1:
        return maps[0]
    height, width = max(m.shape for m in maps)
    return np.mean([m if m.shape == (height, width) else
                    cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)
                    for m in maps], axis=0)


REFINEMENTS = ("guided", "grabcut", "matting", "none")


def predict(model, rgb: np.ndarray, size: int = DEFAULT_SIZE, refinement: str = DEFAULT_REFINEMENT,
            scales=DEFAULT_SCALES) -> np.ndarray:
    """Object probability at the photo's full resolution, float32 [H, W]: the model's
    map brought up by a guided filter (``'guided'``), by GrabCut seeded with it then
    the guided filter (``'grabcut'``, the default, see
    :func:`fastfeed.background.refine.grabcut_refine`), that made an alpha matte along
    the edge (``'matting'``, :func:`fastfeed.background.refine.matting`; needs
    pymatting), or bilinear only (``'none'``). The model's map: :func:`predict_low`
    at ``scales`` of ``size``."""
    if refinement not in REFINEMENTS:
        raise ValueError(f"refinement={refinement!r}: use one of {', '.join(REFINEMENTS)}.")
    if refinement == "matting":
        refine.pymatting()  # told before the model runs
    low = predict_low(model, rgb, size, scales=scales)
    if refinement == "guided":
        return refine.guided(rgb, low)
    if refinement == "grabcut":
        return refine.grabcut_refine(rgb, low)
    if refinement == "matting":
        return refine.matting(rgb, refine.grabcut_refine(rgb, low))
    height, width = rgb.shape[:2]
    return cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)


# Changes whenever teacher_labels (or the refinement it calls) labels differently, so
# that cached pseudo-labels of an older teacher are not reused. 3: the model's maps
# always from its traced function (photos are labelled in several threads).
TEACHER_VERSION = 3
TEACHER_ITERATIONS = 5  # GrabCut's rounds in the teacher's labels, as adaptation was measured


def teacher_labels(model, rgb: np.ndarray, size: int = DEFAULT_SIZE,
                   disagree_weight: float = 0.3, blend: bool = True, scales=(1.0,)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A photo's training target without a human mask, and a per-pixel confidence:
    ``(target, weight)``, float32 [H, W] each in [0, 1] at the photo's size.

    The target is what the remover gives (GrabCut seeded by ``model``'s map) as the
    shipped model's adaptation was measured: the map at one size (``scales``: maps at
    these times ``size``, averaged, as :func:`predict` does), and GrabCut's mask
    kept where it finds no object (see :func:`grabcut_refine`); the weight is 1 where
    it agrees with the model-free rectangle GrabCut (:func:`grabcut`) and
    ``disagree_weight`` where the two differ, so the student learns most from what two
    different teachers agree on.
    ``blend=False``: the target is GrabCut's mask alone (see :func:`grabcut_refine`),
    not averaged with the model's own map, so its corrections count in full."""
    # keep_empty: a photo where GrabCut finds nothing keeps its empty target, as the
    # shipped model's adaptation was measured (remove-bg gives the model's map there;
    # a teacher that did the same was no better: docs/experiments.md).
    target = refine.grabcut_refine(rgb, predict_low(model, rgb, size, scales=scales,
                                                    traced=True),
                                   blend=blend, keep_empty=True,
                                   iterations=TEACHER_ITERATIONS)
    agree = (target >= 0.5) == (refine.grabcut(rgb) >= 0.5)
    return target, np.where(agree, 1.0, disagree_weight).astype(np.float32)
