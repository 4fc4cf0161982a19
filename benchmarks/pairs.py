"""`fastfeed bench pairs`: the article's LFW pair pipeline against `pair_stream`.

    python -m benchmarks.pairs --lfw $FASTFEED_DATA/lfw --seconds 5 --rounds 3

(a) the article's pipeline, ported to TF2 as described: `from_generator` over a Python
generator of random file-name pairs, a serial `map` that reads, decodes and resizes both
JPEGs, `batch`, `prefetch(5)`; (b) `pair_stream` with no augmentation, with the registry
spec for crop + flip (read from the face table in one gather), with colour jitter added
in the stream, and with the jitter instead in a model step (the Keras layers of
`fastfeed.models.layers`, run in training mode on every batch); (c) the raw
JPEG decode ceiling of this machine (decode only, all cores). Each pipeline is built
once (start-up = time to its first batch), then they take turns for `--seconds` each,
`--rounds` times; the median pairs/s is reported.
"""

from __future__ import annotations

import os
import random
import sys

import tensorflow as tf

from benchmarks import common
from fastfeed import files, lfw
from fastfeed.compose import faces

DEFAULT_LFW = files.data_path("lfw")  # "" without FASTFEED_DATA


def find_people(root: str) -> dict[str, list[str]]:
    """People from an LFW folder: one holding a config's images, or the tree itself."""
    return lfw.people_from_dir(lfw.find_images(root, lfw.detect_config(root)) or root)


def article_pipeline(people, image_size: int, batch_size: int, seed: int = 0):
    """The article's input pipeline, as it describes it, in TF2."""
    names = sorted(people)
    multi = [p for p in names if len(people[p]) >= 2]

    def generator():
        rng = random.Random(seed)
        while True:
            if rng.random() < 0.5:
                first, second = rng.sample(people[rng.choice(multi)], 2)
                yield first, second, 1.0
            else:
                person1, person2 = rng.sample(names, 2)
                yield rng.choice(people[person1]), rng.choice(people[person2]), 0.0

    def load(path1, path2, label):
        def read(path):
            image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
            return tf.image.resize(image, [image_size, image_size])
        return {"image1": read(path1), "image2": read(path2)}, label

    dataset = tf.data.Dataset.from_generator(generator, output_signature=(
        tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.string),
        tf.TensorSpec((), tf.float32)))
    return dataset.map(load).batch(batch_size).prefetch(5)


def decode_ceiling(people):
    """Full-size JPEG decodes on all cores, nothing else; yields batches of 256 images."""
    paths = [p for images in people.values() for p in images]
    return (tf.data.Dataset.from_tensor_slices(paths).repeat()
            .map(lambda p: tf.io.decode_jpeg(tf.io.read_file(p), channels=3),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
            .batch(256).prefetch(tf.data.AUTOTUNE))


class ModelSideJitter:
    """Iterates a stream and runs, per batch, an XLA-compiled model step made of the
    Keras colour-jitter layers in training mode (what a model with them on its input
    does before its first convolution), so the rate counts that work too. On this CPU
    the step shares the cores with the stream; on a GPU it would not."""

    def __init__(self, stream):
        from fastfeed.models import layers

        self.stream = stream
        jitter = layers.color_jitter(0.2, 0.2, 0.2, seed=0)

        @tf.function(jit_compile=True)  # as a model step compiled with XLA would
        def step(images):
            out = [jitter(tf.cast(images[k], tf.float32), training=True)
                   for k in ("image1", "image2")]
            return tf.add_n([tf.reduce_mean(x) for x in out])
        self.step = step

    def __iter__(self):
        for images, label in self.stream:
            self.step(images).numpy()
            yield images, label


def main(argv=None) -> int:
    parser = common.parser("pairs", __doc__, image_size=112, batch_size=64)
    parser.add_argument("--lfw", default=DEFAULT_LFW,
                        help="LFW tree, archive, or a folder holding lfw-deepfunneled.tgz")
    args = parser.parse_args(argv)
    if not os.path.exists(args.lfw):
        print(f"error: LFW not found at {args.lfw or '$FASTFEED_DATA/lfw'}; pass --lfw DIR "
              f"(the folder with lfw-deepfunneled.tgz, or an extracted LFW tree) or set "
              f"FASTFEED_DATA (docs/data.md).", file=sys.stderr)
        return 2
    people = find_people(args.lfw)
    num_images = sum(map(len, people.values()))
    print(f"LFW: {len(people)} people, {num_images} images; {args.image_size}x"
          f"{args.image_size}, batch {args.batch_size}; {os.cpu_count()} CPU cores; "
          f"{args.rounds} rounds of {args.seconds:g} s each, alternating", flush=True)

    size, batch = args.image_size, args.batch_size
    crop_flip = f"flip_lr|random_resized_crop({size}, scale=(0.75, 1.0), method='nearest')"

    def stream(augment=None):
        return faces.pair_stream(people, image_size=size, batch_size=batch, augment=augment)

    candidates = {
        "article (from_generator + serial map)":
            (lambda: article_pipeline(people, size, batch), batch),
        "pair_stream": (stream, batch),
        "pair_stream crop+flip (registry spec)": (lambda: stream(crop_flip), batch),
        "pair_stream crop+flip|color_jitter": (
            lambda: stream(crop_flip + "|color_jitter(0.2, 0.2, 0.2)"), batch),
        "crop+flip stream, color_jitter in a model step": (
            lambda: ModelSideJitter(stream(crop_flip)), batch),
        "decode ceiling (JPEG decode only, all cores)": (lambda: decode_ceiling(people), 128),
    }
    rates, startup, _ = common.race(candidates, seconds=args.seconds, rounds=args.rounds)

    baseline = rates[next(iter(candidates))]
    print(f"\n{'pipeline':<46} {'pairs/s':>9} {'x article':>10} {'start-up':>9}")
    for name in candidates:
        rate = rates[name]
        print(f"{name:<46} {rate:>9.0f} {rate / baseline:>9.1f}x {startup[name]:>8.1f}s")
    print(f"(decode ceiling: pairs/s = images/s / 2; crop+flip = {crop_flip!r}; the model "
          f"step runs fastfeed.models.layers.color_jitter() in training mode on "
          f"both images of each batch, on the same CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
