"""Reference Keras models, registered by name (the timm way).

    from fastfeed import models
    models.available()        # ['diff_cnn', 'siamese', 'unet_lite0', 'unet_lite2', 'unet_small']
    model = models.get("siamese", image_size=64)
    logit = model({"image1": x1, "image2": x2})   # uint8 [B, 64, 64, 3] each -> [B, 1]

A new model is one function decorated with :func:`register` (or
``@register(embedding=True)`` and other facts about it, read back with
:func:`metadata`) that returns a ``keras.Model``; the registry test builds every
registered model and runs a forward and a backward pass, so it is tested for free.
Models are plain Keras 3 (no TF-only layers), take the streams' uint8 images and
rescale them on the device.
"""

from __future__ import annotations

import ast
import functools
import importlib
import os
from typing import Callable

from fastfeed import sources

_REGISTRY: dict[str, Callable] = {}
_METADATA: dict[str, dict] = {}
# Modules whose import registers models; imported on first use (they import Keras).
_MODULES = ("fastfeed.models.faces", "fastfeed.models.segmentation")


def register(fn: Callable | None = None, **facts):
    """Registers ``fn(**kwargs) -> keras.Model`` under its function name, with
    ``facts`` about it: ``output`` (``'pair'``: two images in, a same-person logit out;
    ``'mask'``: one image in, a mask logit per pixel out), ``embedding=True`` (it holds
    an ``embedding`` sub-model that maps one image to a unit vector). ``@register`` and
    ``@register(**facts)`` both work."""
    if fn is None:
        return lambda fn: register(fn, **facts)
    if fn.__name__ in _REGISTRY:
        raise ValueError(f"A model named {fn.__name__!r} is already registered.")
    _REGISTRY[fn.__name__] = fn
    _METADATA[fn.__name__] = {"embedding": False, "output": "", **facts}
    return fn


def metadata(name: str) -> dict:
    """What ``register`` was told of the model ``name`` (``{'embedding': bool,
    'output': 'pair' | 'mask' | ''}``)."""
    _load()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}.")
    return dict(_METADATA[name])


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(module)


@functools.lru_cache(maxsize=1)
def declared() -> dict[str, dict]:
    """``{name: facts}`` of every model the registering modules declare, read from
    their ``@register`` decorators' source without importing them (nor Keras): what
    :func:`metadata` says once they are imported, for checks before TensorFlow
    loads."""
    found = {}
    for module in _MODULES:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            module.rsplit(".", 1)[1] + ".py")
        for node, call in sources.registered(path):
            facts = {k.arg: ast.literal_eval(k.value) for k in call.keywords} if call else {}
            found[node.name] = {"embedding": False, "output": "", **facts}
    return found


def available() -> list[str]:
    """Names of the registered models."""
    _load()
    return sorted(_REGISTRY)


def get(name: str, **kwargs):
    """Builds the model ``name`` with ``kwargs`` (its function's arguments)."""
    _load()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name](**kwargs)


def load(path: str):
    """The model saved at ``path`` (a ``model.keras``), fastfeed's custom layers
    registered first; ValueError naming the file when it is not a Keras model."""
    import keras

    _load()
    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError, KeyError) as error:
        raise ValueError(f"{path}: not a Keras model file ({error}).") from None


def describe(name: str) -> str:
    """The first line of a model's docstring."""
    _load()
    return (_REGISTRY[name].__doc__ or "").strip().splitlines()[0]
