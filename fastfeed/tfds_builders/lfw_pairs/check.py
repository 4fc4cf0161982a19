"""Checks a built `lfw_pairs` dataset against the protocol files it came from
(`fastfeed build lfw_pairs` runs :func:`report`)."""

from __future__ import annotations

import collections
import dataclasses
import os

import tensorflow as tf
import tensorflow_datasets as tfds

from fastfeed import lfw


@dataclasses.dataclass
class SplitReport:
    split: str
    pairs: int
    same: int
    people: int
    images_decoded: int
    bad_shapes: int
    mismatches: str = ""  # empty when the split matches its protocol file

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.bad_shapes


def _key(person1, index1, person2, index2, label):
    return (person1, int(index1), person2, int(index2), int(label))


def check_split(builder: tfds.core.DatasetBuilder, split: str,
                expected: list[lfw.Pair] | None = None,
                batch_size: int = 256) -> SplitReport:
    """Decodes every image of ``split`` and compares its pairs with ``expected``.

    Pairs are compared as multisets of (person1, index1, person2, index2, label).
    """
    dataset = builder.as_dataset(split=split, shuffle_files=False).batch(batch_size)
    found = collections.Counter()
    bad_shapes = decoded = 0
    for batch in dataset.prefetch(2).as_numpy_iterator():
        for name in ("image1", "image2"):
            shape = batch[name].shape[1:]
            decoded += len(batch[name])
            if shape != builder.info.features[name].shape:
                bad_shapes += len(batch[name])
        for person1, index1, person2, index2, label in zip(
                batch["person1"], batch["index1"], batch["person2"], batch["index2"],
                batch["label"]):
            found[_key(person1.decode(), index1, person2.decode(), index2, label)] += 1
    report = SplitReport(
        split=split, pairs=sum(found.values()),
        same=sum(n for key, n in found.items() if key[4] == 1),
        people=len({p for key in found for p in (key[0], key[2])}),
        images_decoded=decoded, bad_shapes=bad_shapes)
    if expected is not None:
        wanted = collections.Counter(
            _key(p.person1, p.index1, p.person2, p.index2, p.same) for p in expected)
        extra, missing = found - wanted, wanted - found
        if extra or missing:
            report.mismatches = (f"{sum(missing.values())} protocol pair(s) missing, e.g. "
                                 f"{list(missing)[:2]}; {sum(extra.values())} unexpected, "
                                 f"e.g. {list(extra)[:2]}")
    return report


def check_builder(builder, protocol_paths=None) -> list[SplitReport]:
    """Reports on every split; compares with the protocol files when given their paths."""
    expected = lfw.load_protocol(protocol_paths) if protocol_paths else {}
    tf.get_logger().setLevel("ERROR")
    return [check_split(builder, split, expected.get(split))
            for split in builder.info.splits]


def report(builder, manual_dir: str | None) -> tuple[list[str], bool]:
    """``fastfeed build``'s check: a line per split (pairs, same-person pairs, people,
    images decoded, verdict), compared with the protocol files in ``manual_dir`` when
    given; and whether every split is right."""
    protocol_paths = None
    if manual_dir:
        protocol_paths = {n: os.path.join(manual_dir, n) for n in lfw.PROTOCOL_FILES}
    reports = check_builder(builder, protocol_paths)
    lines = [f"{'split':<8} {'pairs':>6} {'same':>6} {'people':>7} {'images':>7}  check"]
    for r in reports:
        verdict = "ok" if r.ok else (r.mismatches or f"{r.bad_shapes} bad image shapes")
        if r.ok and protocol_paths is None:
            verdict = "ok (decoded; no protocol files given to compare)"
        lines.append(f"{r.split:<8} {r.pairs:>6} {r.same:>6} {r.people:>7} "
                     f"{r.images_decoded:>7}  {verdict}")
    lines.append(f"checked {sum(r.pairs for r in reports)} pairs "
                 f"({sum(r.images_decoded for r in reports)} images decoded)")
    return lines, all(r.ok for r in reports)
