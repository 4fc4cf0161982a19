"""The models' own Keras layers: photometric augmentation inside a model (on the
accelerator), computing the same maths as the stream's registry ops of the same names,
and :class:`GlobalContext`.

    import keras
    from fastfeed.models import layers
    jitter = layers.color_jitter(0.2, 0.2, 0.2, seed=1)   # = registry "color_jitter"
    model = keras.Sequential([jitter, ...])                # active in training only

``Brightness``, ``Contrast``, ``Saturation`` and ``ColorJitter`` are written here
because Keras' own differ from the registry's (``RandomBrightness`` adds, the
registry multiplies; ``RandomContrast`` takes the mean per channel, the registry over
the whole image; ``RandomSaturation`` works in HSV, the registry blends with the
luma): they share :mod:`fastfeed.colour` with the registry ops. Where
a Keras layer already computes a registry op, it is the one to use: :func:`hue`
returns ``keras.layers.RandomHue`` and :func:`grayscale` ``keras.layers.RandomGrayscale``,
configured to the registry's distributions. Every layer draws per image, from its own
seed generator, and passes images through unchanged outside training.
"""

from __future__ import annotations

import keras
from keras import ops

from fastfeed import colour


@keras.saving.register_keras_serializable(package="fastfeed")
class _FactorLayer(keras.layers.Layer):
    """Draws one factor per image in [low, high] and applies ``adjust`` (training only)."""

    name_of_op = ""

    def __init__(self, amount=0.2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.amount, self.seed = amount, seed
        self.factor_range = colour.factor_range(self.name_of_op, amount)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw(self, images):
        """Factors [B] for a batch of images (or a scalar for one image)."""
        shape = () if len(images.shape) == 3 else (ops.shape(images)[0],)
        return keras.random.uniform(shape, *self.factor_range, seed=self.seed_generator)

    def adjust(self, images, factors):
        return colour.ADJUST[self.name_of_op](images, factors)

    def call(self, images, training=None):
        if not training:
            return images
        images = ops.cast(images, self.compute_dtype)
        return self.adjust(images, self.draw(images))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "amount": self.amount, "seed": self.seed}


@keras.saving.register_keras_serializable(package="fastfeed")
class Brightness(_FactorLayer):
    """Registry ``brightness(amount)``: multiply by a factor in [1-amount, 1+amount]."""

    name_of_op = "brightness"


@keras.saving.register_keras_serializable(package="fastfeed")
class Contrast(_FactorLayer):
    """Registry ``contrast(amount)``: scale the distance to the image's mean."""

    name_of_op = "contrast"


@keras.saving.register_keras_serializable(package="fastfeed")
class Saturation(_FactorLayer):
    """Registry ``saturation(amount)``: scale the distance to the luma."""

    name_of_op = "saturation"


@keras.saving.register_keras_serializable(package="fastfeed")
class ColorJitter(keras.layers.Layer):
    """Registry ``color_jitter(brightness, contrast, saturation)``: the three in that
    order, each with its own seed (derived from ``seed``)."""

    def __init__(self, brightness=0.2, contrast=0.2, saturation=0.2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.amounts, self.seed = (brightness, contrast, saturation), seed
        seeds = [None] * 3 if seed is None else [seed, seed + 1, seed + 2]
        self.steps = [Brightness(brightness, seeds[0]), Contrast(contrast, seeds[1]),
                      Saturation(saturation, seeds[2])]

    def build(self, input_shape):
        for step in self.steps:
            step.build(input_shape)
        self.built = True

    def call(self, images, training=None):
        for step in self.steps:
            images = step(images, training=training)
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        brightness, contrast, saturation = self.amounts
        return {**super().get_config(), "brightness": brightness, "contrast": contrast,
                "saturation": saturation, "seed": self.seed}


def color_jitter(brightness=0.2, contrast=0.2, saturation=0.2, seed=None) -> ColorJitter:
    """The layer for registry ``color_jitter``; inputs in [0, 255]."""
    return ColorJitter(brightness, contrast, saturation, seed=seed)


def hue(max_delta=0.05, seed=None) -> keras.layers.Layer:
    """Registry ``hue(max_delta)`` as Keras' ``RandomHue``: both rotate the hue by a
    delta uniform in [-max_delta, max_delta] in HSV; inputs in [0, 255]."""
    return keras.layers.RandomHue(factor=(0.0, 2.0 * max_delta), value_range=(0, 255),
                                  seed=seed)


def grayscale(p=0.1, seed=None) -> keras.layers.Layer:
    """Registry ``grayscale(p)`` as Keras' ``RandomGrayscale`` (same luma weights)."""
    return keras.layers.RandomGrayscale(factor=p, seed=seed)


@keras.saving.register_keras_serializable(package="fastfeed")
class GlobalContext(keras.layers.Layer):
    """``x + relu(W mean(x))``: the whole image's average features added at every
    position of the deepest stage, so each pixel sees what the main object is."""

    def build(self, input_shape):
        width = input_shape[-1]
        self.dense = keras.layers.Dense(width)
        self.dense.build((None, width))

    def call(self, x):
        pooled = ops.mean(x, axis=(1, 2), keepdims=True)
        return x + ops.relu(self.dense(pooled))
