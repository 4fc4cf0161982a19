"""What a composite is made of: the recipe's ranges (:class:`Recipe`), the scene recipe
training uses, the product_composites splits' seeds, and the ``SOURCE[:WEIGHT],...``
mixes of asset sources."""

from __future__ import annotations

import dataclasses

PROCEDURAL = "procedural"
EDGE_MODES = ("none", "feather", "blur")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Ranges of the per-example draws (``*_range`` are uniform)."""

    scale_range: tuple[float, float] = (0.25, 0.9)  # object's longest side / output side
    rotation_degrees: float = 25.0  # uniform in [-r, r]
    max_truncation: float = 0.3  # fraction of the object's box allowed outside
    colour_match_range: tuple[float, float] = (0.0, 0.4)  # pull towards background mean
    brightness_range: tuple[float, float] = (0.8, 1.2)
    shadow_probability: float = 0.5
    shadow_strength_range: tuple[float, float] = (0.25, 0.6)
    shadow_offset: int = 8  # pixels, each axis, at most
    edge_probabilities: tuple[float, float, float] = (0.34, 0.33, 0.33)  # EDGE_MODES
    blur_sigma_range: tuple[float, float] = (0.6, 1.6)
    # Scene realism, off by default (the built splits keep their bits); see
    # SCENE_RECIPE and the ablation on real photos in docs/experiments.md.
    distractors: int = 0  # up to this many other objects behind the product, unmasked
    distractor_scale_range: tuple[float, float] = (0.15, 0.6)
    layer_probability: float = 0.0  # a second background across a soft random line
    defocus_probability: float = 0.0  # blur everything behind the product
    defocus_sigma_range: tuple[float, float] = (0.01, 0.04)  # fraction of the side


# What `fastfeed train --task composites` trains on: depth of field, layered scenes,
# larger products. (Noise and JPEG over the whole composite are augment ops:
# `gaussian_noise`, `jpeg_quality`.) Distractors (clutter that is not the product) are
# an option, off: they cost IoU on real photos (docs/experiments.md, the ablation).
SCENE_RECIPE = Recipe(scale_range=(0.3, 0.95), max_truncation=0.2, distractors=0,
                      layer_probability=0.5, defocus_probability=0.5)

# The product_composites splits' seeds (training streams use --seed, 0 by default):
# the builder makes each split with its seed, the composites task its test split.
SPLIT_SEEDS = {"validation": 1001, "test": 2002}


def is_procedural(source) -> bool:
    return isinstance(source, str) and source == PROCEDURAL


def parse_mix(text: str) -> dict[str, float]:
    """``'procedural:1,path/a:2'`` -> ``{'procedural': 1.0, 'path/a': 2.0}`` (weight 1
    where none is given), the form ``--objects``/``--backgrounds`` take."""
    mix = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        source, _, weight = part.rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            source, value = part, 1.0
        if not source or value <= 0:
            raise ValueError(f"{part!r}: use SOURCE or SOURCE:WEIGHT with a weight > 0 "
                             f"(SOURCE: 'procedural' or a folder).")
        mix[source] = mix.get(source, 0.0) + value
    if not mix:
        raise ValueError(f"{text!r} names no source; use e.g. 'procedural' or "
                         f"'procedural:1,path/to/folder:2'.")
    return mix
