"""Shared fixtures: tiny generated data only; nothing downloaded, ../shared not needed.

The tests see no real data set: FASTFEED_DATA points at an empty folder for them
(``REAL_DATA`` keeps what it was, for the documentation's examples)."""

import atexit
import os
import tempfile

import pytest

import fake_lfw
# As the fastfeed command does: TF's start-up logging quiet, no albumentations update
# check (before anything imports either).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import fastfeed  # noqa: E402,F401
# TensorFlow starts a helper process while it loads: loaded here, that is nobody's test.
import tensorflow  # noqa: E402,F401

@pytest.fixture(autouse=True)
def _fast_lane(request, monkeypatch):
    """A test not marked ``slow`` may not start a process (`make test-fast` runs those
    and must stay fast): it fails, saying so."""
    if request.node.get_closest_marker("slow") is None:
        import subprocess

        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} starts a process: mark it "
                                 f"@pytest.mark.slow (make test-fast leaves those out).")
        monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


REAL_DATA = os.environ.get("FASTFEED_DATA", "")
os.environ["FASTFEED_DATA"] = tempfile.mkdtemp(prefix="fastfeed-tests-no-data-")
atexit.register(os.rmdir, os.environ["FASTFEED_DATA"])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A saved unet_small of 4 channels everywhere: a background-removal model file in
    a fraction of a second."""
    from fastfeed import models

    path = str(tmp_path_factory.mktemp("model") / "model.keras")
    models.get("unet_small", widths=(4, 4, 4, 4, 4), stem=4).save(path)
    return path


@pytest.fixture(scope="session")
def lfw_dir(tmp_path_factory):
    """The fake LFW (deep-funneled, as a folder) with six more people of three photos,
    and the protocol files: enough people for a training's smoke config."""
    directory = tmp_path_factory.mktemp("lfw")
    fake_lfw.write_protocol(str(directory))
    fake_lfw.write_folder(str(directory), "lfw-deepfunneled", fake_lfw.image_files(
        {**fake_lfw.PEOPLE, **{f"Extra_Person{k}": 3 for k in range(6)}}))
    return str(directory)


@pytest.fixture
def lfw_manual_dir(tmp_path):
    """A manual_dir with the fake LFW extracted as `lfw/` and the protocol files."""
    fake_lfw.write_protocol(str(tmp_path))
    fake_lfw.write_folder(str(tmp_path), "lfw")
    return tmp_path


@pytest.fixture
def product_folders(tmp_path):
    """objects/ with two 16x16 RGBA cut-outs (one in a sub-folder) and backgrounds/
    with two 32x32 photos: ``(objects_dir, backgrounds_dir)``."""
    import numpy as np
    from PIL import Image

    objects, backgrounds = tmp_path / "objects", tmp_path / "backgrounds"
    (objects / "kitchen").mkdir(parents=True)
    backgrounds.mkdir()
    disc = np.zeros((16, 16, 4), np.uint8)
    yy, xx = np.mgrid[0:16, 0:16]
    disc[..., :3] = (200, 40, 40)
    disc[..., 3] = np.where((yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 49, 255, 0)
    Image.fromarray(disc, "RGBA").save(objects / "disc.png")
    square = disc.copy()
    square[..., 3] = 0
    square[2:14, 4:12, 3] = 255
    Image.fromarray(square, "RGBA").save(objects / "kitchen" / "box.png")
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            backgrounds / f"floor{k}.jpg")
    return objects, backgrounds


@pytest.fixture
def noise_people(tmp_path):
    """Three people with two 16x16 random-noise PNGs each: ``{name: [paths]}``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    people = {}
    for name in ("Ann", "Ben", "Cat"):
        people[name] = []
        for k in range(2):
            path = str(tmp_path / f"{name}_{k}.png")
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(path)
            people[name].append(path)
    return people
