"""What a stream's ``augment=`` may be, turned into one ``fn(index, example) -> example``."""

from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

from fastfeed.compose.augment.pipeline import Pipeline
from fastfeed.compose.augment.registry import listing


def is_albumentations(value) -> bool:
    """Whether ``augment=`` names an albumentations transform (object, dict, file)."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value).lower().endswith((".json", ".yaml", ".yml"))
    return (isinstance(value, Mapping)
            or type(value).__module__.split(".")[0] == "albumentations")


def resolve(augment, *, seed: int = 0, image_keys: Sequence[str] = ("image",),
            mask_keys: Sequence[str] = ("mask",), independent: bool = False
            ) -> Callable | None:
    """``augment=`` as ``fn(index, example) -> example``, the one signature of user
    functions:

    - None (stays None);
    - a spec string of registry ops: a :class:`Pipeline`;
    - ``fn(index, example) -> example`` itself, returned as it is (``index``: the
      example's or the batch's number, for seeding);
    - an albumentations transform: the object, its ``A.to_dict`` dict, or the path of
      its JSON/YAML file (``albu.albumentations_map``; with ``independent``, one pass
      per image key, each with its own seeds).
    """
    if augment is None:
        return None
    if is_albumentations(augment):
        # Imported here only because albumentations is slow to import; albu imports
        # nothing of this package.
        from fastfeed.compose import albu  # pylint: disable=import-outside-toplevel

        def targets(keys, masks=True):
            return {**{k: "image" for k in keys},
                    **{k: "mask" for k in mask_keys if masks}}
        if not independent:
            return albu.albumentations_map(augment, targets=targets(image_keys), seed=seed)
        passes = [albu.albumentations_map(augment, targets=targets([key], number == 0),
                                          seed=(seed, number))  # masks follow the first
                  for number, key in enumerate(image_keys)]

        def chained(index, example):
            for one_pass in passes:
                example = one_pass(index, example)
            return example
        return chained
    if isinstance(augment, str):
        return Pipeline(augment, seed=seed, image_keys=image_keys, mask_keys=mask_keys,
                        independent=independent)
    if callable(augment):
        return augment
    raise ValueError(f"augment must be None, a spec string (ops: {listing()}), "
                     f"fn(index, example) or an albumentations transform, not "
                     f"{augment!r}.")
