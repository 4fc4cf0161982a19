"""Shared fixtures: tiny generated data only; nothing downloaded, ../shared not needed."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import pytest  # noqa: E402

import fake_lfw  # noqa: E402


@pytest.fixture
def lfw_manual_dir(tmp_path):
    """A manual_dir with the fake LFW extracted as `lfw/` and the protocol files."""
    fake_lfw.write_protocol(str(tmp_path))
    fake_lfw.write_folder(str(tmp_path), "lfw")
    return tmp_path
