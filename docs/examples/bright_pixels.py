"""The smallest fastfeed task: find the bright pixels of random images.

    PYTHONPATH=docs/examples fastfeed train --task bright_pixels --run-dir runs/bright

One module, nothing registered elsewhere: a ``Config``, and the seven functions
:class:`fastfeed.tasks.base.Task` requires (the optional ones keep their defaults).
"""

import dataclasses

from fastfeed.tasks import base


@dataclasses.dataclass(frozen=True)
class Config(base.Config):
    task: str = "bright_pixels"
    model: str = "unet_small"  # any registered model with the same input and output
    steps: int = 200
    image_size: int = 64


def check(config):
    if config.image_size % 32:
        raise base.ConfigError(f"--image-size {config.image_size}: a multiple of 32.")


def smoke(config):
    return dataclasses.replace(config, steps=2, log_every=1, checkpoint_every=2,
                               batch_size=2, image_size=32)


def prepare(config):
    return None  # nothing to read: the stream makes its images


def stream(config, data, unit, feed):
    import tensorflow as tf

    size, batch = config.image_size, feed.per_replica(config.batch_size)

    def make_batch(k):  # batch k from its number: the same images however it is read
        seed = tf.stack([tf.cast(config.seed, tf.int64), k])
        image = tf.random.stateless_uniform([batch, size, size, 3], seed, 0, 256, tf.int32)
        bright = tf.reduce_mean(tf.cast(image, tf.float32), -1, keepdims=True) > 127
        return {"image": tf.cast(image, tf.uint8), "mask": tf.cast(bright, tf.float32)}

    return feed.batches(make_batch)


def loss(config, model, batch, training):
    from keras import ops

    logits = ops.cast(model(batch["image"], training=training), "float32")
    bce = ops.mean(ops.binary_crossentropy(batch["mask"], logits, from_logits=True))
    accuracy = ops.mean(ops.cast((logits > 0) == (batch["mask"] > 0.5), "float32"))
    return bce, {"accuracy": accuracy}


def evaluate(config, data, unit, model):
    from fastfeed.tasks.base import Feed

    batch = next(iter(stream(config, data, unit, Feed(start=10**6))))
    return {"accuracy": float(loss(config, model, batch, training=False)[1]["accuracy"])}


def summarize(config, results):
    return {"task": config.task, **results["main"]}
