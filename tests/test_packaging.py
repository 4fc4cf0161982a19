"""The installed package (a wheel, not this checkout) carries what its builders need."""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

import fake_lfw

CHECK = """
import os, sys
import fastfeed, tensorflow_datasets as tfds
from fastfeed.tfds_builders.lfw_pairs import lfw_pairs_dataset_builder as lfw_pairs
from fastfeed.tfds_builders.product_composites import product_composites_dataset_builder as pc
assert fastfeed.__file__.startswith(sys.argv[1]), fastfeed.__file__
dummy = os.path.join(os.path.dirname(lfw_pairs.__file__), "dummy_data")
assert not os.path.exists(os.path.join(os.path.dirname(pc.__file__), "dummy_data"))
from fastfeed import background, images
assert background.DEFAULT_MODEL.startswith(sys.argv[1]) and os.path.isfile(background.DEFAULT_MODEL)
for config in ("original", "deepfunneled"):
    builder = tfds.builder(f"lfw_pairs/{config}", data_dir=sys.argv[2])
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=dummy))
    print(config, {k: v.num_examples for k, v in sorted(builder.info.splits.items())})
"""


@pytest.mark.slow
def test_wheel_installs_the_dummy_data_and_builds_both_configs(tmp_path):
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # The sources alone, as a fresh clone has them: an egg-info left by the editable
    # install would list every file and hide what package_data misses.
    source = tmp_path / "source"
    shutil.copytree(checkout, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "*.egg-info", "build", "dist", "demo_out", "runs", "__pycache__",
        ".pytest_cache"))
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(source)],
                   check=True, capture_output=True, timeout=300)
    wheel, = wheels.iterdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # -S: no site hooks, so the editable install of this checkout is not on the path;
    # the wheel's copy comes first, then the dependencies of this environment.
    path = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"],
                            sysconfig.get_paths()["platlib"]])
    done = subprocess.run([sys.executable, "-S", "-c", CHECK, str(target),
                           str(tmp_path / "data")],
                          env={**os.environ, "PYTHONPATH": path}, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for config in ("original", "deepfunneled"):
        line = next(row for row in done.stdout.splitlines() if row.startswith(config))
        assert line == f"{config} {dict(sorted(fake_lfw.SPLIT_SIZES.items()))}"
