"""TFDS builders shipped with fastfeed, one folder each (TFDS folder style).

A folder ``NAME/`` holding ``NAME_dataset_builder.py`` (its ``Builder``) is a dataset:
importing this package finds and registers every such folder, nothing listed
elsewhere. ``NAME/check.py``, when there, holds ``report(builder, manual_dir) ->
(lines, ok)``, what ``fastfeed build NAME`` runs after building; ``NAME/preview.py``
holds ``grid(builder, split, count, columns, seed, augment) -> image``, what
``fastfeed preview NAME`` draws. A builder whose class
has ``config_for(config, **sizes)`` takes ``fastfeed build``'s size options; its
``SOURCE`` says what it builds from without a manual_dir.
"""

from __future__ import annotations

import importlib
import pkgutil

BUILDERS = {}
for _info in pkgutil.iter_modules(__path__):
    if _info.ispkg:
        _module = importlib.import_module(
            f"{__name__}.{_info.name}.{_info.name}_dataset_builder")
        BUILDERS[_info.name] = _module.Builder


def config_names(name: str) -> list[str]:
    """The configs of the builder ``name``, its default first."""
    return [config.name for config in BUILDERS[name].BUILDER_CONFIGS]


def check(name: str):
    """The ``report`` function of ``NAME/check.py``, or None when the folder has none."""
    return _part(name, "check", "report")


def preview(name: str):
    """The ``grid`` function of ``NAME/preview.py``, or None when the folder has none."""
    return _part(name, "preview", "grid")


def _part(name: str, module: str, function: str):
    try:
        return getattr(importlib.import_module(f"{__name__}.{name}.{module}"), function)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}.{module}":
            raise
        return None
