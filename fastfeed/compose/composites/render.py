"""The pixel operations of one composite, in TF ops: blur, shadow, blending, the
object's placement and its projective warp."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from fastfeed.compose import augment


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


SHADOW_FACTOR = 4  # the shadow is computed at a quarter of the resolution


def shadow_transform(dy, dx, factor: int = SHADOW_FACTOR):
    """Projective parameters mapping a region pixel to the point of its ``factor``-times
    smaller copy that lies (dy, dx) pixels up-left: upsampling and offset in one warp."""
    scale = 1.0 / factor
    offset = 0.5 * scale - 0.5  # pixel centres of the small copy
    return tf.stack([scale, 0.0, offset - tf.cast(dx, tf.float32) * scale,
                     0.0, scale, offset - tf.cast(dy, tf.float32) * scale, 0.0, 0.0])


def soft_shadow(alpha, transform, factor: int = SHADOW_FACTOR):
    """``alpha`` [h, w, 1] averaged down ``factor`` times, then moved and scaled back
    by one bilinear warp with ``transform`` (see :func:`shadow_transform`): a shadow
    about ``factor`` pixels soft, for a sixteenth of a full-size blur's work."""
    size = tf.shape(alpha)[:2]
    small = tf.image.resize(alpha, tf.maximum(size // factor, 1), method="area")
    small = tf.round(small * 256.0) / 256.0  # exact products in the warp: see exact_transform
    return augment.warp(small, transform, size)


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
                     tf.cast(augment.exact_transform(transform), tf.float32))


def warp_region(object_rgba, placement: Placement):
    """The object's pixels over the placement's region, bilinear, uint8 [h, w, 4]."""
    shape = tf.stack([placement.bottom - placement.top, placement.right - placement.left])
    return augment.warp(object_rgba, placement.transform, shape)


def paste(canvas, region, top, bottom, left, right):
    """``canvas`` [S, S, C] with rows [top, bottom) x cols [left, right) replaced by
    ``region``: uint8 slices and concats, the rest of the canvas untouched."""
    middle = tf.concat([canvas[top:bottom, :left], region, canvas[top:bottom, right:]], 1)
    return tf.concat([canvas[:top], middle, canvas[bottom:]], 0)
