"""`fastfeed bench composites`: `composite_stream` against a per-example NumPy/PIL loop.

    python -m benchmarks.composites --products $FASTFEED_DATA/products --seconds 5
    fastfeed bench composites --augment-only --seconds 4     # the stream, with and without
                                                             # the training's augmentation

The reference makes the same recipe the straightforward way, one example at a time in
Python: PIL resizes, mirrors and rotates the cut-out (bilinear, premultiplied), NumPy
pastes it into a full-size layer and blends in float32 with the same colour match,
shadow and edge treatments (the same blur: PIL box reduction by 2*sigma, bilinear
enlargement back). Both run on the same prepared
assets (on procedural ones, and on a products folder when there is one), take turns
in one process, and report composites/s and the ratio. ``--augment SPEC`` adds the
stream with that augmentation (default: the composites task's, what training runs);
``--augment-only`` leaves the reference out, to see what augmenting costs the stream.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
from PIL import Image

from benchmarks import common
from fastfeed import files
from fastfeed.compose import augment, composites
from fastfeed.tasks.composites import Config

DEFAULT_PRODUCTS = files.data_path("products")  # "" without FASTFEED_DATA
TRAINING_AUGMENT = Config().augment  # what `fastfeed train --task composites` applies


def _down_up(image: Image.Image, factor: float) -> Image.Image:
    width, height = image.size
    small = image.resize((max(1, int(width / factor)), max(1, int(height / factor))),
                         Image.Resampling.BOX)
    return small.resize((width, height), Image.Resampling.BILINEAR)


def _blur(channel: np.ndarray, sigma: float) -> np.ndarray:
    """The stream's blur (``composites.render.resize_blur``) of one float channel, in PIL."""
    image = Image.fromarray(channel.astype(np.float32), "F")
    return np.asarray(_down_up(image, max(2 * sigma, 1.0)), np.float32)


def _blur_rgb(image: np.ndarray, sigma: float) -> np.ndarray:
    pil = Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8), "RGB")
    return np.asarray(_down_up(pil, max(2 * sigma, 1.0)), np.float32)


def reference_example(rng: np.random.Generator, objects, backgrounds, size: int,
                      recipe: composites.Recipe = composites.Recipe()) -> dict:
    """One composite by the recipe, per example in NumPy/PIL (the benchmark's baseline).
    ``objects``: premultiplied RGBA arrays; ``backgrounds``: RGB arrays."""
    obj = objects[rng.integers(len(objects))]
    background = backgrounds[rng.integers(len(backgrounds))]
    y = rng.integers(background.shape[0] - size + 1)
    x = rng.integers(background.shape[1] - size + 1)
    canvas = background[y:y + size, x:x + size].astype(np.float32)

    scale = rng.uniform(*recipe.scale_range)
    angle = rng.uniform(-recipe.rotation_degrees, recipe.rotation_degrees)
    height, width = obj.shape[:2]
    zoom = scale * size / max(height, width)
    image = Image.frombytes("RGBa", (width, height), obj.tobytes())
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = image.resize((max(1, round(width * zoom)), max(1, round(height * zoom))),
                         Image.Resampling.BILINEAR)
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    pasted = np.asarray(image, np.float32)
    inner = scale * size * (0.5 - recipe.max_truncation)
    centre_y = inner + rng.random() * (size - 2 * inner)
    centre_x = inner + rng.random() * (size - 2 * inner)
    top = int(round(centre_y - pasted.shape[0] / 2))
    left = int(round(centre_x - pasted.shape[1] / 2))
    layer = np.zeros((size, size, 4), np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1 = min(top + pasted.shape[0], size)
    x1 = min(left + pasted.shape[1], size)
    if y1 > y0 and x1 > x0:
        layer[y0:y1, x0:x1] = pasted[y0 - top:y1 - top, x0 - left:x1 - left]
    alpha = layer[..., 3] / 255
    alpha_label = layer[..., 3].astype(np.uint8)

    coverage = alpha.sum() + 1e-3
    object_mean = layer[..., :3].sum(axis=(0, 1)) / coverage
    gains = (((canvas.mean(axis=(0, 1)) + 1) / (object_mean + 1))
             ** rng.uniform(*recipe.colour_match_range)) * rng.uniform(*recipe.brightness_range)
    colour = np.minimum(layer[..., :3] * gains, 255 * alpha[..., None])
    straight = colour / np.maximum(alpha, 1e-3)[..., None]

    shadow = np.zeros_like(alpha)
    if rng.random() < recipe.shadow_probability:
        dy, dx = rng.integers(-recipe.shadow_offset, recipe.shadow_offset + 1, 2)
        shadow = rng.uniform(*recipe.shadow_strength_range) * _blur(
            np.roll(alpha, (dy, dx), axis=(0, 1)), 2.0)  # factor 4, as the stream
    mode = rng.choice(3, p=np.array(recipe.edge_probabilities) / sum(recipe.edge_probabilities))
    sigma = rng.uniform(*recipe.blur_sigma_range)
    blend = alpha * _blur(alpha, sigma) if mode == 1 else alpha
    shaded = canvas * (1 - shadow * (1 - blend))[..., None]
    out = straight * blend[..., None] + shaded * (1 - blend[..., None])
    if mode == 2:
        smooth = _blur(alpha, sigma)[..., None]
        band = 4 * smooth * (1 - smooth)
        out = out * (1 - band) + _blur_rgb(out, sigma) * band
    return {"image": np.clip(out + 0.5, 0, 255).astype(np.uint8),
            "mask": (alpha_label >= 128).astype(np.uint8)[..., None],
            "alpha": alpha_label[..., None]}


def reference_batches(objects, backgrounds, size: int, batch_size: int, seed: int = 0):
    """Infinite batches from :func:`reference_example`, stacked like the stream's."""
    rng = np.random.default_rng(seed)
    while True:
        examples = [reference_example(rng, objects, backgrounds, size)
                    for _ in range(batch_size)]
        yield {key: np.stack([e[key] for e in examples]) for key in examples[0]}


def main(argv=None) -> int:
    parser = common.parser("composites", __doc__, image_size=256, batch_size=32)
    parser.add_argument("--products", default=DEFAULT_PRODUCTS,
                        help="folder with objects/ and backgrounds/ (skipped if absent)")
    parser.add_argument("--procedural-only", action="store_true",
                        help="measure the built-in procedural assets only")
    parser.add_argument("--augment", default=TRAINING_AUGMENT,
                        help="also the stream with this augmentation spec ('': none)")
    parser.add_argument("--augment-only", action="store_true",
                        help="the stream with and without --augment, no reference")
    args = parser.parse_args(argv)
    if args.augment_only and not args.augment:
        parser.error("--augment-only needs an --augment spec.")
    if args.augment:
        try:
            augment.parse(args.augment)
        except ValueError as error:
            parser.error(f"--augment: {error}")
    size, batch = args.image_size, args.batch_size

    sources = {"procedural": ("procedural", "procedural")}
    if not args.procedural_only:
        if os.path.isdir(os.path.join(args.products, "objects")):
            sources["products"] = (os.path.join(args.products, "objects"),
                                   os.path.join(args.products, "backgrounds"))
        else:
            print(f"note: {args.products or '$FASTFEED_DATA/products'} has no objects/ "
                  f"folder; measuring procedural assets only (pass --products DIR; "
                  f"docs/data.md).")
    print(f"{size}x{size}, batch {batch}; {os.cpu_count()} CPU cores; {args.rounds} rounds "
          f"of {args.seconds:g} s each, alternating", flush=True)

    results = []
    for source, (objects, backgrounds) in sources.items():
        object_list = [a for _, a in composites.object_assets(objects, size)]
        background_list = [a for _, a in composites.background_assets(backgrounds, size)]
        print(f"{source}: {len(object_list)} objects, {len(background_list)} backgrounds",
              flush=True)
        candidates = {} if args.augment_only else {
            f"{source}: reference (NumPy/PIL, per example)":
                (lambda: reference_batches(object_list, background_list, size, batch), batch)}
        candidates[f"{source}: composite_stream"] = (
            lambda: composites.composite_stream(objects, backgrounds, image_size=size,
                                                batch_size=batch), batch)
        if args.augment:
            candidates[f"{source}: composite_stream, augmented"] = (
                lambda: composites.composite_stream(objects, backgrounds, image_size=size,
                                                    batch_size=batch, augment=args.augment),
                batch)
        rates, startup, _ = common.race(candidates, seconds=args.seconds,
                                        rounds=args.rounds, drain=4)
        results.append((rates, startup))

    if args.augment:
        print(f"augmented: {args.augment}")
    first = "x stream" if args.augment_only else "x reference"
    print(f"\n{'pipeline':<48} {'composites/s':>12} {first:>12} {'start-up':>9}")
    for rates, startup in results:
        baseline = rates[next(iter(rates))]
        for name, rate in rates.items():
            print(f"{name:<48} {rate:>12.0f} {rate / baseline:>11.1f}x {startup[name]:>8.1f}s")
    return 0 if all(math.isfinite(r) for rates, _ in results for r in rates.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
