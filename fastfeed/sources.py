"""What a module declares, read from its source without importing it: the functions
decorated with ``@register`` (models) or ``@register("name")`` (augmentation ops), so
that an option naming one is checked before the module's heavy imports (Keras,
TensorFlow) load. Tests hold these equal to the registries once imported."""

from __future__ import annotations

import ast


def registered(path: str, decorator: str = "register"):
    """``(function node, decorator call or None)`` of every function of the module at
    ``path`` decorated with ``@decorator`` or ``@decorator(...)``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        for found in getattr(node, "decorator_list", ()):
            call = found if isinstance(found, ast.Call) else None
            if getattr(call.func if call else found, "id", "") == decorator:
                yield node, call
