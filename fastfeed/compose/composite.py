"""Product/background composites with exact masks, generated on the fly in tf.data.

Each example pastes one RGBA cut-out onto a random crop of one background photo and
labels the object's pixels. All in TF ops (no ``py_function``), from a stateless seed
per example ``(seed, index)``, so it runs in parallel, deterministically:

    stream = composite_stream('procedural', 'procedural', image_size=256, seed=0)
    batch = next(iter(stream))  # {'image': uint8 [32,256,256,3],
                                #  'mask': uint8 [32,256,256,1] in {0,1},
                                #  'alpha': uint8 [32,256,256,1]}

The recipe, per example:

1. pick an object and a background; crop the background at the output size (a uint8
   slice: backgrounds are stored with their shorter side at least the output size);
2. scale (longest side a wide ``scale_range`` of the output: Simple Copy-Paste found
   large scale jitter matters most), rotate, flip and place the object, allowing
   ``max_truncation`` of it outside the border; one projective warp renders only the
   object's region (its rotated box plus a margin for shadow and blur);
3. jitter the object's colours towards the background's mean (a random fraction)
   and in brightness;
4. optionally cast a soft shadow, offset from the object, that darkens the background
   only;
5. blend with an edge treatment drawn per example (none, feathered alpha, blur
   blur of the edge band: Cut, Paste and Learn found mixing them keeps a model from
   keying on paste artefacts).

``alpha`` is the warped alpha, before any edge treatment; ``mask`` is ``alpha >= 128``.
The shadow and the feathering never enter either. Only the object's region is touched
in float; the rest of the canvas is uint8 copies.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from fastfeed.compose import assets, folders
from fastfeed.compose import augment as augment_ops
from fastfeed.compose import service as service_ops

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
PROCEDURAL = "procedural"
EDGE_MODES = ("none", "feather", "blur")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Ranges of the per-example draws (``*_range`` are uniform)."""

    scale_range: tuple[float, float] = (0.25, 0.9)  # object's longest side / output side
    rotation_degrees: float = 25.0  # uniform in [-r, r]
    max_truncation: float = 0.3  # fraction of the object's box allowed outside
    colour_match_range: tuple[float, float] = (0.0, 0.4)  # pull towards background mean
    brightness_range: tuple[float, float] = (0.8, 1.2)
    shadow_probability: float = 0.5
    shadow_strength_range: tuple[float, float] = (0.25, 0.6)
    shadow_offset: int = 8  # pixels, each axis, at most
    edge_probabilities: tuple[float, float, float] = (0.34, 0.33, 0.33)  # EDGE_MODES
    blur_sigma_range: tuple[float, float] = (0.6, 1.6)
    # Scene realism, off by default (the built splits keep their bits); see
    # SCENE_RECIPE and the README's ablation on real photos.
    distractors: int = 0  # up to this many other objects behind the product, unmasked
    distractor_scale_range: tuple[float, float] = (0.15, 0.6)
    layer_probability: float = 0.0  # a second background across a soft random line
    defocus_probability: float = 0.0  # blur everything behind the product
    defocus_sigma_range: tuple[float, float] = (0.01, 0.04)  # fraction of the side


# What `fastfeed train --task composites` trains on: depth of field, layered scenes,
# larger products. (Noise and JPEG over the whole composite are augment ops:
# `gaussian_noise`, `jpeg_quality`.) Distractors (clutter that is not the product) are
# an option, off: they cost IoU on real photos (README, the ablation).
SCENE_RECIPE = Recipe(scale_range=(0.3, 0.95), max_truncation=0.2, distractors=0,
                      layer_probability=0.5, defocus_probability=0.5)

# The product_composites splits' seeds (training streams use --seed, 0 by default):
# the builder makes each split with its seed, the composites task its test split.
SPLIT_SEEDS = {"validation": 1001, "test": 2002}


# --------------------------------------------------------------------------- assets
@dataclasses.dataclass
class AssetTable:
    """Images of varied sizes packed into one flat uint8 tensor, each starting on a
    64-byte boundary (so taking a whole image is a view, not a copy), with their
    offsets (in bytes), sizes and names."""

    names: list[str]
    pixels: tf.Tensor
    offsets: tf.Tensor
    heights: tf.Tensor
    widths: tf.Tensor
    channels: int
    cdf: tf.Tensor | None = None  # float64 cumulative pick probabilities; None: uniform

    @classmethod
    def pack(cls, named_images: Sequence[tuple[str, np.ndarray]],
             weights: Sequence[float] | None = None) -> "AssetTable":
        """``weights``: one per image (relative), or None for a uniform pick."""
        images = [np.ascontiguousarray(image) for _, image in named_images]
        channels = images[0].shape[2]
        sizes = np.array([image.size for image in images], np.int64)
        padded = (sizes + 63) // 64 * 64
        if padded.sum() >= 2**31:
            raise MemoryError(f"{len(images)} assets take {padded.sum() / 2**30:.1f} GiB, "
                              f"over the 2 GiB a table can index; use fewer or smaller "
                              f"assets.")
        offsets = np.concatenate([[0], np.cumsum(padded)[:-1]])
        flat = np.zeros(int(padded.sum()), np.uint8)
        for image, offset in zip(images, offsets):
            flat[offset:offset + image.size] = image.reshape(-1)
        return cls(names=[name for name, _ in named_images], pixels=tf.constant(flat),
                   offsets=tf.constant(offsets, tf.int32),
                   heights=tf.constant([image.shape[0] for image in images], tf.int32),
                   widths=tf.constant([image.shape[1] for image in images], tf.int32),
                   channels=channels,
                   cdf=None if weights is None else tf.constant(
                       np.cumsum(weights) / np.sum(weights), tf.float64))

    def pick(self, u):
        """The image index for a uniform ``u`` in [0, 1) (float64): by the weights."""
        if self.cdf is None:
            return tf.minimum(tf.cast(u * len(self), tf.int32), len(self) - 1)
        index = tf.searchsorted(self.cdf, tf.reshape(u, [1]), side="right")[0]
        return tf.minimum(tf.cast(index, tf.int32), len(self) - 1)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def nbytes(self) -> int:
        return int(self.pixels.shape[0])

    def size(self, index):
        """(height, width) of image ``index``."""
        return tf.gather(self.heights, index), tf.gather(self.widths, index)

    def image(self, index, first_row=0, rows=None):
        """Image ``index`` as [h, w, C], or only ``rows`` rows from ``first_row``."""
        height, width = self.size(index)
        rows = height if rows is None else rows
        row_bytes = width * self.channels
        start = tf.gather(self.offsets, index) + first_row * row_bytes
        flat = tf.slice(self.pixels, tf.reshape(start, [1]), tf.reshape(rows * row_bytes, [1]))
        return tf.reshape(flat, tf.stack([rows, width, self.channels]))


def _is_procedural(source) -> bool:
    return isinstance(source, str) and source == PROCEDURAL


def parse_mix(text: str) -> dict[str, float]:
    """``'procedural:1,path/a:2'`` -> ``{'procedural': 1.0, 'path/a': 2.0}`` (weight 1
    where none is given), the form ``--objects``/``--backgrounds`` take."""
    mix = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        source, _, weight = part.rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            source, value = part, 1.0
        if not source or value <= 0:
            raise ValueError(f"{part!r}: use SOURCE or SOURCE:WEIGHT with a weight > 0 "
                             f"(SOURCE: 'procedural' or a folder).")
        mix[source] = mix.get(source, 0.0) + value
    if not mix:
        raise ValueError(f"{text!r} names no source; use e.g. 'procedural' or "
                         f"'procedural:1,path/to/folder:2'.")
    return mix


def _mixed(source, load) -> tuple[list[tuple[str, np.ndarray]], list[float] | None]:
    """Assets of one source, or of a ``{source: weight}`` mix with per-asset weights
    such that each source is picked in proportion to its weight."""
    if not isinstance(source, dict):
        return load(source), None
    named, weights = [], []
    for part, weight in source.items():
        loaded = load(part)
        named += loaded
        weights += [weight / len(loaded)] * len(loaded)
    return named, weights


def object_assets(source, image_size: int, seed: int = 0, count: int = 48
                  ) -> list[tuple[str, np.ndarray]]:
    """Premultiplied RGBA objects, longest side ``image_size``: procedural ones
    (``'procedural'``), a folder's (path), or ``[(name, straight RGBA)]`` given."""
    if _is_procedural(source):
        named = assets.procedural_objects(count=count, seed=seed,
                                          size=max(image_size, 64))
    elif isinstance(source, (str, os.PathLike)):
        return folders.load_objects(source, longest_side=image_size)[0]
    else:
        named = list(source)
    return [(name, folders.prepare_object(rgba, image_size)) for name, rgba in named]


def background_assets(source, image_size: int, seed: int = 0, count: int = 24
                      ) -> list[tuple[str, np.ndarray]]:
    """RGB backgrounds with shorter side in [image_size, 2*image_size]: procedural,
    a folder's, or ``[(name, RGB)]`` given."""
    if _is_procedural(source):
        named = assets.procedural_backgrounds(count=count, seed=seed,
                                              size=max(int(image_size * 1.5), 64))
    elif isinstance(source, (str, os.PathLike)):
        return folders.load_backgrounds(source, image_size=image_size)[0]
    else:
        named = list(source)
    return [(name, folders.prepare_background(rgb, image_size)) for name, rgb in named]


# ------------------------------------------------------------------- pure functions
def resize_blur(image, sigma):
    """An approximately Gaussian blur of float [H, W, C] by ``sigma`` pixels: an area
    reduction by 2*sigma, then bilinear enlargement back (about half the cost of a
    separable convolution at these sizes: oneDNN's depthwise kernels are slow for one
    or three channels)."""
    size = tf.shape(image)[:2]
    factor = tf.maximum(2.0 * sigma, 1.0)
    small_size = tf.maximum(tf.cast(tf.cast(size, tf.float32) / factor, tf.int32), 1)
    small = tf.image.resize(image[None], small_size, method="area")
    return tf.image.resize(small, size, method="bilinear")[0]


_SHADOW_FACTOR = 4  # the shadow is computed at a quarter of the resolution


def shadow_transform(dy, dx, factor: int = _SHADOW_FACTOR):
    """Projective parameters mapping a region pixel to the point of its ``factor``-times
    smaller copy that lies (dy, dx) pixels up-left: upsampling and offset in one warp."""
    scale = 1.0 / factor
    offset = 0.5 * scale - 0.5  # pixel centres of the small copy
    return tf.stack([scale, 0.0, offset - tf.cast(dx, tf.float32) * scale,
                     0.0, scale, offset - tf.cast(dy, tf.float32) * scale, 0.0, 0.0])


def soft_shadow(alpha, transform, factor: int = _SHADOW_FACTOR):
    """``alpha`` [h, w, 1] averaged down ``factor`` times, then moved and scaled back
    by one bilinear warp with ``transform`` (see :func:`shadow_transform`): a shadow
    about ``factor`` pixels soft, for a sixteenth of a full-size blur's work."""
    size = tf.shape(alpha)[:2]
    small = tf.image.resize(alpha, tf.maximum(size // factor, 1), method="area")
    small = tf.round(small * 256.0) / 256.0  # exact products in the warp: see exact_transform
    return augment_ops.warp(small, transform, size)


def blend_region(colour, alpha, background, edge_weight=None):
    """Premultiplied object colour over a background, on the object's region.

    Args:
      colour: float [h, w, 3] premultiplied by ``alpha``, in [0, 255].
      alpha: float [h, w, 1] in [0, 1].
      background: float [h, w, 3] in [0, 255].
      edge_weight: None, or float [h, w, 1] in [0, 1] to feather with: the blend
        alpha becomes ``alpha * edge_weight`` (colour stays the object's own).
    Returns float [h, w, 3]: ``c + bg (1 - a)``, or ``c k + bg (1 - a k)``.
    """
    if edge_weight is None:
        return colour + background * (1.0 - alpha)
    return colour * edge_weight + background * (1.0 - alpha * edge_weight)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the object's region lands: canvas rows [top, bottom), cols [left, right),
    and the 8 projective parameters mapping region pixels to object pixels."""

    top: tf.Tensor
    bottom: tf.Tensor
    left: tf.Tensor
    right: tf.Tensor
    transform: tf.Tensor


def place_object(height, width, image_size: int, scale, angle, flip, centre_y, centre_x,
                 margin) -> Placement:
    """The region of the canvas covered by an ``height x width`` object scaled so its
    longest side is ``scale * image_size``, rotated by ``angle`` (radians), mirrored if
    ``flip``, centred at (centre_y, centre_x) in canvas pixels, plus ``margin``."""
    scale, angle, centre_y, centre_x = (tf.cast(v, tf.float64) for v in (
        scale, angle, centre_y, centre_x))
    height_f, width_f = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    zoom = scale * image_size / tf.maximum(height_f, width_f)
    cos, sin = tf.cos(angle), tf.sin(angle)
    box_h = zoom * (tf.abs(cos) * height_f + tf.abs(sin) * width_f)
    box_w = zoom * (tf.abs(sin) * height_f + tf.abs(cos) * width_f)

    def span(centre, extent):
        low = tf.cast(tf.floor(centre - extent / 2), tf.int32) - margin
        high = tf.cast(tf.math.ceil(centre + extent / 2), tf.int32) + margin
        low = tf.clip_by_value(low, 0, image_size - 1)
        return low, tf.clip_by_value(high, low + 1, image_size)

    top, bottom = span(centre_y, box_h)
    left, right = span(centre_x, box_w)
    # Region pixel (x, y) -> canvas (x + left, y + top) -> object pixel, by the inverse
    # rotation and scale about the centres (pixel centres at integers).
    sign = tf.where(flip, tf.constant(-1.0, tf.float64), 1.0)
    dx0 = tf.cast(left, tf.float64) - centre_x
    dy0 = tf.cast(top, tf.float64) - centre_y
    a0, a1 = sign * cos / zoom, sign * sin / zoom
    b0, b1 = -sin / zoom, cos / zoom
    transform = tf.stack([a0, a1, a0 * dx0 + a1 * dy0 + (width_f - 1) / 2,
                          b0, b1, b0 * dx0 + b1 * dy0 + (height_f - 1) / 2, 0.0, 0.0])
    return Placement(top, bottom, left, right,
                     tf.cast(augment_ops.exact_transform(transform), tf.float32))


def warp_region(object_rgba, placement: Placement):
    """The object's pixels over the placement's region, bilinear, uint8 [h, w, 4]."""
    shape = tf.stack([placement.bottom - placement.top, placement.right - placement.left])
    return augment_ops.warp(object_rgba, placement.transform, shape)


def _paste(canvas, region, top, bottom, left, right):
    """``canvas`` [S, S, C] with rows [top, bottom) x cols [left, right) replaced by
    ``region``: uint8 slices and concats, the rest of the canvas untouched."""
    middle = tf.concat([canvas[top:bottom, :left], region, canvas[top:bottom, right:]], 1)
    return tf.concat([canvas[:top], middle, canvas[bottom:]], 0)


# ----------------------------------------------------------------------- one example
class Compositor:
    """Makes composite examples from packed objects and backgrounds; ``example(seed)``
    is a pure function of a stateless seed (shape [2] int64)."""

    def __init__(self, objects: AssetTable, backgrounds: AssetTable, image_size: int,
                 recipe: Recipe = Recipe()):
        self.objects, self.backgrounds = objects, backgrounds
        self.image_size, self.recipe = image_size, recipe
        # Pixels around the object's box that blending touches: the edge blur's reach,
        # and the shadow's offset and softness when there is a shadow.
        self.edge_margin = math.ceil(2 * recipe.blur_sigma_range[1]) + 2
        self.shadow_margin = recipe.shadow_offset + 2 * _SHADOW_FACTOR

    def parameters(self, seed, distractor: bool = False) -> dict[str, tf.Tensor]:
        """Every random choice of the example drawn from ``seed`` [2] int64, and what
        follows from it alone (indices, crop, region, warp): scalar work only. A
        ``distractor`` is drawn at its own scales and may leave the frame by half."""
        r, size = self.recipe, self.image_size
        if distractor:
            r = dataclasses.replace(r, scale_range=r.distractor_scale_range,
                                    max_truncation=0.45)
        # Every draw of the example at once: one op instead of one per draw.
        lows, highs = zip(*[
            (0.0, 1.0), (0.0, 1.0), (0.0, 1.0), (0.0, 1.0),  # object, background, crop
            r.scale_range, (-r.rotation_degrees, r.rotation_degrees), (0.0, 1.0),  # flip
            (0.0, 1.0), (0.0, 1.0),  # centre
            r.colour_match_range, r.brightness_range,
            (-r.shadow_offset - 0.5, r.shadow_offset + 0.5),
            (-r.shadow_offset - 0.5, r.shadow_offset + 0.5),
            (0.0, 1.0), r.shadow_strength_range, r.blur_sigma_range, (0.0, 1.0)])
        # In float64: graph rewrites (Grappler reorders arithmetic differently in eager,
        # tf.function and tf.data) then move results by ~1e-16, never across a rounding
        # step of the float32 or dyadic values made from them (see exact_transform).
        uniform = tf.cast(tf.random.stateless_uniform([len(lows)], seed), tf.float64)
        draws = tf.unstack(tf.constant(lows, tf.float64)
                           + tf.constant(np.subtract(highs, lows), tf.float64) * uniform)
        (object_u, background_u, crop_y_u, crop_x_u, scale, angle_degrees, flip_u,
         centre_y_u, centre_x_u, pull, brightness, shadow_dy, shadow_dx, shadow_u,
         shadow_strength, sigma, edge_u) = draws

        def below(u, high):  # an integer uniform in [0, high)
            return tf.minimum(tf.cast(u * tf.cast(high, tf.float64), tf.int32), high - 1)

        object_index = self.objects.pick(object_u)
        background_index = self.backgrounds.pick(background_u)
        has_shadow = shadow_u < r.shadow_probability
        background_height, background_width = self.backgrounds.size(background_index)
        object_height, object_width = self.objects.size(object_index)
        inner = scale * size * (0.5 - r.max_truncation)  # centre's distance to the border
        placement = place_object(
            object_height, object_width, size, scale, angle_degrees * (math.pi / 180),
            flip_u < 0.5, inner + centre_y_u * (size - 2 * inner),
            inner + centre_x_u * (size - 2 * inner),
            self.edge_margin + tf.where(has_shadow, self.shadow_margin, 0))
        thresholds = np.cumsum(r.edge_probabilities)[:-1] / sum(r.edge_probabilities)
        return {
            "object_index": object_index, "background_index": background_index,
            "crop_y": below(crop_y_u, background_height - size + 1),
            "crop_x": below(crop_x_u, background_width - size + 1),
            "top": placement.top, "bottom": placement.bottom,
            "left": placement.left, "right": placement.right,
            "transform": placement.transform, "pull": tf.cast(pull, tf.float32),
            "brightness": tf.cast(brightness, tf.float32),
            "shadow_strength": tf.cast(tf.where(has_shadow, shadow_strength, 0.0),
                                       tf.float32),
            "shadow_transform": shadow_transform(tf.round(shadow_dy), tf.round(shadow_dx)),
            "blur_sigma": tf.cast(sigma, tf.float32),
            "edge_mode": tf.reduce_sum(tf.cast(edge_u >= thresholds, tf.int32)),
        }

    def _blend(self, canvas, p):
        """``canvas`` uint8 [S, S, 3] with the object of parameters ``p`` blended in
        (steps 2-5 of the recipe), and the object's warped alpha over its region."""
        top, bottom, left, right = p["top"], p["bottom"], p["left"], p["right"]
        # 2. One warp of the object's region.
        obj = self.objects.image(p["object_index"])
        warped = warp_region(tf.cast(obj, tf.float32),
                             Placement(top, bottom, left, right, p["transform"]))
        warped_colour, warped_alpha = tf.split(warped, [3, 1], axis=-1)
        alpha_label = tf.saturate_cast(tf.round(warped_alpha), tf.uint8)
        alpha = warped_alpha * (1 / 255)
        background_region = tf.cast(canvas[top:bottom, left:right], tf.float32)
        pull, brightness, sigma = p["pull"], p["brightness"], p["blur_sigma"]
        strength, mode = p["shadow_strength"], p["edge_mode"]

        # 3. Colour: pull the object's mean towards the background's, then brightness.
        object_mean = (tf.reduce_sum(warped_colour, axis=[0, 1])
                       / (tf.reduce_sum(alpha) + 1e-3))
        background_mean = tf.reduce_mean(background_region, axis=[0, 1])
        gains = ((background_mean + 1.0) / (object_mean + 1.0)) ** pull * brightness
        colour = warped_colour * gains  # premultiplied; the final cast clips

        # 4. Shadow: the alpha moved and blurred; darkens the background only.
        background_region = tf.cond(
            strength > 0,
            lambda: background_region * (1.0 - strength * soft_shadow(
                alpha, p["shadow_transform"])),
            lambda: background_region)

        # 5. Edge treatment.
        def plain():
            return blend_region(colour, alpha, background_region)

        def feather():  # alpha softened inwards: the blurred alpha within the object
            return blend_region(colour, alpha, background_region,
                                resize_blur(alpha, sigma))

        def blur_edge():  # the composite blurred across the edge band only
            sharp = plain()
            smooth = resize_blur(alpha, sigma)
            band = 4.0 * smooth * (1.0 - smooth)  # 1 on the edge, 0 away from it
            return sharp + (resize_blur(sharp, sigma) - sharp) * band

        region = tf.switch_case(mode, [plain, feather, blur_edge])
        region = tf.saturate_cast(tf.round(region), tf.uint8)
        return _paste(canvas, region, top, bottom, left, right), alpha_label

    def _scene(self, canvas, seed):
        """The background made a scene (each part only where the recipe asks): a
        second background across a soft line, distractor objects, defocus."""
        r, size = self.recipe, self.image_size
        u = tf.random.stateless_uniform([8], tf.random.experimental.stateless_fold_in(
            seed, 7919), dtype=tf.float64)
        if r.layer_probability > 0:
            def layered():
                index = self.backgrounds.pick(u[1])
                height, width = self.backgrounds.size(index)
                y = tf.cast(u[2] * tf.cast(height - size, tf.float64), tf.int32)
                x = tf.cast(u[3] * tf.cast(width - size, tf.float64), tf.int32)
                other = self.backgrounds.image(index, y, size)[:, x:x + size]
                angle = tf.cast(u[4] * 2 * math.pi, tf.float32)
                grid = tf.range(size, dtype=tf.float32) - size / 2
                line = (grid[None, :] * tf.cos(angle) + grid[:, None] * tf.sin(angle)
                        - tf.cast(u[5] - 0.5, tf.float32) * size)
                weight = tf.sigmoid(line / tf.cast(1.0 + u[6] * size / 16, tf.float32))
                mixed = (tf.cast(canvas, tf.float32) * weight[..., None]
                         + tf.cast(other, tf.float32) * (1.0 - weight[..., None]))
                return tf.saturate_cast(tf.round(mixed), tf.uint8)
            canvas = tf.cond(u[0] < r.layer_probability, layered, lambda: canvas)
        if r.distractors > 0:
            count = tf.cast(u[7] * (r.distractors + 1), tf.int32)
            for k in range(r.distractors):
                p = self.parameters(tf.random.experimental.stateless_fold_in(seed, 100 + k),
                                    distractor=True)
                canvas = tf.cond(k < count, lambda p=p, c=canvas: self._blend(c, p)[0],
                                 lambda c=canvas: c)
        if r.defocus_probability > 0:
            v = tf.random.stateless_uniform([2], tf.random.experimental.stateless_fold_in(
                seed, 7920))
            low, high = r.defocus_sigma_range
            sigma = (low + (high - low) * v[1]) * size
            canvas = tf.cond(
                v[0] < r.defocus_probability,
                lambda: tf.saturate_cast(tf.round(resize_blur(
                    tf.cast(canvas, tf.float32), sigma)), tf.uint8),
                lambda: canvas)
        return canvas

    def example(self, seed) -> dict[str, tf.Tensor]:
        """The composite for ``seed`` [2] int64: image, mask, alpha and the indices."""
        size = self.image_size
        p = self.parameters(seed)
        top, bottom, left, right = p["top"], p["bottom"], p["left"], p["right"]
        # 1. Background crop: a uint8 slice (made a scene where the recipe asks).
        canvas = self.backgrounds.image(p["background_index"], p["crop_y"], size)
        canvas = canvas[:, p["crop_x"]:p["crop_x"] + size]
        canvas = self._scene(canvas, seed)
        image, alpha_label = self._blend(canvas, p)  # steps 2-5
        padding = [[top, size - bottom], [left, size - right]]
        full_alpha = tf.pad(alpha_label[..., 0], padding)[..., None]
        mask = tf.pad(tf.cast(alpha_label[..., 0] >= 128, tf.uint8), padding)[..., None]
        image = tf.ensure_shape(image, [size, size, 3])
        full_alpha = tf.ensure_shape(full_alpha, [size, size, 1])
        return {"image": image,
                "mask": tf.ensure_shape(mask, [size, size, 1]),
                "alpha": full_alpha,
                "object_index": p["object_index"],
                "background_index": p["background_index"]}


def make_compositor(objects=PROCEDURAL, backgrounds=PROCEDURAL, *, image_size: int = 256,
                    asset_seed: int = 0, recipe: Recipe = Recipe()) -> Compositor:
    """Loads (or renders) and packs the assets once; see :func:`composite_stream`."""
    if image_size < 16:
        raise ValueError(f"image_size={image_size} is too small; use 16 or more.")
    object_table = AssetTable.pack(*_mixed(
        objects, lambda source: object_assets(source, image_size, asset_seed)))
    background_table = AssetTable.pack(*_mixed(
        backgrounds, lambda source: background_assets(source, image_size, asset_seed)))
    logger.info("Composite assets: %d objects (%.1f MiB), %d backgrounds (%.1f MiB)",
                len(object_table), object_table.nbytes / 2**20, len(background_table),
                background_table.nbytes / 2**20)
    return Compositor(object_table, background_table, image_size, recipe)


def composite_examples(compositor: Compositor, *, seed: int = 0, start: int = 0,
                       stop: int | None = None, finish: Callable | None = None,
                       num_parallel_calls: int = AUTOTUNE) -> tf.data.Dataset:
    """Unbatched examples ``index = start, start+1, ...`` (up to ``stop``, or
    infinite), example i drawn from the stateless seed (seed, i), with
    ``object_index``/``background_index``; ``finish(index, example) -> example`` runs
    in the same map when given."""
    def make(index):
        example = compositor.example(tf.stack([tf.constant(seed, tf.int64), index]))
        return example if finish is None else finish(index, example)

    options = tf.data.Options()
    options.deterministic = True
    indices = (tf.data.Dataset.counter(start) if stop is None
               else tf.data.Dataset.range(start, stop))
    return (indices.map(make, num_parallel_calls=num_parallel_calls, deterministic=True)
            .with_options(options))


def composite_stream(objects=PROCEDURAL, backgrounds=PROCEDURAL, *, image_size: int = 256,
                     batch_size: int = 32, seed: int = 0, augment=None,
                     dtype=tf.uint8, recipe: Recipe = Recipe(), asset_seed: int = 0,
                     num_parallel_calls: int = AUTOTUNE, start: int = 0,
                     compositor: Compositor | None = None, shard: tuple[int, int] = (1, 0),
                     service: str | None = None, job_name: str | None = None
                     ) -> tf.data.Dataset:
    """Infinite batches ``{'image': [B,S,S,3], 'mask': uint8 [B,S,S,1] in {0,1},
    'alpha': uint8 [B,S,S,1]}`` of objects pasted on backgrounds.

    Args:
      objects: ``'procedural'`` (built-in, rendered from ``asset_seed``), a folder of
        RGBA PNG/WebP cut-outs (recursive; unusable files are skipped and logged), or
        a list of ``(name, straight-alpha RGBA uint8)``.
      backgrounds: ``'procedural'``, a folder of JPEG/PNG/WebP photos, or a list of
        ``(name, RGB uint8)``. Smaller than ``image_size``: scaled up. Either may be
        a mix ``{source: weight}`` (see :func:`parse_mix`): each source is picked in
        proportion to its weight, then an asset of it uniformly.
      image_size: output side S.
      batch_size: examples per batch.
      seed: example i is drawn from the stateless seed (seed, i): the same seed gives
        the same examples bit for bit, whatever the parallelism or batch size.
      augment: moves ``mask`` and ``alpha`` with ``image`` (nearest-neighbour). A spec
        string of :mod:`fastfeed.compose.augment` ops (``'flip_lr|rotate(10)|hue(0.05)'``)
        or ``fn(index, example) -> example`` runs on each example i before batching
        (draws from (seed, i): independent of the batch size). An albumentations
        transform (object, dict, or JSON/YAML path) runs on each batch k after
        batching, one Python call per batch (example i of batch k seeded from
        (seed, k, i): the same examples for the same batch size).
      dtype: tf.uint8 (default) or tf.float32 for ``image`` in [0, 1].
      recipe: ranges of the random draws, see :class:`Recipe`.
      num_parallel_calls: parallel examples (tests use it to show determinism).
      start: the first batch (a resumed training's): the stream from batch ``start``
        on is the one that would have followed batch ``start - 1``.
      compositor: assets already packed by :func:`make_compositor` (then ``objects``,
        ``backgrounds``, ``image_size``, ``recipe`` and ``asset_seed`` are its own).
      shard, service, job_name: scaling out, as :mod:`fastfeed.compose.service`
        says: one worker's batches of a multi-worker training, and the batches made
        on tf.data service workers (pure-TF ``augment`` only), bit for bit the local
        ones.
    """
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"dtype must be tf.uint8 or tf.float32, not {dtype!r}.")
    # An albumentations transform runs once per batch (one Python call for B examples:
    # per example, the call costs more than the transform); native ops per example.
    per_batch = augment_ops.is_albumentations(augment)
    if service:
        service_ops.check_pure(augment)
    augment = augment_ops.resolve(augment, seed=seed, image_keys=("image",),
                                  mask_keys=("mask", "alpha"))
    if compositor is None:
        compositor = make_compositor(objects, backgrounds, image_size=image_size,
                                     asset_seed=asset_seed, recipe=recipe)

    def to_dtype(example):
        if dtype == tf.float32:
            example = {**example, "image": tf.cast(example["image"], tf.float32) / 255.0}
        return example

    def finish(index, example):
        example = {key: example[key] for key in ("image", "mask", "alpha")}
        if augment is not None and not per_batch:
            example = augment(index, example)
        return example if per_batch else to_dtype(example)

    def whole_batch(k):  # batch k: examples kB ... kB + B - 1
        return composite_examples(compositor, seed=seed, start=k * batch_size,
                                  stop=(k + 1) * batch_size, finish=finish,
                                  num_parallel_calls=num_parallel_calls)

    numbers = service_ops.batch_numbers(start, shard)
    if service or shard != (1, 0):
        # Made per batch number, so that the service's sharding (or a multi-worker
        # shard) hands out whole batches, each the local stream's batch k.
        stream = numbers.interleave(whole_batch, block_length=batch_size,
                                    num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        stream = composite_examples(compositor, seed=seed, start=start * batch_size,
                                    finish=finish, num_parallel_calls=num_parallel_calls)
    stream = stream.batch(batch_size, drop_remainder=True)
    if per_batch:
        stream = tf.data.Dataset.zip(numbers, stream).map(
            lambda k, batch: to_dtype(augment(k, batch)), num_parallel_calls=AUTOTUNE,
            deterministic=True)
    if service:
        stream = service_ops.distribute(stream, service, job_name)
    return stream.prefetch(AUTOTUNE)
