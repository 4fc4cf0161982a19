"""Everything fastfeed knows about LFW: its file layout, the verification protocol files,
and the people in a tree or archive. The `lfw_pairs` builder, the CLI and the
benchmarks read LFW through this module, and the pair stream is fed from
:func:`people_from_dir`; it imports neither TensorFlow nor TFDS at import time.

    people = people_from_dir('../shared/data/lfw/lfw-deepfunneled.tgz')  # or a folder
    test_people = people_in_protocol_files(['../shared/data/lfw/pairs.txt'])

Protocol file format (http://vis-www.cs.umass.edu/lfw/README.txt): a header, then one
pair a line, tab-separated, with 1-based image indices that map to ``<Name>/<Name>_%04d.jpg``:

    Name<TAB>i<TAB>j                 matched pair (same person)
    Name1<TAB>i<TAB>Name2<TAB>j      mismatched pair (different people)

``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1) start with ``N`` and hold N matched
then N mismatched pairs. ``pairs.txt`` (View 2) starts with ``F<TAB>N`` and holds F folds,
each N matched then N mismatched pairs, in file order.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from typing import Iterable, Sequence

import numpy as np

from fastfeed import files, images

logger = logging.getLogger(__name__)

# The config built, previewed and read by default everywhere (`fastfeed build`,
# `fastfeed preview`, `people_in_lfw_pairs`), and TFDS' default (the first config):
# `original` is the one that downloads with a registered checksum.
DEFAULT_CONFIG = "original"
CONFIGS = {"original": ("lfw.tgz", "lfw"),  # name: (archive, its top folder)
           "deepfunneled": ("lfw-deepfunneled.tgz", "lfw-deepfunneled")}

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


# --------------------------------------------------------------------------- people
def people_from_dir(root: str | os.PathLike, *, extract_dir: str | None = None
                    ) -> dict[str, list[str]]:
    """``{person: [image paths]}`` from an LFW-style tree ``root/<Name>/<image>``.

    People and paths are sorted. ``root`` may also be a tar archive (``lfw.tgz``) whose
    single top folder holds the tree: it is extracted once, with the standard library's
    ``data`` filter (no member or link may lead outside the folder), to ``extract_dir``
    (default: a folder in the system temp dir named after the archive, reused).
    """
    root = os.fspath(root)
    if os.path.isfile(root):
        root = extract_archive(root, extract_dir)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root!r} is neither a folder nor an archive.")
    people = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        photos = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                        if f.lower().endswith(images.SUFFIXES))
        if photos:
            people[name] = photos
    if not people:
        raise ValueError(
            f"No person folders with images in {root!r}: expected <root>/<Name>/<Name>_0001"
            f".jpg (the LFW layout).")
    return people


def extract_archive(archive: str, extract_dir: str | None = None) -> str:
    """Extracts ``archive`` once (a ``.complete`` marker records it) and returns its
    single top folder (or ``extract_dir`` when it has several)."""
    stat = os.stat(archive)
    if extract_dir is None:
        stem = os.path.basename(archive).split(".")[0]
        extract_dir = os.path.join(tempfile.gettempdir(),
                                   f"fastfeed-{stem}-{stat.st_size}-{int(stat.st_mtime)}")
    done = os.path.join(extract_dir, ".complete")
    if not os.path.exists(done):
        logger.info("Extracting %s to %s", archive, extract_dir)
        os.makedirs(extract_dir, exist_ok=True)
        files.extract_archive(archive, extract_dir)
        open(done, "w").close()
    tops = [d for d in os.listdir(extract_dir) if os.path.isdir(os.path.join(extract_dir, d))]
    return os.path.join(extract_dir, tops[0]) if len(tops) == 1 else extract_dir


def people_in_protocol_files(paths: Iterable[str | os.PathLike]) -> set[str]:
    """People named by LFW protocol files (``pairs.txt``...), to pass as ``exclude``."""
    return {person for path in paths for fold in parse_pairs_file(path)
            for person in people_in(fold)}


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


# ------------------------------------------------------------------- people files
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


# --------------------------------------------------------------- protocol metrics
def best_threshold(scores, labels) -> float:
    """The threshold on ``scores`` (same person when ``score > threshold``) with the
    highest accuracy on these labelled pairs: midpoints between sorted scores, ties
    going to the lowest such midpoint."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2,
                                 [values[-1] + 1.0]])
    # correct(t) = positives above t + negatives at or below t, for all t at once.
    order = np.sort(scores[labels])
    negatives = np.sort(scores[~labels])
    above = len(order) - np.searchsorted(order, candidates, side="right")
    below = np.searchsorted(negatives, candidates, side="right")
    return float(candidates[int(np.argmax(above + below))])


def accuracy(scores, labels, threshold: float) -> float:
    """Share of pairs whose ``score > threshold`` equals their label."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    return float(np.mean((scores > threshold) == labels))


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve: the probability that a random same-person pair scores
    above a random different-person pair (ties count half)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    positive, negative = scores[labels], scores[~labels]
    if not len(positive) or not len(negative):
        raise ValueError("ROC AUC needs both same-person and different-person pairs.")
    ordered = np.sort(negative)
    below = np.searchsorted(ordered, positive, side="left")
    ties = np.searchsorted(ordered, positive, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(positive) * len(negative)))


def standard_error(values) -> float:
    """``std / sqrt(n)`` with the sample standard deviation, as LFW's results page
    reports View 2 (``n`` = 10 folds)."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(len(values)))
