"""A built `lfw_pairs` TFDS dataset read back: its people, and its images written
once as an LFW folder (TFDS is imported only when these run)."""

from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

from fastfeed import files
from fastfeed.lfw.layout import DEFAULT_CONFIG
from fastfeed.lfw.protocol import Pair

logger = logging.getLogger(__name__)


def require_built(name: str = f"lfw_pairs/{DEFAULT_CONFIG}", data_dir: str | None = None):
    """The TFDS builder of ``name`` (``lfw_pairs/<config>``), built; FileNotFoundError
    with the command that builds it otherwise."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir or None)
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"{name} is not built in {builder.data_dir}; run `fastfeed build lfw_pairs "
            f"--config {name.split('/')[-1]} --manual-dir DIR` first (or pass "
            f"--data-dir).")
    return builder


def export_images(name: str = f"lfw_pairs/{DEFAULT_CONFIG}", data_dir: str | None = None
                  ) -> tuple[str, dict[str, list[Pair]]]:
    """``(images folder, protocol splits)`` from a built `lfw_pairs` dataset: its pairs,
    and the JPEGs they use written once to a folder in the LFW layout (in this user's
    private cache, reused)."""
    import tensorflow_datasets as tfds

    builder = require_built(name, data_dir)
    folder = os.path.join(files.private_cache(
        "lfw", "built-" + name.replace("/", "-") + f"-{builder.version}"), "images")
    splits, write = {}, not files.is_complete(folder)
    skip = {"image1": tfds.decode.SkipDecoding(), "image2": tfds.decode.SkipDecoding()}
    for split in builder.info.splits:
        pairs = []
        for number, example in enumerate(builder.as_dataset(
                split=split, decoders=skip).as_numpy_iterator()):
            pair = Pair(example["person1"].decode(), int(example["index1"]),
                        example["person2"].decode(), int(example["index2"]),
                        number + 1, f"{name}:{split}")
            pairs.append(pair)
            for file, data in zip(pair.files, (example["image1"], example["image2"])):
                path = os.path.join(folder, file)
                if write and not os.path.exists(path):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
        splits[split] = pairs
    if write:
        files.mark_complete(folder)
    logger.info("LFW from the built dataset %s: only the images its pairs use (%s)",
                name, folder)
    return folder, splits


def people_in_lfw_pairs(splits: Sequence[str], name: str = f"lfw_pairs/{DEFAULT_CONFIG}",
                        **load_kwargs) -> set[str]:
    """People in the given splits of a built `lfw_pairs` dataset (e.g. ``fold1``..
    ``fold10``); both configs hold the same people."""
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

    people = set()
    for split in splits:
        dataset = tfds.load(name, split=split, **load_kwargs).map(
            lambda e: (e["person1"], e["person2"]))
        for person1, person2 in dataset.batch(1024).as_numpy_iterator():
            people.update(p.decode() for p in np.concatenate([person1, person2]))
    return people
