"""The product_composites TFDS builder: both configs, sizes, seeded and reproducible."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import fastfeed  # noqa: F401  (registers the builders)
from fastfeed.tfds_builders.product_composites import product_composites_dataset_builder as pc


def _build(tmp_path, name, config, manual_dir=None):
    builder = tfds.builder("product_composites", config=config, data_dir=str(tmp_path / name))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def _examples(builder, split):
    return sorted(builder.as_dataset(split=split).as_numpy_iterator(),
                  key=lambda e: e["image"].tobytes())


@pytest.mark.slow
def test_procedural_build_is_seeded_and_reproducible(tmp_path):
    config = pc.Builder.config_for("procedural", image_size=32, validation_size=5,
                                   test_size=3)
    assert config.name == "procedural_32px_5_3"
    builder = _build(tmp_path, "a", config)
    assert "product_composites" in tfds.list_builders()
    assert {s: i.num_examples for s, i in builder.info.splits.items()} == {
        "validation": 5, "test": 3}
    validation = _examples(builder, "validation")
    example = validation[0]
    assert example["image"].shape == (32, 32, 3) and example["mask"].shape == (32, 32, 1)
    assert set(np.unique(example["mask"])) <= {0, 1}
    assert example["object_name"].decode().split("_")[0] in (
        "bottle", "can", "jar", "mug", "box", "shoe")
    again = _examples(_build(tmp_path, "b", config), "validation")
    for x, y in zip(validation, again):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    test = _examples(builder, "test")
    assert not any(np.array_equal(t["image"], v["image"]) for t in test for v in validation)
    sup = next(iter(tfds.load("product_composites/procedural_32px_5_3", split="test",
                              data_dir=str(tmp_path / "a"), as_supervised=True)))
    assert sup[0].shape == (32, 32, 3) and sup[1].shape == (32, 32, 1)
    # fastfeed preview draws any built dataset through its folder's preview.py.
    from fastfeed import cli

    assert cli.main(["preview", "product_composites", "--config", "procedural_32px_5_3",
                     "--data-dir", str(tmp_path / "a"), "--count", "3", "--augment",
                     "flip_lr", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 500
    assert cli.main(["preview", "product_composites", "--config", "procedural_32px_5_3",
                     "--data-dir", str(tmp_path / "a"), "--split", "train",
                     "--out", str(tmp_path / "x.png")]) == 2


@pytest.mark.slow
def test_folders_build_names_its_files(tmp_path, product_folders):
    config = pc.Builder.config_for("folders", image_size=24, validation_size=4, test_size=2)
    builder = _build(tmp_path, "f", config, manual_dir=str(tmp_path))
    names = {e["object_name"].decode() for e in _examples(builder, "validation")}
    assert names <= {"disc.png", "kitchen/box.png"}
    backgrounds = {e["background_name"].decode() for e in _examples(builder, "test")}
    assert backgrounds <= {"floor0.jpg", "floor1.jpg"}


def test_folders_without_manual_dir_content_is_a_clear_error(tmp_path):
    config = pc.Builder.config_for("folders", image_size=24, validation_size=1, test_size=1)
    with pytest.raises(FileNotFoundError, match="lacks objects/ and backgrounds/"):
        _build(tmp_path, "x", config, manual_dir=str(tmp_path))


def test_config_for_rejects_bad_values():
    with pytest.raises(ValueError, match="Unknown config 'photos'"):
        pc.Builder.config_for("photos")
    with pytest.raises(ValueError, match="Unknown config field"):
        pc.Builder.config_for("procedural", size=3)
    with pytest.raises(ValueError, match="test_size=0"):
        pc.Builder.config_for("procedural", test_size=0)
    assert pc.Builder.config_for("procedural") is pc.Builder.BUILDER_CONFIGS[0]


@pytest.mark.slow
def test_beam_build_equals_the_normal_build(tmp_path, monkeypatch):
    beam = pytest.importorskip("apache_beam")
    monkeypatch.setattr(pc, "BEAM_CHUNK", 2)  # several work items per split
    config = pc.Builder.config_for("procedural", image_size=32, validation_size=5,
                                   test_size=3)
    normal = _build(tmp_path, "normal", config)
    with_beam = tfds.builder("product_composites", config=config,
                             data_dir=str(tmp_path / "beam"))
    with_beam.download_and_prepare(download_config=tfds.download.DownloadConfig(
        beam_options=beam.options.pipeline_options.PipelineOptions(
            ["--runner=DirectRunner"])))
    for split in ("validation", "test"):
        a = list(normal.as_dataset(split=split).as_numpy_iterator())
        b = list(with_beam.as_dataset(split=split).as_numpy_iterator())
        assert len(a) == len(b) == normal.info.splits[split].num_examples
        for x, y in zip(a, b):  # the same examples under the same keys: the same order
            for key in x:
                np.testing.assert_array_equal(x[key], y[key])
