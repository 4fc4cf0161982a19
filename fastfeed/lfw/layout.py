"""Where LFW's images are: its two configs' archives and folders, a folder's people
and images, and one :func:`locate` for a folder holding the images and the protocol
files."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile

from fastfeed import files, images
from fastfeed.lfw.protocol import PROTOCOL_FILES

logger = logging.getLogger(__name__)

# The config built, previewed and read by default everywhere (`fastfeed build`,
# `fastfeed preview`, `people_in_lfw_pairs`), and TFDS' default (the first config):
# `original` is the one that downloads with a registered checksum.
DEFAULT_CONFIG = "original"
CONFIGS = {"original": ("lfw.tgz", "lfw"),  # name: (archive, its top folder)
           "deepfunneled": ("lfw-deepfunneled.tgz", "lfw-deepfunneled")}


def people_from_dir(root: str | os.PathLike, *, extract_dir: str | None = None
                    ) -> dict[str, list[str]]:
    """``{person: [image paths]}`` from an LFW-style tree ``root/<Name>/<image>``.

    People and paths are sorted. ``root`` may also be a tar archive (``lfw.tgz``) whose
    single top folder holds the tree: it is extracted once, with the standard library's
    ``data`` filter (no member or link may lead outside the folder), to ``extract_dir``
    (default: a folder of this user's private cache named after the archive, reused;
    see :func:`extract_archive`).
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


def _official_sha256() -> dict[int, str]:
    """The official archives' SHA-256 by size, from the lfw_pairs builder's download
    list (its checksums.tsv: URL, size, SHA-256, file name)."""
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tfds_builders",
                        "lfw_pairs", "checksums.tsv")
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return {int(size): digest for _, size, digest, name in rows if name.endswith(".tgz")}


# An archive of an official release's size whose bytes differ is a damaged copy.
OFFICIAL_SHA256 = _official_sha256()


def check_official(archive: str) -> None:
    """ValueError when ``archive`` has an official release's size but not its bytes."""
    size = os.path.getsize(archive)
    if size in OFFICIAL_SHA256:
        digest = hashlib.sha256()
        with open(archive, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != OFFICIAL_SHA256[size]:
            raise ValueError(f"Archive {archive!r} is damaged: it has the official "
                             f"release's size but not its SHA-256 "
                             f"({digest.hexdigest()[:12]}... against "
                             f"{OFFICIAL_SHA256[size][:12]}...); download it again.")


def extract_archive(archive: str, extract_dir: str | None = None) -> str:
    """Extracts ``archive`` once and returns its single top folder (or the extraction
    folder when it has several). By default the extraction lives in this user's private
    cache (:func:`fastfeed.files.private_cache`), named after the archive's size and
    time; it is made in a fresh temporary folder there, verified (read to its end, the
    official release's checksum where its size is one), and only then renamed into
    place and marked complete. Older extractions of the same archive name are removed."""
    info = os.stat(archive)
    stem = os.path.basename(archive).split(".")[0]
    if extract_dir is None:
        cache = files.private_cache("lfw")
        extract_dir = os.path.join(cache, f"{stem}-{info.st_size}-{info.st_mtime_ns}")
    if not files.is_complete(extract_dir):
        logger.info("Extracting %s to %s", archive, extract_dir)
        check_official(archive)
        parent = os.path.dirname(os.path.abspath(extract_dir))
        os.makedirs(parent, exist_ok=True)
        temporary = tempfile.mkdtemp(prefix=f".{stem}-", dir=parent)
        try:
            files.extract_archive(archive, temporary)
            files.mark_complete(temporary)
            if os.path.lexists(extract_dir):  # an unfinished one, never marked
                shutil.rmtree(extract_dir)
            os.rename(temporary, extract_dir)
        finally:
            if os.path.isdir(temporary):
                shutil.rmtree(temporary)
        for name in os.listdir(parent):  # the same archive's older extractions
            old = os.path.join(parent, name)
            if (name.startswith(f"{stem}-") and old != extract_dir
                    and name.count("-") == stem.count("-") + 2):
                shutil.rmtree(old, ignore_errors=True)
    tops = [d for d in os.listdir(extract_dir) if os.path.isdir(os.path.join(extract_dir, d))]
    return os.path.join(extract_dir, tops[0]) if len(tops) == 1 else extract_dir


def find_images(folder: str, config: str) -> str | None:
    """The images of LFW config ``config`` in ``folder``: its extracted top folder, else
    its archive; None when neither is there."""
    archive, top = CONFIGS[config]
    return next((os.path.join(folder, name) for name in (top, archive)
                 if os.path.exists(os.path.join(folder, name))), None)


def detect_config(folder: str) -> str:
    """The LFW config whose images ``folder`` holds (:data:`DEFAULT_CONFIG` when it
    holds both, or neither, or is not a folder)."""
    return next((name for name in (DEFAULT_CONFIG, *CONFIGS)
                 if os.path.isdir(folder) and find_images(folder, name)), DEFAULT_CONFIG)


def locate(folder: str, config: str = "") -> tuple[str, str, dict[str, str]]:
    """``(config, images folder or archive, {protocol file: path})`` of an LFW folder:
    the images of ``config`` ("": of the config whose images are there, the default
    when both are) and the protocol files; FileNotFoundError naming what is missing."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder!r} is not a folder.")
    config = config or detect_config(folder)
    images = find_images(folder, config)
    archive, top = CONFIGS[config]
    missing = [f"{archive} (or the extracted folder {top}/)"] if images is None else []
    missing += [name for name in PROTOCOL_FILES
                if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise FileNotFoundError(
            f"{folder!r} lacks {', '.join(missing)}; it must hold the {config} images "
            f"and the protocol files {', '.join(PROTOCOL_FILES)}.")
    return config, images, {name: os.path.join(folder, name) for name in PROTOCOL_FILES}
