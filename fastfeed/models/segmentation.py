"""Background-removal models: uint8 photo in, one-channel object logit out.

Every model here takes ``uint8 [B, H, W, 3]`` of any size whose sides are multiples of
``STRIDE`` (:func:`fastfeed.background.inference.predict_low` resizes photos to such
sides) and returns a float32 logit ``[B, H, W, 1]`` at the input resolution: sigmoid >
0.5 is the object.
"""

from __future__ import annotations

import keras
from keras import layers

from fastfeed.models import efficientnet_lite, register
from fastfeed.models.layers import GlobalContext

STRIDE = 32  # input sides must be multiples of this


def _conv_bn(x, width: int, strides: int = 1):
    x = layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def _decoder(x, skips, widths):
    """Global context on the deepest features ``x``, then per skip (finest first in
    ``skips``, used coarsest first) 2x bilinear upsampling, the skip concatenated and
    two conv-BN-ReLU of that skip's ``widths``; the one-channel float32 logit."""
    x = GlobalContext(name="context")(x)
    for skip, width in zip(reversed(skips), reversed(widths)):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([x, skip])
        x = _conv_bn(x, width)
        x = _conv_bn(x, width)
    return layers.Conv2D(1, 1, dtype="float32", name="logit")(x)


@register(output="mask")
def unet_small(image_size: int | None = None, widths=(16, 32, 64, 96, 160),
               stem: int = 8) -> keras.Model:
    """U-Net with global context, 1.0 M parameters: 5 downsampling stages to 1/32."""
    del image_size  # fully convolutional: any multiple of STRIDE
    image = keras.Input((None, None, 3), dtype="uint8", name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(image)
    skips = [_conv_bn(x, stem)]  # full resolution, for the edges
    x = skips[0]
    for stage, width in enumerate(widths):
        x = _conv_bn(x, width, strides=2)
        x = _conv_bn(x, width)
        if stage < len(widths) - 1:
            skips.append(x)
    logit = _decoder(x, skips, [skip.shape[-1] for skip in skips])
    return keras.Model(image, logit, name="unet_small")


def _unet_lite(variant: str, blocks: int, widths, stem: int,
               encoder_weights: str | None) -> keras.Model:
    if encoder_weights not in ("imagenet", None):
        raise ValueError(f"encoder_weights={encoder_weights!r}: 'imagenet' or None.")
    image = keras.Input((None, None, 3), dtype="uint8", name="image")
    x = layers.Rescaling(1.0 / efficientnet_lite.INPUT_STD,
                         offset=-efficientnet_lite.INPUT_MEAN / efficientnet_lite.INPUT_STD)(image)
    full = _conv_bn(x, stem)  # full resolution, for the edges
    x, skips = efficientnet_lite.encoder(x, blocks, variant)
    if len(skips) != 4:  # 1/2, 1/4, 1/8, 1/16
        reach = sum(stage[0] for stage in efficientnet_lite.stages(variant)[:5]) + 1
        raise ValueError(f"blocks={blocks}: the encoder must reach 1/32 (blocks >= {reach}).")
    name = f"unet_{variant}"
    model = keras.Model(image, _decoder(x, [full] + skips, widths), name=name)
    if encoder_weights == "imagenet":
        efficientnet_lite.load_imagenet(model, variant=variant)
    return model


@register(output="mask")
def unet_lite0(image_size: int | None = None, blocks: int = 14,
               widths=(16, 24, 32, 48, 80), stem: int = 8,
               encoder_weights: str | None = "imagenet") -> keras.Model:
    """U-Net on an EfficientNet-Lite0 encoder with ImageNet weights, 2.3 M parameters."""
    del image_size  # fully convolutional: any multiple of STRIDE
    return _unet_lite("lite0", blocks, widths, stem, encoder_weights)


@register(output="mask")
def unet_lite2(image_size: int | None = None, blocks: int = 19,
               widths=(16, 24, 32, 48, 96), stem: int = 8,
               encoder_weights: str | None = "imagenet") -> keras.Model:
    """U-Net on an EfficientNet-Lite2 encoder with ImageNet weights (19 of its 21 blocks,
    as unet_lite0 takes 14 of Lite0's 16), 4.0 M parameters."""
    del image_size  # fully convolutional: any multiple of STRIDE
    return _unet_lite("lite2", blocks, widths, stem, encoder_weights)
