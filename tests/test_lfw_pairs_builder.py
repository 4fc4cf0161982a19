"""The `lfw_pairs` builder on the committed dummy data, for both configs."""

import json
import os
import subprocess
import sys
from unittest import mock

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import fake_lfw
import fastfeed  # noqa: F401  (registers lfw_pairs)
from fastfeed import lfw as protocol
from fastfeed.tfds_builders.lfw_pairs import lfw_pairs_dataset_builder

DUMMY_DATA = os.path.join(os.path.dirname(lfw_pairs_dataset_builder.__file__), "dummy_data")


@pytest.mark.slow
class LfwPairsTest(tfds.testing.DatasetBuilderTestCase):
    """TFDS' standard builder test: `original` reads the extracted folder `lfw/`,
    `deepfunneled` the archive `lfw-deepfunneled.tgz`, both from dummy_data/."""

    DATASET_CLASS = lfw_pairs_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["original", "deepfunneled"]
    SPLITS = fake_lfw.SPLIT_SIZES


def _config(manual_dir):
    return tfds.download.DownloadConfig(manual_dir=str(manual_dir))


def test_import_registers_builder():
    assert "lfw_pairs" in tfds.list_builders(with_community_datasets=False)
    builder = tfds.builder("lfw_pairs/deepfunneled", data_dir="/nonexistent")
    assert builder.info.features["label"].names == ["different", "same"]


@pytest.mark.parametrize("name", ["lfw_pairs/original", "product_composites"])
def test_a_builder_made_before_its_data_leaves_no_temporary_folder(name, tmp_path,
                                                                   monkeypatch):
    # TFDS' DatasetInfo.initialize_from_bucket makes one and never removes it.
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    os.mkdir(tempfile.tempdir)
    builder = tfds.builder(name, data_dir=str(tmp_path / "data"))
    assert builder.info.features
    assert os.listdir(tempfile.tempdir) == []


def test_load_fold_matches_protocol_and_keeps_jpeg_bytes(tmp_path):
    dataset = tfds.load(
        "lfw_pairs/deepfunneled", split="fold3", data_dir=str(tmp_path / "data"),
        download_and_prepare_kwargs={"download_config": _config(manual_dir=DUMMY_DATA)},
        decoders={"image1": tfds.decode.SkipDecoding(),
                  "image2": tfds.decode.SkipDecoding()})
    examples = list(dataset.as_numpy_iterator())
    fold3 = protocol.parse_pairs_file(os.path.join(DUMMY_DATA, "pairs.txt"))[2]
    got = sorted((e["person1"].decode(), e["index1"], e["person2"].decode(), e["index2"],
                  e["label"]) for e in examples)
    want = sorted((p.person1, p.index1, p.person2, p.index2, int(p.same)) for p in fold3)
    assert got == want
    sources = fake_lfw.image_files()
    for e in examples:
        path = protocol.image_path(e["person1"].decode(), e["index1"])
        assert e["image1"] == sources[path]  # stored as-is, not re-encoded
        image = tf.io.decode_jpeg(e["image2"])
        assert image.shape == (250, 250, 3)


def test_as_supervised_gives_image_pair_and_label(tmp_path):
    dataset = tfds.load(
        "lfw_pairs/original", split="train", as_supervised=True,
        data_dir=str(tmp_path / "data"),
        download_and_prepare_kwargs={"download_config": _config(manual_dir=DUMMY_DATA)})
    images, label = next(iter(dataset))
    assert set(images) == {"image1", "image2"}
    assert images["image1"].dtype == tf.uint8 and images["image1"].shape == (250, 250, 3)
    assert label.numpy() in (0, 1)


def test_download_path_uses_mirror_urls(tmp_path):
    """Without manual_dir, files come from DownloadManager.download (mocked: offline)."""
    fake_lfw.write_protocol(str(tmp_path))
    fake_lfw.write_archive(str(tmp_path / "5976018"), "lfw")
    asked = {}

    def download(self, urls):
        asked.update(urls)
        return {name: tmp_path / os.path.basename(url) if name == "lfw.tgz"
                else tmp_path / name for name, url in urls.items()}

    checked = []  # the mirrors are tried (offline here: mocked) before TFDS downloads
    builder = tfds.builder("lfw_pairs/original", data_dir=str(tmp_path / "data"))
    with mock.patch.object(tfds.download.DownloadManager, "download", download), \
            mock.patch.object(lfw_pairs_dataset_builder, "reachable", checked.extend):
        builder.download_and_prepare()
    assert asked == {name: lfw_pairs_dataset_builder.URLS[name]
                     for name in ("lfw.tgz",) + protocol.PROTOCOL_FILES}
    assert sorted(checked) == sorted(asked.values())
    assert builder.info.splits["train"].num_examples == fake_lfw.SPLIT_SIZES["train"]
    # Every registered URL has a checksum, except the deep-funneled archive (see module).
    registered = builder.url_infos
    assert set(lfw_pairs_dataset_builder.URLS.values()) - set(registered) == {
        lfw_pairs_dataset_builder.URLS["lfw-deepfunneled.tgz"]}


@pytest.mark.parametrize("target, extra", [
    (os.path.dirname(lfw_pairs_dataset_builder.__file__), []),  # the builder's folder
    ("lfw_pairs", ["--imports", "fastfeed"]),  # the registered name
])
@pytest.mark.slow
def test_tfds_build_command(tmp_path, target, extra):
    tfds_command = os.path.join(os.path.dirname(sys.executable), "tfds")
    result = subprocess.run(
        [tfds_command, "build", target, *extra, "--config", "deepfunneled",
         "--manual_dir", DUMMY_DATA, "--data_dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(
        (tmp_path / "lfw_pairs" / "deepfunneled" / "1.0.0" / "dataset_info.json").read_text())
    sizes = {s["name"]: int(s["shardLengths"][0]) for s in info["splits"]}
    assert sizes == fake_lfw.SPLIT_SIZES
