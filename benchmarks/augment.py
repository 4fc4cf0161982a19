"""`fastfeed bench augment`: one augmentation pipeline three ways, images/s.

    python -m benchmarks.augment --images ../shared/data/products/backgrounds --seconds 5

The same transforms (horizontal flip, random resized crop to 256x256, colour jitter,
Gaussian blur with p=0.5) on real photos held in memory, as (a) albumentations in a
plain Python loop, (b) the albumentations bridge in a parallel tf.data map, (c) the
native ops of `fastfeed.compose.augment` in a parallel tf.data map. They take turns in
one process, each tf.data pipeline on a fresh iterator so that none works during
another's turn; the ratios are to (a). "cores" is the process's CPU time per second
of the turn, and CPU ms/image what one image cost in CPU time.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import tensorflow as tf

from benchmarks import common
from fastfeed.compose import albu, augment
from fastfeed.compose.composites import procedural

DEFAULT_IMAGES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                              "products", "backgrounds")
SOURCE_SIDE = 384


def load_images(folder: str, count: int) -> np.ndarray:
    """Up to ``count`` photos, centre-cropped square and resized to SOURCE_SIDE;
    procedural textures when the folder is missing."""
    if not os.path.isdir(folder):
        print(f"note: {folder!r} not found; using procedural textures (pass --images DIR).")
        return np.stack([b for _, b in procedural.procedural_backgrounds(count, size=SOURCE_SIDE)])
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".jpg", ".png")))
    images = []
    for name in names[:count]:
        image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if image is None:
            continue
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        square = image[top:top + side, left:left + side, ::-1]
        images.append(cv2.resize(square, (SOURCE_SIDE, SOURCE_SIDE),
                                 interpolation=cv2.INTER_AREA))
    return np.stack(images)


def transforms(size: int):
    """The albumentations pipeline and the equivalent native spec."""
    import albumentations as A

    transform = A.Compose([
        A.HorizontalFlip(p=0.5),
        A.RandomResizedCrop((size, size), scale=(0.3, 1.0)),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.0, p=1.0),
        A.GaussianBlur(sigma_limit=(0.1, 2.0), p=0.5),
    ])
    spec = (f"flip_lr|random_resized_crop({size}, scale=(0.3, 1.0))"
            f"|color_jitter(0.2, 0.2, 0.2)|gaussian_blur(sigma=(0.1, 2.0), p=0.5)")
    return transform, spec


def plain_loop(images: np.ndarray, transform, batch: int):
    index = 0
    while True:
        out = []
        for _ in range(batch):
            out.append(transform(image=images[index % len(images)])["image"])
            index += 1
        yield np.stack(out)


def in_tf_data(images: np.ndarray, fn, batch: int):
    return (tf.data.Dataset.from_tensor_slices({"image": images}).repeat().enumerate()
            .map(fn, num_parallel_calls=tf.data.AUTOTUNE).batch(batch)
            .prefetch(tf.data.AUTOTUNE))


def batches_in_tf_data(images: np.ndarray, fn, batch: int):
    return (tf.data.Dataset.from_tensor_slices({"image": images}).repeat().batch(batch)
            .enumerate().map(fn, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def main(argv=None) -> int:
    parser = common.parser("augment", __doc__, image_size=256, batch_size=32)
    parser.add_argument("--images", default=DEFAULT_IMAGES, help="folder of photos")
    parser.add_argument("--count", type=int, default=128, help="photos to hold in memory")
    args = parser.parse_args(argv)
    images = load_images(args.images, args.count)
    size, batch = args.image_size, args.batch_size
    print(f"{len(images)} photos at {SOURCE_SIDE}x{SOURCE_SIDE} -> {size}x{size}, batch "
          f"{batch}; {os.cpu_count()} CPU cores; {args.rounds} rounds of {args.seconds:g} s "
          f"each, alternating; OpenCV threads: {cv2.getNumThreads()}", flush=True)
    transform, spec = transforms(size)
    print(f"albumentations: {[type(t).__name__ for t in transform.transforms]}\n"
          f"native spec: {spec!r}", flush=True)
    candidates = {
        "albumentations, plain Python loop": (lambda: plain_loop(images, transform, batch),
                                              batch),
        "albumentations bridge, per example": (
            lambda: in_tf_data(images, albu.albumentations_map(transform, targets={
                "image": "image"}), batch), batch),
        "albumentations bridge, per batch": (
            lambda: batches_in_tf_data(images, albu.albumentations_map(transform, targets={
                "image": "image"}), batch), batch),
        "native ops, parallel tf.data map": (
            lambda: in_tf_data(images, augment.parse(spec), batch), batch),
    }
    result = common.race(candidates, seconds=args.seconds, rounds=args.rounds, drain=4,
                         fresh=True)
    baseline = result.rates[next(iter(candidates))]
    print(f"\n{'pipeline':<38} {'images/s':>9} {'x loop':>7} {'cores':>6} "
          f"{'CPU ms/image':>13} {'start-up':>9}")
    for name, rate in result.rates.items():
        cores = result.cores[name]
        print(f"{name:<38} {rate:>9.0f} {rate / baseline:>6.2f}x {cores:>6.2f} "
              f"{cores / rate * 1e3:>13.2f} {result.startup[name]:>8.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
