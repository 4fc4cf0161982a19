"""Built-in procedural assets: product cut-outs and surface textures, from a seed.

They let the composite generator and the demo run offline with no data. Objects are
RGBA cut-outs rendered at twice their size and reduced (anti-aliased edges): shaded
bottles, cans, jars, mugs, boxes and shoe-like silhouettes with printed-label bands,
specular highlights, a soft contact shadow inside the alpha, and glass bodies that
are partly transparent. Backgrounds are RGB textures: wood, carpet, brick, tiles,
plaster, fabric, marble and noisy gradients.

    objects = procedural_objects(count=12, seed=0)        # [(name, uint8 HxWx4), ...]
    backgrounds = procedural_backgrounds(count=8, seed=0)  # [(name, uint8 HxWx3), ...]

The same seed gives the same pixels (NumPy's PCG64 and OpenCV resizes only).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

OBJECT_KINDS = ("bottle", "can", "jar", "mug", "box", "shoe")
BACKGROUND_KINDS = ("wood", "carpet", "brick", "tiles", "plaster", "fabric", "marble",
                    "gradient")


# ----------------------------------------------------------------------------- noise
def fractal_noise(rng: np.random.Generator, height: int, width: int, scale: float = 32,
                  octaves: int = 4) -> np.ndarray:
    """Smooth value noise in [0, 1]: random grids upsampled (bicubic) and summed with
    halving weights, coarsest cell ``scale`` pixels."""
    total = np.zeros((height, width), np.float32)
    weight, norm = 1.0, 0.0
    for octave in range(octaves):
        cell = max(scale / 2**octave, 1.0)
        grid = rng.random((int(height / cell) + 3, int(width / cell) + 3), np.float32)
        up = cv2.resize(grid, (int(grid.shape[1] * cell), int(grid.shape[0] * cell)),
                        interpolation=cv2.INTER_CUBIC)
        total += weight * up[int(cell):int(cell) + height, int(cell):int(cell) + width]
        norm += weight
        weight /= 2
    total /= norm
    low, high = total.min(), total.max()
    return (total - low) / max(high - low, 1e-6)


def _random_colour(rng, saturation=(0.35, 0.9), value=(0.35, 0.95), hue=(0, 180)
                   ) -> np.ndarray:
    """An RGB colour in [0, 1]; ``hue`` in OpenCV's 0..180 degrees/2 scale."""
    hsv = np.array([[[rng.uniform(*hue) % 180, rng.uniform(*saturation) * 255,
                      rng.uniform(*value) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- objects
class _Canvas:
    """A supersampled RGBA canvas in float [0, 1], drawn by painters' layers."""

    def __init__(self, height: int, width: int):
        self.rgb = np.zeros((height, width, 3), np.float32)
        self.alpha = np.zeros((height, width), np.float32)
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)

    def paint(self, coverage: np.ndarray, rgb: np.ndarray, opacity: float = 1.0):
        """Paint ``rgb`` (HxWx3 or 3) over what is there, where ``coverage`` in [0,1]."""
        a = np.clip(coverage, 0, 1)[..., None] * opacity
        self.rgb = self.rgb * (1 - a) + np.broadcast_to(rgb, self.rgb.shape) * a
        self.alpha = self.alpha + (1 - self.alpha) * a[..., 0]

    def finish(self, scale: int = 2) -> np.ndarray:
        """Reduce by ``scale`` with area averaging (premultiplied, so edges stay
        clean), crop to the visible box and return straight-alpha uint8 RGBA."""
        premultiplied = np.dstack([self.rgb * self.alpha[..., None], self.alpha])
        h, w = self.alpha.shape
        small = cv2.resize(premultiplied, (w // scale, h // scale),
                           interpolation=cv2.INTER_AREA)
        alpha = small[..., 3]
        rgb = small[..., :3] / np.maximum(alpha, 1e-4)[..., None]
        rows, cols = np.nonzero(alpha > 1 / 255)
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        return _to_uint8(np.dstack([np.clip(rgb, 0, 1), alpha])[box])


def _cylinder_shading(nx: np.ndarray, gloss: float, light: float = -0.45):
    """Lambert shading and a specular band for a vertical cylinder; ``nx`` in [-1, 1]
    is the horizontal position across it."""
    nz = np.sqrt(np.clip(1 - nx**2, 0, 1))
    diffuse = 0.35 + 0.75 * np.clip(nz * 0.9 + nx * light, 0, 1)
    specular = gloss * np.exp(-((nx - light * 0.8) / 0.09) ** 2)
    rim = 0.25 * np.clip(np.abs(nx) - 0.8, 0, 1) / 0.2
    return diffuse - rim, specular


def _soft(distance: np.ndarray, width: float = 1.0) -> np.ndarray:
    """Coverage from a signed distance (negative inside) with a soft edge."""
    return np.clip(0.5 - distance / width, 0, 1)


def _contact_shadow(canvas: _Canvas, cx: float, cy: float, rx: float, ry: float,
                    strength: float):
    d = np.sqrt(((canvas.x - cx) / rx) ** 2 + ((canvas.y - cy) / ry) ** 2)
    shadow = strength * np.clip(1 - d, 0, 1) ** 1.5
    canvas.paint(shadow, np.zeros(3, np.float32))


def _label_band(canvas: _Canvas, rng, top: float, bottom: float, left: np.ndarray,
                right: np.ndarray, inside: np.ndarray, shade: np.ndarray):
    """A printed label: a colour band with a stripe and rows of dark 'text' marks."""
    colour = _random_colour(rng, (0.0, 0.7), (0.75, 1.0))
    band = inside * ((canvas.y >= top) & (canvas.y <= bottom))
    canvas.paint(band, colour * shade[..., None])
    accent = _random_colour(rng)
    stripe_top = rng.uniform(top, bottom - (bottom - top) * 0.3)
    stripe = band * ((canvas.y >= stripe_top) & (canvas.y <= stripe_top + (bottom - top) * 0.18))
    canvas.paint(stripe, accent * shade[..., None])
    # 'Text': short dark dashes on a few rows, only on the front of the object.
    u = (canvas.x - left) / np.maximum(right - left, 1)
    for row in range(rng.integers(2, 5)):
        y = top + (bottom - top) * (0.2 + 0.18 * row)
        dashes = (np.sin(u * rng.uniform(40, 90) + row) > 0.2) & (np.abs(u - 0.5) < 0.28)
        line = band * dashes * (np.abs(canvas.y - y) < (bottom - top) * 0.035)
        canvas.paint(line, np.full(3, 0.12, np.float32) * shade[..., None], 0.85)


def _turned(rng, kind: str, height: int) -> np.ndarray:
    """Objects of revolution: a radius profile r(y) shaded as a cylinder."""
    width = int(height * (0.8 if kind in ("jar", "mug", "can") else 0.55))
    canvas = _Canvas(height, width + int(height * (0.35 if kind == "mug" else 0.1)))
    cx = width / 2 + height * 0.04
    t = canvas.y / height  # 0 at the top
    body_colour = _random_colour(rng)
    glass = kind in ("bottle", "jar") and rng.random() < 0.35
    if kind == "bottle":
        neck, shoulder = rng.uniform(0.14, 0.3), rng.uniform(0.3, 0.45)
        radius = width * 0.46 * np.where(
            t < shoulder * 0.6, 0.32 + 0.05 * (t < 0.06),
            np.where(t < shoulder, 0.32 + 0.68 * np.sin(
                (t - shoulder * 0.6) / (shoulder * 0.4) * np.pi / 2) ** 2, 1.0))
        top, label = 0.02, (rng.uniform(0.48, 0.58), rng.uniform(0.75, 0.85))
        cap_end = 0.1 + neck * 0.15
    elif kind == "can":
        radius = width * 0.44 * np.where((t < 0.05) | (t > 0.95), 0.93, 1.0)
        top, label, cap_end = 0.02, (0.12, 0.9), 0.05
    elif kind == "jar":
        radius = width * 0.46 * np.where(t < 0.16, 0.9, np.where(t < 0.2, 0.82, 1.0))
        top, label, cap_end = 0.03, (0.35, 0.8), 0.16
    else:  # mug
        radius = width * 0.42 * (1 - 0.08 * t)
        top, label, cap_end = 0.12, (0.35, 0.7), 0.0
    bottom = 0.9
    radius = np.maximum(radius, 1)
    nx = (canvas.x - cx) / radius
    inside = _soft(np.abs(canvas.x - cx) - radius, 1.5) * (t >= top) * (t <= bottom)
    inside *= _soft((np.abs(t - (top + bottom) / 2) - (bottom - top) / 2) * height, 1.5)

    _contact_shadow(canvas, cx + height * 0.03, bottom * height, width * 0.6,
                    height * 0.05, rng.uniform(0.35, 0.6))
    if kind == "mug":  # handle: a shaded ring on the right
        hx, hy = cx + width * 0.42, height * 0.48
        ring = np.sqrt(((canvas.x - hx) / (width * 0.24)) ** 2
                       + ((canvas.y - hy) / (height * 0.2)) ** 2)
        handle = _soft((np.abs(ring - 0.78) - 0.2) * width * 0.24, 1.5) * (canvas.x > cx)
        canvas.paint(handle, body_colour * (0.55 + 0.4 * np.clip(1 - ring, 0, 1))[..., None])
    diffuse, specular = _cylinder_shading(np.clip(nx, -1, 1), rng.uniform(0.3, 0.8))
    occlusion = 1 - 0.35 * np.clip((t - bottom + 0.08) / 0.08, 0, 1)
    shade = diffuse * occlusion
    canvas.paint(inside, body_colour * shade[..., None], 0.55 if glass else 1.0)
    if kind == "mug":  # the dark inside seen over the rim
        rim = np.sqrt(((canvas.x - cx) / (width * 0.42)) ** 2
                      + ((canvas.y - top * height) / (height * 0.045)) ** 2)
        canvas.paint(_soft((rim - 1) * height * 0.045, 1.5), body_colour * 0.3)
    if cap_end > 0:
        cap = inside * (t < cap_end)
        cap_colour = _random_colour(rng, (0.0, 0.6), (0.2, 0.9))
        canvas.paint(cap, cap_colour * (diffuse * (0.8 + 0.2 * np.sin(canvas.x * 1.3)))[..., None])
    left, right = cx - radius, cx + radius
    front = inside * (np.abs(nx) < 0.93)
    _label_band(canvas, rng, label[0] * height, label[1] * height, left, right, front, shade)
    canvas.paint(inside * specular, np.ones(3, np.float32), 0.9)
    return canvas.finish()


def _box(rng, height: int) -> np.ndarray:
    """A carton in oblique view: front, side and top faces, printed front."""
    width = int(height * rng.uniform(0.45, 0.9))
    depth = height * rng.uniform(0.12, 0.25)
    canvas = _Canvas(height + int(depth), width + int(depth) + 8)
    x0, y0 = 4.0, depth
    x1, y1 = x0 + width * 0.82, y0 + height * 0.88
    colour = _random_colour(rng)
    _contact_shadow(canvas, (x0 + x1 + depth) / 2, y1, width * 0.62, height * 0.05, 0.5)
    front = _soft(np.maximum(np.maximum(x0 - canvas.x, canvas.x - x1),
                             np.maximum(y0 - canvas.y, canvas.y - y1)), 1.5)
    shift = (canvas.x - x1) / depth  # 0..1 across the side face
    side = _soft(np.maximum(np.maximum(-shift, shift - 1),
                            np.maximum(y0 - depth * shift - canvas.y,
                                       canvas.y - (y1 - depth * shift))) * depth, 1.5)
    lift = (y0 - canvas.y) / depth  # 0..1 up the top face
    top = _soft(np.maximum(np.maximum(-lift, lift - 1),
                           np.maximum(x0 + depth * lift - canvas.x,
                                      canvas.x - (x1 + depth * lift))) * depth, 1.5)
    gradient = 1 - 0.25 * (canvas.y - y0) / (y1 - y0)
    canvas.paint(side, colour * 0.62 * gradient[..., None])
    canvas.paint(top, np.clip(colour * 1.2, 0, 1))
    canvas.paint(front, colour * (0.9 + 0.1 * gradient)[..., None])
    shade = np.full(canvas.alpha.shape, 1.0, np.float32)
    band = (rng.uniform(0.25, 0.45), rng.uniform(0.6, 0.8))
    _label_band(canvas, rng, y0 + band[0] * (y1 - y0), y0 + band[1] * (y1 - y0),
                np.float32(x0), np.float32(x1), front, shade)
    edge = front * _soft(np.minimum(np.abs(canvas.x - x0), np.abs(canvas.y - y0)) - 2.0, 2)
    canvas.paint(edge, np.ones(3, np.float32), 0.3)
    return canvas.finish()


def _shoe(rng, height: int) -> np.ndarray:
    """A sneaker-like silhouette in side view: sole, rounded upper, laces, shading
    from the distance to the outline."""
    width = int(height * 2.0)
    canvas = _Canvas(height, width)
    x, y = canvas.x / width, canvas.y / height
    upper = ((x - 0.5) / 0.46) ** 2 + ((y - 0.62) / 0.42) ** 2 < 1
    upper &= (y > 0.18 + 0.55 * np.clip(x - 0.38, 0, 1)) & (y < 0.86)  # sloped opening
    upper |= (((x - 0.2) / 0.14) ** 2 + ((y - 0.42) / 0.3) ** 2 < 1) & (y < 0.86)  # heel
    sole = (np.abs(y - 0.88) < 0.06) & (np.abs(x - 0.5) < 0.47)
    sole |= ((x - 0.93) / 0.06) ** 2 + ((y - 0.84) / 0.1) ** 2 < 1
    _contact_shadow(canvas, width * 0.5, height * 0.94, width * 0.5, height * 0.06, 0.5)
    for shape, colour in ((upper, _random_colour(rng)),
                          (sole, _random_colour(rng, (0.0, 0.2), (0.8, 1.0)))):
        mask = shape.astype(np.uint8)
        distance = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
        bulge = np.clip(distance / (height * 0.12), 0, 1) ** 0.5
        coverage = cv2.GaussianBlur(shape.astype(np.float32), (0, 0), 0.8)
        light = 0.55 + 0.45 * bulge - 0.2 * y
        canvas.paint(coverage, colour * light[..., None])
    laces = upper & (np.abs(y - (0.3 + 0.5 * (x - 0.45))) < 0.03) & (np.abs(x - 0.55) < 0.12)
    canvas.paint(laces * (np.sin(x * width * 0.35) > 0), np.full(3, 0.95, np.float32))
    swoosh = upper & (np.abs(y - (0.7 - 0.25 * (x - 0.25))) < 0.025) & (np.abs(x - 0.5) < 0.25)
    canvas.paint(swoosh, _random_colour(rng))
    return canvas.finish()


def procedural_objects(count: int = 48, seed: int = 0, size: int = 160
                       ) -> list[tuple[str, np.ndarray]]:
    """``count`` RGBA product cut-outs (uint8, straight alpha), longest side about
    ``size``, cycling through :data:`OBJECT_KINDS`. Names like ``'bottle_003'``."""
    objects = []
    for k in range(count):
        kind = OBJECT_KINDS[k % len(OBJECT_KINDS)]
        rng = np.random.default_rng([seed, k])
        height = int(size * 2 * rng.uniform(0.7, 1.0))  # rendered at 2x, reduced
        if kind == "box":
            rgba = _box(rng, height)
        elif kind == "shoe":
            rgba = _shoe(rng, height // 2)
        else:
            rgba = _turned(rng, kind, height)
        objects.append((f"{kind}_{k:03d}", rgba))
    return objects


# ----------------------------------------------------------------------- backgrounds
def _wood(rng, h, w):
    plank = int(rng.uniform(0.15, 0.35) * h)
    base = _random_colour(rng, (0.45, 0.75), (0.35, 0.8), hue=(6, 22))
    warp = fractal_noise(rng, h, w, 64, 3)
    image = np.zeros((h, w, 3), np.float32)
    for top in range(0, h, plank):
        rows = slice(top, top + plank)
        offset = rng.uniform(0, 100)
        grain = np.sin((np.arange(w)[None] * 0.02 + warp[rows] * 8 + offset
                        + np.arange(top, min(top + plank, h))[:, None] * rng.uniform(0.1, 0.4)))
        fine = fractal_noise(rng, min(plank, h - top), w, 4, 2)
        tone = 0.75 + 0.15 * grain + 0.1 * fine + rng.uniform(-0.08, 0.08)
        image[rows] = base * tone[..., None]
        image[top:top + 2] *= 0.45  # seam
    return image


def _carpet(rng, h, w):
    base = _random_colour(rng, (0.2, 0.8), (0.3, 0.8))
    fibres = rng.random((h, w), np.float32)
    fibres = cv2.GaussianBlur(fibres, (0, 0), 0.7)
    blotches = fractal_noise(rng, h, w, 48, 3)
    tone = 0.7 + 0.35 * (fibres - 0.5) + 0.25 * (blotches - 0.5)
    return base * tone[..., None]


def _brick(rng, h, w):
    brick_h = int(rng.uniform(0.07, 0.12) * h)
    brick_w = int(brick_h * rng.uniform(2.0, 3.0))
    mortar = np.array([0.75, 0.73, 0.7], np.float32) * rng.uniform(0.8, 1.1)
    base = _random_colour(rng, (0.3, 0.7), (0.35, 0.7), hue=(-6, 16))
    image = np.broadcast_to(mortar, (h, w, 3)).copy()
    joint = max(2, brick_h // 8)
    for row, top in enumerate(range(0, h, brick_h)):
        shift = (brick_w // 2) * (row % 2)
        for left in range(-shift, w, brick_w):
            tone = base * rng.uniform(0.75, 1.15)
            image[top + joint:top + brick_h, max(left + joint, 0):max(left + brick_w, 0)] = tone
    grit = fractal_noise(rng, h, w, 6, 2)
    return image * (0.85 + 0.3 * grit)[..., None]


def _tiles(rng, h, w):
    tile = int(rng.uniform(0.1, 0.25) * h)
    base = _random_colour(rng, (0.0, 0.5), (0.6, 0.98))
    y, x = np.mgrid[0:h, 0:w]
    grout = ((y % tile) < 2) | ((x % tile) < 2)
    gloss = 0.92 + 0.08 * np.sin((x + y) / (tile * 0.7))
    per_tile = rng.uniform(0.92, 1.05, (h // tile + 1, w // tile + 1))[y // tile, x // tile]
    image = base * (gloss * per_tile)[..., None]
    image[grout] = base * 0.55
    return image


def _plaster(rng, h, w):
    base = _random_colour(rng, (0.0, 0.25), (0.7, 0.95))
    bumps = cv2.GaussianBlur(fractal_noise(rng, h, w, 24, 4), (0, 0), 1.5)
    relief = np.gradient(bumps, axis=1) * 6
    return base * (0.92 + 0.08 * bumps + relief)[..., None]


def _fabric(rng, h, w):
    base = _random_colour(rng, (0.3, 0.8), (0.35, 0.85))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3, 6)
    weave = np.sin(x * np.pi / period) * np.sin(y * np.pi / period)
    folds = fractal_noise(rng, h, w, 96, 2)
    return base * (0.8 + 0.12 * weave + 0.25 * (folds - 0.5))[..., None]


def _marble(rng, h, w):
    base = _random_colour(rng, (0.0, 0.2), (0.75, 0.98))
    vein = _random_colour(rng, (0.0, 0.4), (0.2, 0.6))
    turbulence = fractal_noise(rng, h, w, 64, 5)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    veins = np.abs(np.sin((x * 0.6 + y) / w * 6 + turbulence * 9)) ** 0.25
    return base * veins[..., None] + vein * (1 - veins[..., None])


def _gradient(rng, h, w):
    a, b = _random_colour(rng, (0.0, 0.6)), _random_colour(rng, (0.0, 0.6))
    angle = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = ((x / w - 0.5) * np.cos(angle) + (y / h - 0.5) * np.sin(angle)) + 0.5
    grain = rng.normal(0, 0.025, (h, w, 1)).astype(np.float32)
    return a * (1 - t[..., None]) + b * t[..., None] + grain


_BACKGROUNDS: dict[str, Callable] = {
    "wood": _wood, "carpet": _carpet, "brick": _brick, "tiles": _tiles,
    "plaster": _plaster, "fabric": _fabric, "marble": _marble, "gradient": _gradient,
}


def procedural_backgrounds(count: int = 24, seed: int = 0, size: int = 384
                           ) -> list[tuple[str, np.ndarray]]:
    """``count`` RGB surface textures (uint8, ``size`` x ``size``) cycling through
    :data:`BACKGROUND_KINDS`, with soft lighting falloff. Names like ``'wood_002'``."""
    backgrounds = []
    for k in range(count):
        kind = BACKGROUND_KINDS[k % len(BACKGROUND_KINDS)]
        rng = np.random.default_rng([seed, 1_000_000 + k])
        image = _BACKGROUNDS[kind](rng, size, size).astype(np.float32)
        y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
        cx, cy = rng.uniform(0.2, 0.8, 2)
        light = 1.05 - 0.3 * np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        backgrounds.append((f"{kind}_{k:03d}", _to_uint8(image * light[..., None])))
    return backgrounds
