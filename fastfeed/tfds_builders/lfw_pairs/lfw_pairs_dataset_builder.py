"""`lfw_pairs`: Labeled Faces in the Wild verification pairs, official lfw."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from fastfeed import files, lfw
from fastfeed.tfds_builders import info

logger = logging.getLogger(__name__)

IMAGE_SHAPE = (250, 250, 3)
LABEL_NAMES = ["different", "same"]

# The figshare mirror that TFDS' `lfw` and scikit-learn's `fetch_lfw_pairs` use. It holds
# lfw.tgz and the protocol files; the deep-funneled archive is published only on the
# UMass site (no checksum registered: the site's copy could not be fetched to record one).
_FIGSHARE = "https://ndownloader.figshare.com/files/"
URLS = {
    "lfw.tgz": _FIGSHARE + "5976018",
    "lfw-deepfunneled.tgz": "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz",
    lfw.VIEW1_TRAIN_FILE: _FIGSHARE + "5976012",
    lfw.VIEW1_TEST_FILE: _FIGSHARE + "5976009",
    lfw.VIEW2_FILE: _FIGSHARE + "5976006",
}


REACH_TIMEOUT_S = 10.0  # each mirror must answer within this, before TFDS' retries


def reachable(urls: list[str], timeout_s: float = REACH_TIMEOUT_S) -> None:
    """ConnectionError, within ``timeout_s`` a host, unless every host of ``urls``
    accepts a connection: without a network TFDS' downloader retries for minutes."""
    import socket
    import urllib.parse

    for url in urls:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
        except OSError as error:
            raise ConnectionError(
                f"lfw_pairs: cannot reach {parts.hostname}:{port} to download LFW "
                f"({error}). Without a network, put the archive and the protocol "
                f"files in a folder and pass it as --manual-dir (docs/data.md).") from None


@dataclasses.dataclass
class LfwPairsConfig(tfds.core.BuilderConfig):
    """Which LFW image set: the archive to read and the folder at its top."""

    archive: str = ""
    top_folder: str = ""


class Builder(tfds.core.GeneratorBasedBuilder):
    """LFW face verification pairs: View 1 train/test and the ten View 2 folds."""

    VERSION = tfds.core.Version("1.0.0")
    _named_manual_dir = None  # set by download_and_prepare: the manual_dir given
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    SOURCE = "the download mirrors"  # what it builds from without a manual_dir
    MANUAL_DIR = ("the archive (or extracted folder) and the pairs files, else "
                  "downloaded")
    BUILDER_CONFIGS = [
        LfwPairsConfig(
            name="original", archive=lfw.CONFIGS["original"][0],
            top_folder=lfw.CONFIGS["original"][1],
            description="The original LFW images (lfw.tgz)."),
        LfwPairsConfig(
            name="deepfunneled", archive=lfw.CONFIGS["deepfunneled"][0],
            top_folder=lfw.CONFIGS["deepfunneled"][1],
            description="Deep-funneled (aligned) images (lfw-deepfunneled.tgz)."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Optional: without a manual_dir, the files are downloaded. For an offline build, put in
    manual_dir (the folder given as DownloadConfig(manual_dir=...) or `tfds build
    --manual_dir`):
      * the images, either as the archive (`lfw.tgz` for config `original`,
        `lfw-deepfunneled.tgz` for `deepfunneled`) or extracted (the folder `lfw/` or
        `lfw-deepfunneled/`, holding `<Name>/<Name>_0001.jpg`), and
      * the protocol files `pairsDevTrain.txt`, `pairsDevTest.txt` and `pairs.txt`.
    All come from http://vis-www.cs.umass.edu/lfw/ (lfw.tgz and the protocol files also
    from the figshare mirror used by scikit-learn).
    """

    def _info(self) -> tfds.core.DatasetInfo:
        image = tfds.features.Image(shape=IMAGE_SHAPE, encoding_format="jpeg")
        return info.local(self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image1": image,
                "image2": image,
                "label": tfds.features.ClassLabel(names=LABEL_NAMES),
                "person1": tfds.features.Text(),
                "person2": tfds.features.Text(),
                "index1": np.int32,
                "index2": np.int32,
            }),
            supervised_keys=({"image1": "image1", "image2": "image2"}, "label"),
            homepage="http://vis-www.cs.umass.edu/lfw/",
        ))

    def download_and_prepare(self, *args, download_config=None, **kwargs):
        # The manual_dir the user named, if any: the download manager only says whether
        # its own (the user's, or <download_dir>/manual) exists and holds something.
        self._named_manual_dir = download_config.manual_dir if download_config else None
        return super().download_and_prepare(*args, download_config=download_config,
                                            **kwargs)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        images_path, protocol_paths = self._locate_sources(dl_manager)
        splits = lfw.load_protocol(protocol_paths)
        # A folder is the tree itself; an archive holds it under its top folder.
        top = "" if epath.Path(images_path).is_dir() else self.builder_config.top_folder
        images = read_pair_images(files.open_tree(images_path, top=top), splits)
        return {split: self._generate_examples(pairs, images)
                for split, pairs in splits.items()}

    def _locate_sources(self, dl_manager) -> tuple[str, dict[str, str]]:
        """The image archive or folder and the protocol files: manual_dir, else download."""
        config = self.builder_config
        try:  # the folder, if it exists and holds something
            manual_dir = str(dl_manager.manual_dir)
        except AssertionError:
            manual_dir = None
        if manual_dir is None:
            # Absent or empty: "download" for TFDS' default folder; a folder the user
            # named must hold the files (a typo must not start a 180 MB download).
            named = self._named_manual_dir
            if named:
                state = "is empty" if epath.Path(named).is_dir() else "does not exist"
                raise FileNotFoundError(
                    f"lfw_pairs/{config.name}: manual_dir {str(named)!r} {state}. Put "
                    f"{config.archive} (or its extracted {config.top_folder}/) and "
                    f"{', '.join(lfw.PROTOCOL_FILES)} in it, or pass no manual_dir to "
                    f"download them.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
            logger.info("lfw_pairs: no manual_dir, downloading %s and the protocol files.",
                        config.archive)
            names = (config.archive,) + lfw.PROTOCOL_FILES
            reachable(sorted({URLS[name] for name in names}))
            paths = dl_manager.download({name: URLS[name] for name in names})
            return str(paths[config.archive]), {
                name: str(paths[name]) for name in lfw.PROTOCOL_FILES}
        try:
            _, images, protocol_paths = lfw.locate(manual_dir, config.name)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"lfw_pairs/{config.name}: manual_dir {error}\n"
                                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}") from None
        return images, protocol_paths

    def _generate_examples(self, pairs, images):
        for pair in pairs:
            file1, file2 = pair.files
            yield pair.line, {
                "image1": images[file1],
                "image2": images[file2],
                "label": int(pair.same),
                "person1": pair.person1,
                "person2": pair.person2,
                "index1": pair.index1,
                "index2": pair.index2,
            }


def read_pair_images(tree: files.FileTree,
                     splits: dict[str, list[lfw.Pair]]) -> dict[str, bytes]:
    """Reads and checks every image the pairs use; errors name the pair's file and line."""
    needed = lfw.needed_files(splits)
    images = tree.read_many(needed, missing_ok=True)
    missing = sorted(set(needed) - images.keys())
    if missing:
        shown = "\n".join(
            f"  {needed[path].where}: {path} is not in {tree.describe()}"
            for path in missing[:10])
        more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise lfw.ProtocolError(
            f"{len(missing)} image(s) named by the protocol files are missing:\n"
            f"{shown}{more}\nCheck that the archive/folder and the pairs files belong "
            f"together (same LFW release and config).")
    logger.info("lfw_pairs: checking %d images.", len(images))
    for path in sorted(images):
        check_jpeg(images[path], tree.describe(path))
    return images


def check_jpeg(data: bytes, where: str, shape=IMAGE_SHAPE) -> None:
    """Raises ValueError naming ``where`` unless ``data`` is a complete JPEG of ``shape``."""
    import tensorflow as tf  # imported here: `import fastfeed` stays light

    if not data.startswith(b"\xff\xd8"):
        raise ValueError(f"{where} is not a JPEG file (it starts with {data[:4]!r}).")
    try:
        decoded_shape = tuple(tf.io.decode_jpeg(data, channels=3).shape)
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as error:
        reason = error.message.strip().splitlines()[-1]
        raise ValueError(
            f"{where} is a corrupt or truncated JPEG ({reason}); replace it from a fresh "
            f"copy of the archive.") from None
    if decoded_shape != tuple(shape):
        raise ValueError(
            f"{where} decodes to {decoded_shape}, expected {tuple(shape)}: is it an LFW "
            f"image?")
