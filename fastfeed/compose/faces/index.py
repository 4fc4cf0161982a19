"""Who is in the data: :class:`PeopleIndex`, the people and their images as flat index
tables, and the check that a stream can draw from them."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class PeopleIndex:
    """People laid out as index tables: person p owns images offsets[p]..+counts[p]."""

    names: tuple[str, ...]
    paths: tuple[str, ...]
    offsets: np.ndarray  # int32 [P]
    counts: np.ndarray  # int32 [P]

    @classmethod
    def build(cls, people: Mapping[str, Sequence[str]], exclude: Iterable[str] = ()):
        exclude = set(exclude)
        names = tuple(sorted(p for p, images in people.items()
                             if p not in exclude and len(images) > 0))
        counts = np.array([len(people[p]) for p in names], np.int32)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        paths = tuple(path for p in names for path in sorted(people[p]))
        return cls(names, paths, offsets, counts)

    def without_images(self, bad: set[int]) -> "PeopleIndex":
        people = {}
        for p, name in enumerate(self.names):
            start = int(self.offsets[p])
            kept = [self.paths[i] for i in range(start, start + int(self.counts[p]))
                    if i not in bad]
            people[name] = kept
        return PeopleIndex.build(people)

    def subset(self, exclude: Iterable[str]) -> "PeopleIndex":
        """The same images (rows keep their numbers) with the people of ``exclude``
        left out: what a stream samples from when the table holds everyone."""
        exclude = set(exclude)
        keep = np.array([p for p, name in enumerate(self.names) if name not in exclude],
                        np.int64)
        return PeopleIndex(tuple(self.names[p] for p in keep), self.paths,
                           self.offsets[keep], self.counts[keep])


def check_people(index: PeopleIndex, positive_fraction: float) -> None:
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction={positive_fraction} must be in [0, 1].")
    if len(index.names) < 2:
        raise ValueError(
            f"A pair stream needs at least two people with images after `exclude`; got "
            f"{len(index.names)} ({', '.join(index.names) or 'none'}).")
    if positive_fraction > 0 and not (index.counts >= 2).any():
        raise ValueError(
            "No person has two or more images, so no same-person pair can be drawn; add "
            "images or set positive_fraction=0.")
