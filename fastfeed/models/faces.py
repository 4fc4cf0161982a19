"""Face-verification models: two uint8 faces in, one logit out (same person or not).

Every model here takes ``{'image1': uint8 [B, S, S, 3], 'image2': ...}`` and returns a
float32 logit [B, 1]. Siamese models also hold their shared embedding network as the
sub-model named ``'embedding'`` (uint8 [B, S, S, 3] -> unit vectors [B, D]), which is
what identity-batch losses train and what evaluation embeds each face with.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from fastfeed.models.layers import color_jitter
from fastfeed.models import register


def _inputs(image_size: int) -> dict:
    return {key: keras.Input((image_size, image_size, 3), dtype="uint8", name=key)
            for key in ("image1", "image2")}


def _rescaled(x, jitter: float, seed: int | None):
    """uint8 -> float in [0, 1]; colour jitter first (training only) where asked."""
    x = layers.Identity()(x) if jitter <= 0 else color_jitter(
        jitter, jitter, jitter, seed=seed)(ops.cast(x, "float32"))
    return layers.Rescaling(1.0 / 255.0)(x)


def _conv_bn(x, width: int, relu: bool = True):
    x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x) if relu else x


@keras.saving.register_keras_serializable(package="fastfeed")
class CosineHead(keras.layers.Layer):
    """``scale * cos(e1, e2) + bias`` for unit embeddings, float32: the logit of a
    siamese pair. Squared distance between unit vectors is ``2 - 2 cos``, so a
    distance head ranks pairs the same way; scale and bias only matter for a loss on
    the logit (pair training), never for a threshold chosen on held-out pairs."""

    def __init__(self, scale: float = 10.0, bias: float = -5.0, **kwargs):
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})
        self.initial = (scale, bias)

    def build(self, input_shape):
        scale, bias = self.initial
        self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(scale),
                                     name="scale")
        self.bias = self.add_weight(shape=(), initializer=keras.initializers.Constant(bias),
                                    name="bias")

    def call(self, e1, e2):
        cosine = ops.sum(ops.cast(e1, "float32") * ops.cast(e2, "float32"), axis=-1,
                         keepdims=True)
        return self.scale * cosine + self.bias

    def get_config(self):
        scale, bias = self.initial
        return {**super().get_config(), "scale": scale, "bias": bias}


def embedding_network(image_size: int = 64, widths=(24, 48, 96, 192), dim: int = 128,
                      residual: bool = True, jitter: float = 0.0, seed: int | None = None,
                      name: str = "embedding") -> keras.Model:
    """uint8 faces -> unit embeddings: a stage per width (two 3x3 conv-BN, with an
    identity or 1x1 shortcut where ``residual``), 2x2 max-pool between stages, global
    average pooling, a dense projection and L2 normalisation (float32)."""
    image = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
    x = _rescaled(image, jitter, seed)
    for stage, width in enumerate(widths):
        if stage:
            x = layers.MaxPooling2D(2)(x)
        y = _conv_bn(x, width)
        y = _conv_bn(y, width, relu=not residual)
        if residual:
            shortcut = x if x.shape[-1] == width else layers.Conv2D(
                width, 1, use_bias=False)(x)
            y = layers.ReLU()(layers.Add()([y, shortcut]))
        x = y
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(dim, dtype="float32")(x)
    x = layers.UnitNormalization(dtype="float32")(x)
    return keras.Model(image, x, name=name)


@register(output="pair", embedding=True)
def siamese(image_size: int = 64, widths=(24, 48, 96, 192), dim: int = 128,
            residual: bool = True, jitter: float = 0.0, seed: int | None = None,
            scale: float = 10.0, bias: float = -5.0) -> keras.Model:
    """Siamese residual CNN: one shared embedding network, cosine pair head."""
    embed = embedding_network(image_size, tuple(widths), dim, residual, jitter, seed)
    inputs = _inputs(image_size)
    logit = CosineHead(scale, bias, name="head")(embed(inputs["image1"]),
                                                  embed(inputs["image2"]))
    return keras.Model(inputs, logit, name="siamese")


@register(output="pair")
def diff_cnn(image_size: int = 64, widths=(32, 64, 128, 128), hidden: int = 128,
             jitter: float = 0.0, seed: int | None = None) -> keras.Model:
    """The article's baseline: the difference of the two faces through conv-ReLU-maxpool
    stages, a dense layer and one logit."""
    inputs = _inputs(image_size)
    x = layers.Subtract()([_rescaled(inputs["image1"], jitter, seed),
                           _rescaled(inputs["image2"], jitter, None if seed is None
                                     else seed + 3)])
    for width in widths:
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(hidden, activation="relu")(x)
    logit = layers.Dense(1, dtype="float32", name="head")(x)
    return keras.Model(inputs, logit, name="diff_cnn")
