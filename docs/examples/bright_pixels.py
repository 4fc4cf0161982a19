"""The smallest fastfeed task: find the bright pixels of random images.

    PYTHONPATH=docs/examples fastfeed train --task bright_pixels --run-dir runs/bright

One module, nothing registered elsewhere: a ``Config`` and the two functions a task
needs, ``stream`` and ``loss``. The rest of :class:`fastfeed.tasks.base.Task` keeps its
defaults: ``--smoke`` is a few steps of 4 examples, and the evaluation is the loss and
the accuracy on 8 batches the training never reached.
"""

import dataclasses

from fastfeed.tasks import base


@dataclasses.dataclass(frozen=True)
class Config(base.Config):
    task: str = "bright_pixels"
    model: str = "unet_small"  # any registered model with the same input and output
    steps: int = 200
    image_size: int = base.option(64, "image side (px)", low=32, high=512, step=32)


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
