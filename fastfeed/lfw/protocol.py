"""The LFW protocol files: pairs files (View 1's two, View 2's ten folds), people
files, and what they name. The format is in :mod:`fastfeed.lfw`'s docstring."""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Sequence

from fastfeed import files


VIEW1_TRAIN_FILE = "pairsDevTrain.txt"
VIEW1_TEST_FILE = "pairsDevTest.txt"
VIEW2_FILE = "pairs.txt"
PROTOCOL_FILES = (VIEW1_TRAIN_FILE, VIEW1_TEST_FILE, VIEW2_FILE)
NUM_FOLDS = 10


class ProtocolError(ValueError):
    """A protocol file that does not follow the LFW format, with its file and line."""


@dataclasses.dataclass(frozen=True)
class Pair:
    """One line of a protocol file."""

    person1: str
    index1: int
    person2: str
    index2: int
    line: int  # 1-based line number in its file
    source: str = dataclasses.field(default="", compare=False)  # the file's path

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def same(self) -> bool:
        return self.person1 == self.person2

    @property
    def files(self) -> tuple[str, str]:
        return image_path(self.person1, self.index1), image_path(self.person2, self.index2)


def image_path(person: str, index: int) -> str:
    """``('AJ_Cook', 1)`` -> ``'AJ_Cook/AJ_Cook_0001.jpg'``, the LFW file layout."""
    return f"{person}/{person}_{index:04d}.jpg"


def _header(first_line: str, source: str) -> tuple[int, int]:
    fields = first_line.split()
    try:
        numbers = [int(field) for field in fields]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers = [1] + numbers
    if len(numbers) != 2 or min(numbers) < 1:
        raise ProtocolError(
            f"{source}:1: header {first_line!r} must be 'N' (pairsDevTrain/Test: N matched "
            f"then N mismatched pairs) or 'FOLDS<TAB>N' (pairs.txt).")
    return numbers[0], numbers[1]


def _index(field: str, source: str, line_number: int, line: str) -> int:
    try:
        index = int(field)
    except ValueError:
        index = 0
    if index < 1:
        raise ProtocolError(
            f"{source}:{line_number}: image index {field!r} is not a positive integer "
            f"in {line!r}.")
    return index


def _person(field: str, source: str, line_number: int) -> str:
    try:
        return files.check_component(field, "person name")
    except files.UnsafePathError as error:
        raise ProtocolError(f"{source}:{line_number}: {error}") from None


def parse_pair_line(line: str, source: str, line_number: int) -> Pair:
    fields = line.split()
    if len(fields) == 3:
        person, i, j = fields
        person = _person(person, source, line_number)
        pair = Pair(person, _index(i, source, line_number, line),
                    person, _index(j, source, line_number, line), line_number, source)
        if pair.index1 == pair.index2:
            raise ProtocolError(
                f"{source}:{line_number}: matched pair {line!r} pairs an image with itself.")
        return pair
    if len(fields) == 4:
        person1, i, person2, j = fields
        pair = Pair(_person(person1, source, line_number),
                    _index(i, source, line_number, line),
                    _person(person2, source, line_number),
                    _index(j, source, line_number, line), line_number, source)
        if pair.same:
            raise ProtocolError(
                f"{source}:{line_number}: mismatched pair {line!r} names the same person "
                f"twice; a matched pair has 3 fields.")
        return pair
    raise ProtocolError(
        f"{source}:{line_number}: expected 3 fields (name, i, j) or 4 (name1, i, name2, j), "
        f"got {len(fields)} in {line!r}.")


def parse_pairs_text(text: str, source: str) -> list[list[Pair]]:
    """Parses a protocol file's text into folds of pairs (View 1 files: one fold)."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ProtocolError(f"{source}: file is empty.")
    num_folds, per_class = _header(lines[0], source)
    expected = num_folds * 2 * per_class
    body = lines[1:]
    if len(body) != expected:
        raise ProtocolError(
            f"{source}: header {lines[0]!r} announces {num_folds} fold(s) of {per_class} "
            f"matched + {per_class} mismatched pairs, {expected} lines, but the file has "
            f"{len(body)} pair lines.")
    pairs = [parse_pair_line(line, source, number)
             for number, line in enumerate(body, start=2)]
    fold_size = 2 * per_class
    return [pairs[k * fold_size:(k + 1) * fold_size] for k in range(num_folds)]


def parse_pairs_file(path: str | os.PathLike) -> list[list[Pair]]:
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        return parse_pairs_text(f.read(), path)


def load_protocol(paths: dict[str, str]) -> dict[str, list[Pair]]:
    """Reads the three protocol files into the `lfw_pairs` splits.

    Args:
      paths: file name (``pairsDevTrain.txt``, ``pairsDevTest.txt``, ``pairs.txt``) ->
        its path.

    Returns:
      ``{'train': [...2200 pairs], 'test': [...1000], 'fold1': [...600], ...,
      'fold10': [...]}`` for the official files.
    """
    splits = {}
    for split, name in (("train", VIEW1_TRAIN_FILE), ("test", VIEW1_TEST_FILE)):
        folds = parse_pairs_file(paths[name])
        if len(folds) != 1:
            raise ProtocolError(
                f"{paths[name]}: a View 1 file has a one-number header, not {len(folds)} "
                f"folds; is it {VIEW2_FILE}?")
        splits[split] = folds[0]
    folds = parse_pairs_file(paths[VIEW2_FILE])
    if len(folds) != NUM_FOLDS:
        raise ProtocolError(
            f"{paths[VIEW2_FILE]}: expected {NUM_FOLDS} folds in the header, got "
            f"{len(folds)}.")
    for k, fold in enumerate(folds, start=1):
        splits[f"fold{k}"] = fold
    return splits


def people_in(pairs: Iterable[Pair]) -> set[str]:
    """Every person named by the given pairs."""
    return {person for pair in pairs for person in (pair.person1, pair.person2)}


def needed_files(splits: dict[str, Sequence[Pair]]) -> dict[str, Pair]:
    """Image path -> the first pair that uses it (its `where` names file and line)."""
    needed: dict[str, Pair] = {}
    for pairs in splits.values():
        for pair in pairs:
            for path in pair.files:
                needed.setdefault(path, pair)
    return needed


def people_in_protocol_files(paths: Iterable[str | os.PathLike]) -> set[str]:
    """People named by LFW protocol files (``pairs.txt``...), to pass as ``exclude``."""
    return {person for path in paths for fold in parse_pairs_file(path)
            for person in people_in(fold)}


VIEW1_TEST_PEOPLE_FILE = "peopleDevTest.txt"
VIEW2_PEOPLE_FILE = "people.txt"


def parse_people_file(path: str | os.PathLike) -> list[set[str]]:
    """Folds of people from ``peopleDevTrain.txt``/``peopleDevTest.txt`` (one fold: a
    count, then ``name<TAB>images`` lines) or ``people.txt`` (a fold count, then per fold
    a count and its lines)."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        lines = [(number, line.strip()) for number, line in enumerate(f, start=1)
                 if line.strip()]
    if not lines:
        raise ProtocolError(f"{path}: empty people file.")
    position = 0

    def count() -> int:
        nonlocal position
        number, line = lines[position]
        position += 1
        if not line.isdigit():
            raise ProtocolError(f"{path}:{number}: expected a count, got {line!r}.")
        return int(line)

    first = count()
    nested = position < len(lines) and lines[position][1].isdigit()
    folds = []
    for _ in range(first if nested else 1):
        size = count() if nested else first
        if position + size > len(lines):
            raise ProtocolError(f"{path}: a fold announces {size} people but the file "
                                f"ends after {len(lines) - position}.")
        folds.append({line.split()[0] for _, line in lines[position:position + size]})
        position += size
    return folds
