"""`fastfeed bench augment`: augmentation pipelines done three ways, images/s.

    fastfeed bench augment --seconds 4 --rounds 3        # geometric, photometric, policy
    fastfeed bench augment --pipelines classic          # with the albumentations bridge
    fastfeed bench augment --intra-op-threads 1         # one TensorFlow thread per op

Each pipeline does the same work on real photos held in memory (384x384, cropped to
256x256) as (a) albumentations in a plain Python loop, (b) fastfeed's native ops in a
parallel tf.data map, one example per call, (b') the same ops on whole batches, each
example drawing as it would alone (the same bytes as (b)), and (c) Keras 3's
preprocessing layers in a parallel tf.data map, one batch per call (the way Keras'
layers vectorise):

- geometric: horizontal flip, crop, rotation up to 18 degrees, zoom 0.2, translation
  0.1 (reflect fill);
- photometric: crop, colour jitter 0.2/0.2/0.2, sharpness, posterization to 4-8 bits,
  equalization;
- policy: crop, RandAugment with 2 ops at magnitude 9 (Keras: factor 0.9;
  albumentations, which has no RandAugment: 2 of the same 11 transforms, SomeOf);
- classic: flip, random resized crop, colour jitter, blur (p=0.5), with the
  albumentations bridge per example and per batch instead of Keras.

They take turns in one process, each tf.data pipeline on a fresh iterator so that none
works during another's turn; the ratios are to the loop ("x loop": images/s, and CPU
time per image) and to the Keras layers ("x keras"). "cores" is the process's CPU time
per second of the turn (the loop keeps one busy, tf.data maps all), and CPU ms/image
what one image cost in CPU time.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import tensorflow as tf

from benchmarks import common
from fastfeed import files
from fastfeed.compose import albu, augment
from fastfeed.compose.composites import procedural

DEFAULT_IMAGES = files.data_path("products", "backgrounds")  # "" without FASTFEED_DATA
SOURCE_SIDE = 384


def load_images(folder: str, count: int) -> np.ndarray:
    """Up to ``count`` photos, centre-cropped square and resized to SOURCE_SIDE;
    procedural textures when the folder is missing."""
    if not os.path.isdir(folder):
        print(f"note: {folder or '$FASTFEED_DATA/products/backgrounds'} not found; using "
              f"procedural textures (pass --images DIR; docs/data.md).")
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


def classic(size: int):
    """The albumentations pipeline and the equivalent native spec of the first table."""
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


def pipelines(size: int) -> dict:
    """``{name: (albumentations transform, native spec, Keras layers)}``."""
    import albumentations as A
    import keras

    reflect = cv2.BORDER_REFLECT_101
    crop = A.RandomCrop(size, size)
    magnitude = 0.9  # RandAugment's M = 9 on the paper's 0-10 scale
    rand_augment_like = A.SomeOf([
        A.Affine(shear=(-17, 17), border_mode=reflect, p=1.0),
        A.Affine(translate_percent=(-0.45 * magnitude, 0.45 * magnitude), border_mode=reflect,
                 p=1.0),
        A.Affine(rotate=(-30 * magnitude, 30 * magnitude), border_mode=reflect, p=1.0),
        A.RandomBrightnessContrast(brightness_limit=0.9 * magnitude, contrast_limit=0, p=1.0),
        A.ColorJitter(brightness=0, contrast=0, saturation=(1 - 0.9 * magnitude, 1), hue=0,
                      p=1.0),
        A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=0.9 * magnitude, p=1.0),
        A.Sharpen(p=1.0), A.Posterize(num_bits=(4, 8), p=1.0),
        A.Solarize(threshold_range=(1 - magnitude, 1.0), p=1.0), A.AutoContrast(p=1.0),
        A.Equalize(p=1.0)], n=2, replace=True, p=1.0)
    layers = keras.layers
    return {
        "geometric": (
            A.Compose([A.HorizontalFlip(p=0.5), crop,
                       A.Affine(rotate=(-18, 18), scale=(0.8, 1.2),
                                translate_percent=(-0.1, 0.1), border_mode=reflect, p=1.0)]),
            f"flip('horizontal')|crop({size}, {size})|rotation(0.05)|zoom(0.2)"
            f"|translation(0.1, 0.1)",
            [layers.RandomFlip("horizontal"), layers.RandomCrop(size, size),
             layers.RandomRotation(0.05), layers.RandomZoom(0.2),
             layers.RandomTranslation(0.1, 0.1)]),
        "photometric": (
            A.Compose([crop, A.ColorJitter(0.2, 0.2, 0.2, 0.0, p=1.0),
                       A.Sharpen(p=1.0), A.Posterize(num_bits=(4, 8), p=1.0),
                       A.Equalize(p=1.0)]),
            f"crop({size}, {size})|color_jitter(0.2, 0.2, 0.2)|sharpness|"
            f"posterization((4, 8))|equalization",
            [layers.RandomCrop(size, size),
             layers.RandomColorJitter(value_range=(0, 255), brightness_factor=0.2,
                                      contrast_factor=0.2, saturation_factor=0.2),
             layers.RandomSharpness((0.25, 0.75)), layers.RandomPosterization((4, 8)),
             layers.Equalization()]),
        "policy": (
            A.Compose([crop, rand_augment_like]),
            f"crop({size}, {size})|rand_augment(2, 9)",
            [layers.RandomCrop(size, size),
             layers.RandAugment(value_range=(0, 255), num_ops=2, factor=magnitude)]),
    }


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


def batched_in_tf_data(images: np.ndarray, fn, batch: int):
    """The native ops on each batch, example i of batch k drawing as example kB + i
    of the per-example map does: the same bytes, one call per batch."""
    return (tf.data.Dataset.from_tensor_slices({"image": images}).repeat().batch(batch)
            .enumerate().map(lambda k, b: fn(k * batch + tf.range(batch, dtype=tf.int64), b),
                             num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def keras_in_tf_data(images: np.ndarray, layers, batch: int):
    """Keras' layers on each batch (float32, as they compute), in a parallel map."""
    def apply(x):
        x = tf.cast(x, tf.float32)
        for layer in layers:
            x = layer(x, training=True)
        return x
    return (tf.data.Dataset.from_tensor_slices(images).repeat().batch(batch)
            .map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))


LOOP, KERAS = "albumentations, plain Python loop", "Keras 3 layers, parallel map per batch"


def report(result) -> None:
    """Each candidate's images/s against the loop's and Keras' (same run), the cores it
    kept busy, and its CPU time per image, also against the loop's."""
    def cpu_ms(name):
        return result.cores[name] / result.rates[name] * 1e3

    keras = result.rates.get(KERAS)
    print(f"\n{'pipeline':<38} {'images/s':>9} {'x loop':>7} {'x keras':>8} {'cores':>6} "
          f"{'CPU ms/image':>13} {'x loop':>7} {'start-up':>9}")
    for name, rate in result.rates.items():
        versus_keras = f"{rate / keras:>7.2f}x" if keras else f"{'-':>8}"
        print(f"{name:<38} {rate:>9.0f} {rate / result.rates[LOOP]:>6.2f}x {versus_keras} "
              f"{result.cores[name]:>6.2f} {cpu_ms(name):>13.2f} "
              f"{cpu_ms(name) / cpu_ms(LOOP):>6.2f}x {result.startup[name]:>8.1f}s",
              flush=True)


def main(argv=None) -> int:
    parser = common.parser("augment", __doc__, image_size=256, batch_size=32)
    parser.add_argument("--images", default=DEFAULT_IMAGES, help="folder of photos")
    parser.add_argument("--count", type=int, default=128, help="photos to hold in memory")
    parser.add_argument("--pipelines", default="geometric,photometric,policy",
                        help="comma-separated: geometric, photometric, policy, classic")
    parser.add_argument("--intra-op-threads", type=int, default=0,
                        help="TensorFlow's threads per op (0: its default, one per core; "
                             "1: each op on the thread that runs it, see "
                             "docs/benchmarks.md)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    unknown = set(names) - {"geometric", "photometric", "policy", "classic"}
    if unknown or not names:
        parser.error(f"--pipelines {args.pipelines!r}: use geometric, photometric, policy "
                     f"and/or classic.")
    if args.intra_op_threads < 0:
        parser.error(f"--intra-op-threads {args.intra_op_threads}: use 0 (TensorFlow's "
                     f"default) or a number of threads.")
    if args.intra_op_threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
        except RuntimeError:
            if tf.config.threading.get_intra_op_parallelism_threads() != args.intra_op_threads:
                parser.error("--intra-op-threads: TensorFlow has already started in this "
                             "process; run the benchmark as its own command.")
    images = load_images(args.images, args.count)
    size, batch = args.image_size, args.batch_size
    print(f"{len(images)} photos at {SOURCE_SIDE}x{SOURCE_SIDE} -> {size}x{size}, batch "
          f"{batch}; {os.cpu_count()} CPU cores; {args.rounds} rounds of {args.seconds:g} s "
          f"each, alternating; OpenCV threads: {cv2.getNumThreads()}; TensorFlow intra-op "
          f"threads: {args.intra_op_threads or 'its default'}", flush=True)
    table = pipelines(size)
    for name in names:
        if name == "classic":
            transform, spec = classic(size)
            candidates = {
                LOOP: (lambda: plain_loop(images, transform, batch), batch),
                "albumentations bridge, per example": (
                    lambda: in_tf_data(images, albu.albumentations_map(
                        transform, targets={"image": "image"}), batch), batch),
                "albumentations bridge, per batch": (
                    lambda: batches_in_tf_data(images, albu.albumentations_map(
                        transform, targets={"image": "image"}), batch), batch),
                "native ops, parallel tf.data map": (
                    lambda: in_tf_data(images, augment.parse(spec), batch), batch),
                "native ops, batched map (same bytes)": (
                    lambda: batched_in_tf_data(images, augment.parse(spec), batch), batch)}
        else:
            transform, spec, layers = table[name]
            candidates = {
                LOOP: (lambda: plain_loop(images, transform, batch), batch),
                "native ops, parallel tf.data map": (
                    lambda: in_tf_data(images, augment.parse(spec), batch), batch),
                "native ops, batched map (same bytes)": (
                    lambda: batched_in_tf_data(images, augment.parse(spec), batch), batch),
                KERAS: (lambda: keras_in_tf_data(images, layers, batch), batch)}
        print(f"\n== {name}: native spec {spec!r}", flush=True)
        result = common.race(candidates, seconds=args.seconds, rounds=args.rounds, drain=4,
                             fresh=True)
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
