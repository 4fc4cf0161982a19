"""Augmentation specs as text, without TensorFlow: ``"flip_lr|rotate(10)|hue(0.05)"``
split into ops, each op's name and literal arguments read with ``ast`` (no ``eval``),
and the names the registry declares, read from its modules' ``@register("name")``
decorators. :mod:`fastfeed.compose.augment.registry` builds the ops from these; the
option checks of ``fastfeed train`` use them before TensorFlow loads."""

from __future__ import annotations

import ast
import difflib
import functools
import math
import os

from fastfeed import sources

# The augmentation modules that register ops (with @register("name")).
_OP_MODULES = ("geometric", "warps", "photometric", "tones", "mixing", "policies")


def split_spec(spec: str) -> list[str]:
    """Splits on '|' outside parentheses and brackets."""
    parts, depth, current = [], 0, []
    for char in spec:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "|" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_op(text: str) -> tuple[str, list, dict]:
    """``(name, args, kwargs)`` of ``name`` or ``name(literal args)``; ValueError for
    anything else, or for a number that is not finite."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as error:
        raise ValueError(f"Cannot parse augmentation op {text!r}: {error.msg}.") from None
    if isinstance(node, ast.Name):
        name, args, kwargs = node.id, [], {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            raise ValueError(f"Augmentation op {text!r}: arguments must be Python "
                             f"literals (numbers, strings, tuples).") from None
    else:
        raise ValueError(f"Cannot parse augmentation op {text!r}: expected name or "
                         f"name(args).")
    for value in _numbers([*args, *kwargs.values()]):
        if isinstance(value, complex) or not math.isfinite(value):
            raise ValueError(f"Augmentation op {text!r}: {value!r} is not a finite "
                             f"real number; give finite values.")
    return name, args, kwargs


def _numbers(values):
    """Every number inside ``values`` (literals: numbers, strings, tuples, lists, dicts,
    sets), nested ones included."""
    for value in values:
        if isinstance(value, (int, float, complex)) and not isinstance(value, bool):
            yield value
        elif isinstance(value, dict):
            yield from _numbers([*value.keys(), *value.values()])
        elif isinstance(value, (tuple, list, set, frozenset)):
            yield from _numbers(value)


@functools.lru_cache(maxsize=1)
def declared_ops() -> frozenset[str]:
    """The op names the registry's modules declare (their ``@register("name")``
    decorators, read from the source: what ``augment.REGISTRY`` holds once imported)."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "augment")
    return frozenset(call.args[0].value for module in _OP_MODULES
                     for _, call in sources.registered(os.path.join(folder, f"{module}.py"))
                     if call and call.args and isinstance(call.args[0], ast.Constant))


def did_you_mean(name: str, known) -> str:
    """`` Did you mean 'a' or 'b'?`` of the ``known`` names close to ``name`` ("" when
    none is)."""
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_ops(spec: str) -> list[str]:
    """The op names of ``spec`` the registry does not declare (ValueError for a spec
    that does not parse)."""
    return [name for name, _, _ in map(parse_op, split_spec(spec))
            if name not in declared_ops()]
