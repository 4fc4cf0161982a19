"""The remover's options, one table for the command line (`fastfeed remove-bg`,
`eval-bg`) and the HTTP API (`fastfeed serve-bg`): each takes the text a user typed
and gives the value, or ValueError with one line saying what is allowed.

    options.size("160"), options.scales("0.8,1,1.2"), options.colour("255,255,255")
"""

from __future__ import annotations

import math

from fastfeed.background.inference import (DEFAULT_REFINEMENT, DEFAULT_SCALES, DEFAULT_SIZE,
                                           REFINEMENTS, scaled_sizes)
from fastfeed.background.refine import matting_installed

MAX_MODEL_INPUT = 4096  # px on the longer side, for size and size times the largest scale
SIZE_RANGE = (32, MAX_MODEL_INPUT, 32)  # low, high, step: a multiple of the model's stride
OUTPUTS = {"rgba": "the photo with the object's alpha", "mask": "the mask alone (gray)",
           "color": "the object on a solid colour"}

__all__ = ["DEFAULT_REFINEMENT", "DEFAULT_SCALES", "DEFAULT_SIZE", "MAX_MODEL_INPUT",
           "REFINEMENTS", "SIZE_RANGE", "colour", "map_problem", "refinement", "scales",
           "size"]


def size(text) -> int:
    """The model's input side: an integer from 32 to 4096, a multiple of 32."""
    low, high, step = SIZE_RANGE
    try:
        value = int(str(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None
    if not low <= value <= high or value % step:
        raise ValueError(f"{value}: use a value from {low} to {high}, a multiple of {step}")
    return value


def scales(text) -> tuple[float, ...]:
    """The sizes (times ``size``) whose maps are averaged: 1 to 8 numbers in (0, 4]."""
    try:
        values = tuple(float(part) for part in str(text).split(","))
    except ValueError:
        values = ()
    if not 1 <= len(values) <= 8 or not all(math.isfinite(v) and 0 < v <= 4
                                             for v in values):
        raise ValueError(f"{text!r}: use 1 to 8 numbers in (0, 4] separated by commas, "
                         f"e.g. 0.8,1,1.2 (or 1 for one size)")
    return values


def colour(text) -> tuple[int, int, int]:
    """``R,G,B`` with 0-255 each."""
    try:
        values = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise ValueError(f"{text!r}: use R,G,B with 0-255 each, e.g. 255,255,255")
    return values


def refinement(text) -> str:
    """One of :data:`REFINEMENTS`; ``matting`` only where pymatting is installed."""
    if text not in REFINEMENTS:
        raise ValueError(f"{text!r}: use one of {', '.join(REFINEMENTS)}")
    if text == "matting" and not matting_installed():
        raise ValueError("'matting' needs pymatting: pip install 'fastfeed[matting]' "
                         "(or choose another refinement)")
    return text


def map_problem(size_value: int, scale_values, names=("size", "scales")) -> str:
    """Why ``size`` with ``scales`` asks too much of the model ("" when it does not):
    each is checked alone, their product here. ``names``: how the message calls the
    two (``--size``, ``--scales`` on the command line)."""
    size_name, scales_name = names
    largest = max(scaled_sizes(size_value, scale_values))
    if largest > MAX_MODEL_INPUT:
        shown = ",".join(f"{s:g}" for s in scale_values)
        return (f"{size_name} {size_value} with {scales_name} {shown}: the model's largest "
                f"input would be {largest} px; keep {size_name} times the largest scale "
                f"at most {MAX_MODEL_INPUT} (e.g. a smaller {size_name}).")
    return ""
