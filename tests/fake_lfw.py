"""A tiny fake LFW: a few people, 250x250 JPEG faces, and protocol files.

Used by the tests and to (re)generate the builder's committed dummy data:

    python tests/fake_lfw.py fastfeed/tfds_builders/lfw_pairs/dummy_data
"""

from __future__ import annotations

import io
import itertools
import os
import sys
import tarfile
import zlib

import cv2
import numpy as np

# person -> number of images. Dan and Frank have one image: never in a matched pair.
PEOPLE = {"Alice_Archer": 4, "Bob_Baker": 4, "Carol_Cruz": 3, "Dan_Diaz": 1,
          "Eve_Evans": 2, "Frank_Fox": 1, "Gina_Gold": 2}
# Pairs per class: View 1 train, View 1 test, and per View 2 fold.
TRAIN_PER_CLASS, TEST_PER_CLASS, FOLD_PER_CLASS, NUM_FOLDS = 2, 1, 1, 10
SPLIT_SIZES = {"train": 2 * TRAIN_PER_CLASS, "test": 2 * TEST_PER_CLASS,
               **{f"fold{k}": 2 * FOLD_PER_CLASS for k in range(1, NUM_FOLDS + 1)}}


def face_jpeg(person: str, index: int, size: int = 250) -> bytes:
    """A distinct, deterministic face-like JPEG for (person, index)."""
    rng = np.random.default_rng(zlib.crc32(f"{person}/{index}".encode()))
    image = np.empty((size, size, 3), np.uint8)
    image[:] = rng.integers(0, 256, 3, dtype=np.uint8)
    center = tuple(int(c) for c in rng.integers(size // 3, 2 * size // 3, 2))
    axes = (int(rng.integers(40, 70)), int(rng.integers(60, 95)))
    cv2.ellipse(image, center, axes, 0, 0, 360, tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    for dx in (-20, 20):
        cv2.circle(image, (center[0] + dx, center[1] - 15), 6, (20, 20, 20), -1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return encoded.tobytes()


def protocol_lines() -> dict[str, list[str]]:
    """Protocol file name -> lines; every pair distinct across all files."""
    matched = [f"{p}\t{i}\t{j}" for p, n in PEOPLE.items()
               for i, j in itertools.combinations(range(1, n + 1), 2)]
    mismatched = [f"{p1}\t{i}\t{p2}\t{j}"
                  for (p1, n1), (p2, n2) in itertools.combinations(PEOPLE.items(), 2)
                  for i in range(1, n1 + 1) for j in range(1, n2 + 1)]
    matched, mismatched = iter(matched), iter(mismatched)

    def take(iterator, n):
        return [next(iterator) for _ in range(n)]

    files = {
        "pairsDevTrain.txt": [str(TRAIN_PER_CLASS)] + take(matched, TRAIN_PER_CLASS)
        + take(mismatched, TRAIN_PER_CLASS),
        "pairsDevTest.txt": [str(TEST_PER_CLASS)] + take(matched, TEST_PER_CLASS)
        + take(mismatched, TEST_PER_CLASS),
    }
    folds = [f"{NUM_FOLDS}\t{FOLD_PER_CLASS}"]
    for _ in range(NUM_FOLDS):
        folds += take(matched, FOLD_PER_CLASS) + take(mismatched, FOLD_PER_CLASS)
    files["pairs.txt"] = folds
    return files


def image_files(people=PEOPLE) -> dict[str, bytes]:
    return {f"{p}/{p}_{i:04d}.jpg": face_jpeg(p, i)
            for p, n in people.items() for i in range(1, n + 1)}


def write_protocol(directory: str, files=None) -> None:
    for name, lines in (files or protocol_lines()).items():
        with open(os.path.join(directory, name), "w") as f:
            f.write("\n".join(lines) + "\n")


def write_folder(directory: str, top: str, images=None) -> str:
    for relative, data in (images or image_files()).items():
        path = os.path.join(directory, top, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return os.path.join(directory, top)


def write_archive(path: str, top: str, images=None, extra_members=()) -> str:
    """A .tgz with ``top/<Name>/<Name>_0001.jpg`` members (sorted, fixed mtime)."""
    with tarfile.open(path, "w:gz") as archive:
        def add(name, data=b"", kind=tarfile.REGTYPE, linkname=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mtime = kind, linkname, 0
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        for relative, data in sorted((images or image_files()).items()):
            add(f"{top}/{relative}", data)
        for member in extra_members:
            add(*member)
    return path


def write_dummy_data(directory: str) -> None:
    """The builder's dummy_data: `lfw/` extracted, `lfw-deepfunneled.tgz` archived."""
    os.makedirs(directory, exist_ok=True)
    write_protocol(directory)
    write_folder(directory, "lfw")
    write_archive(os.path.join(directory, "lfw-deepfunneled.tgz"), "lfw-deepfunneled")


if __name__ == "__main__":
    write_dummy_data(sys.argv[1])
