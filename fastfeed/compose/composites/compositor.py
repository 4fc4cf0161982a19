"""One composite from its index: :class:`Compositor` draws the recipe's values from a
stateless seed and renders the example (see :mod:`fastfeed.compose.composites`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from fastfeed.compose.composites import render
from fastfeed.compose.composites.assets import AssetTable
from fastfeed.compose.composites.recipe import Recipe


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
        self.shadow_margin = recipe.shadow_offset + 2 * render.SHADOW_FACTOR

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
        placement = render.place_object(
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
            "render.shadow_transform": render.shadow_transform(tf.round(shadow_dy),
                                                               tf.round(shadow_dx)),
            "blur_sigma": tf.cast(sigma, tf.float32),
            "edge_mode": tf.reduce_sum(tf.cast(edge_u >= thresholds, tf.int32)),
        }

    def _blend(self, canvas, p):
        """``canvas`` uint8 [S, S, 3] with the object of parameters ``p`` blended in
        (steps 2-5 of the recipe), and the object's warped alpha over its region."""
        top, bottom, left, right = p["top"], p["bottom"], p["left"], p["right"]
        # 2. One warp of the object's region.
        obj = self.objects.image(p["object_index"])
        warped = render.warp_region(tf.cast(obj, tf.float32),
                             render.Placement(top, bottom, left, right, p["transform"]))
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
            lambda: background_region * (1.0 - strength * render.soft_shadow(
                alpha, p["render.shadow_transform"])),
            lambda: background_region)

        # 5. Edge treatment.
        def plain():
            return render.blend_region(colour, alpha, background_region)

        def feather():  # alpha softened inwards: the blurred alpha within the object
            return render.blend_region(colour, alpha, background_region,
                                render.resize_blur(alpha, sigma))

        def blur_edge():  # the composite blurred across the edge band only
            sharp = plain()
            smooth = render.resize_blur(alpha, sigma)
            band = 4.0 * smooth * (1.0 - smooth)  # 1 on the edge, 0 away from it
            return sharp + (render.resize_blur(sharp, sigma) - sharp) * band

        region = tf.switch_case(mode, [plain, feather, blur_edge])
        region = tf.saturate_cast(tf.round(region), tf.uint8)
        return render.paste(canvas, region, top, bottom, left, right), alpha_label

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
                lambda: tf.saturate_cast(tf.round(render.resize_blur(
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
