"""`fastfeed bench pairs`: the article's LFW pair pipeline against `pair_stream`.

    python -m benchmarks.pairs --lfw ../shared/data/lfw --seconds 5 --rounds 3

(a) the article's pipeline, ported to TF2 as described: `from_generator` over a Python
generator of random file-name pairs, a serial `map` that reads, decodes and resizes both
JPEGs, `batch`, `prefetch(5)`; (b) `pair_stream` with no augmentation, crop+flip, and
crop+flip+jitter; (c) the raw JPEG decode ceiling of this machine (decode only, all
cores). Each pipeline is built once (start-up = time to its first batch), then they
take turns for `--seconds` each, `--rounds` times; the median pairs/s is reported.
"""

from __future__ import annotations

import os
import random
import sys

import tensorflow as tf

from benchmarks import common
from fastfeed.compose import pairs

DEFAULT_LFW = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "lfw")


def find_people(lfw: str) -> dict[str, list[str]]:
    """People from an LFW folder: the tree itself, or a folder holding the archive."""
    for archive in ("lfw-deepfunneled.tgz", "lfw.tgz"):
        if os.path.isfile(os.path.join(lfw, archive)):
            return pairs.people_from_dir(os.path.join(lfw, archive))
    for top in ("lfw-deepfunneled", "lfw"):
        if os.path.isdir(os.path.join(lfw, top)):
            return pairs.people_from_dir(os.path.join(lfw, top))
    return pairs.people_from_dir(lfw)


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


def main(argv=None) -> int:
    parser = common.parser("pairs", __doc__, image_size=112, batch_size=64)
    parser.add_argument("--lfw", default=DEFAULT_LFW,
                        help="LFW tree, archive, or a folder holding lfw-deepfunneled.tgz")
    args = parser.parse_args(argv)
    if not os.path.exists(args.lfw):
        print(f"error: LFW not found at {args.lfw!r}; pass --lfw DIR (the folder with "
              f"lfw-deepfunneled.tgz, or an extracted LFW tree).", file=sys.stderr)
        return 2
    people = find_people(args.lfw)
    num_images = sum(map(len, people.values()))
    print(f"LFW: {len(people)} people, {num_images} images; {args.image_size}x"
          f"{args.image_size}, batch {args.batch_size}; {os.cpu_count()} CPU cores; "
          f"{args.rounds} rounds of {args.seconds:g} s each, alternating", flush=True)

    size, batch = args.image_size, args.batch_size
    candidates = {
        "article (from_generator + serial map)":
            (lambda: article_pipeline(people, size, batch), batch),
        "pair_stream":
            (lambda: pairs.pair_stream(people, image_size=size, batch_size=batch), batch),
        "pair_stream augment=crop_flip":
            (lambda: pairs.pair_stream(people, image_size=size, batch_size=batch,
                                       augment="crop_flip"), batch),
        "pair_stream augment=crop_flip|jitter":
            (lambda: pairs.pair_stream(people, image_size=size, batch_size=batch,
                                       augment="crop_flip|jitter"), batch),
        "decode ceiling (JPEG decode only, all cores)": (lambda: decode_ceiling(people), 128),
    }
    rates, startup, _ = common.race(candidates, seconds=args.seconds, rounds=args.rounds)

    baseline = rates[next(iter(candidates))]
    print(f"\n{'pipeline':<46} {'pairs/s':>9} {'x article':>10} {'start-up':>9}")
    for name in candidates:
        rate = rates[name]
        print(f"{name:<46} {rate:>9.0f} {rate / baseline:>9.1f}x {startup[name]:>8.1f}s")
    print("(decode ceiling: pairs/s = images/s / 2; jitter in the model instead, with "
          "fastfeed.compose.pairs.color_jitter_layers(), leaves the stream at its "
          "crop_flip figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
