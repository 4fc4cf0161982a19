import os

import numpy as np
import pytest

from fastfeed import cli
from fastfeed.tfds_builders.lfw_pairs import lfw_pairs_dataset_builder

DUMMY_DATA = os.path.join(os.path.dirname(lfw_pairs_dataset_builder.__file__), "dummy_data")


@pytest.mark.slow
def test_build_lfw_pairs_checks_every_split(tmp_path, capsys):
    argv = ["build", "lfw_pairs", "--config", "deepfunneled", "--manual-dir", DUMMY_DATA,
            "--data-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "built in" in out and "MiB on disk" in out
    assert out.count(" ok") == 12  # train, test and ten folds match their protocol
    assert cli.main(argv) == 0  # second run: already built, checked again
    assert "already built" in capsys.readouterr().out


@pytest.mark.slow
def test_build_reports_a_mismatch(tmp_path, capsys):
    manual = tmp_path / "manual"
    import shutil
    shutil.copytree(DUMMY_DATA, manual)
    argv = ["build", "lfw_pairs", "--manual-dir", str(manual), "--data-dir",
            str(tmp_path / "data")]
    assert cli.main(argv) == 0
    # The built data no longer matches edited protocol files: the check says so.
    text = (manual / "pairsDevTest.txt").read_text().replace("Alice_Archer\t", "Bob_Baker\t", 1)
    (manual / "pairsDevTest.txt").write_text(text)
    assert cli.main(argv) == 1
    assert "protocol pair(s) missing" in capsys.readouterr().out


def test_build_bad_manual_dir_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["build", "lfw_pairs", "--manual-dir", str(tmp_path / "nope"),
                     "--data-dir", str(tmp_path)]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_pairs_runs_on_a_tiny_tree(tmp_path, capsys):
    import fake_lfw
    fake_lfw.write_folder(str(tmp_path), "lfw")
    argv = ["bench", "pairs", "--lfw", str(tmp_path), "--image-size", "16",
            "--batch-size", "8", "--seconds", "0.05", "--rounds", "1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "LFW: 7 people, 17 images" in out
    for name in ("article", "crop+flip (registry spec)", "in a model step", "decode ceiling"):
        assert name in out


def test_bench_without_data_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["bench", "pairs", "--lfw", str(tmp_path / "none")]) == 2
    assert "LFW not found" in capsys.readouterr().err


@pytest.mark.slow
def test_build_product_composites_and_check(tmp_path, capsys):
    argv = ["build", "product_composites", "--image-size", "32", "--validation-size", "4",
            "--test-size", "2", "--data-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "product_composites/procedural_32px_4_2: built in" in out
    assert out.count(" ok") == 2
    assert cli.main(["build", "product_composites", "--config", "original"]) == 2
    assert "not a config of product_composites" in capsys.readouterr().err


@pytest.mark.slow
def test_preview_composites_writes_a_grid(tmp_path, capsys, product_folders):
    import cv2
    objects, backgrounds = product_folders
    out = tmp_path / "grids" / "grid.png"
    argv = ["preview", "composites", "--objects", str(objects), "--backgrounds",
            str(backgrounds), "--image-size", "32", "--count", "4", "--columns", "2",
            "--out", str(out)]
    assert cli.main(argv) == 0
    grid = cv2.imread(str(out))
    assert grid.shape == (2 * 32 + 4, 2 * 64 + 4, 3)  # 2x2 cells of image | outlined
    assert cli.main(argv[:2] + ["--objects", str(tmp_path / "none"), "--out", str(out),
                                "--overwrite"]) == 2
    assert "does not exist" in capsys.readouterr().err
    augmented = tmp_path / "augmented.png"
    assert cli.main(argv[:-1] + [str(augmented), "--augment", "flip_lr(p=1.0)"]) == 0
    assert cv2.imread(str(augmented)).shape == grid.shape
    assert not np.array_equal(cv2.imread(str(augmented)), grid)
    assert cli.main(argv + ["--overwrite", "--augment", "spin"]) == 2
    assert "Unknown augmentation op 'spin'" in capsys.readouterr().err


def test_preview_lfw_pairs(tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    assert cli.main(["preview", "lfw_pairs", "--data-dir", data_dir, "--out",
                     str(tmp_path / "p.png")]) == 2
    assert "fastfeed build lfw_pairs" in capsys.readouterr().err
    # Defaults agree: what `build` builds is what `preview` reads.
    assert cli.main(["build", "lfw_pairs", "--manual-dir", DUMMY_DATA, "--data-dir",
                     data_dir, "--no-check"]) == 0
    assert cli.main(["preview", "lfw_pairs", "--data-dir", data_dir, "--count", "3",
                     "--out", str(tmp_path / "p.png")]) == 0
    assert os.path.getsize(tmp_path / "p.png") > 1000
    assert cli.main(["build", "lfw_pairs", "--config", "deepfunneled", "--manual-dir",
                     DUMMY_DATA, "--data-dir", data_dir, "--no-check"]) == 0
    assert cli.main(["preview", "lfw_pairs", "--config", "deepfunneled", "--data-dir",
                     data_dir, "--count", "3",
                     "--augment", "random_resized_crop(64)|hue(0.1)",
                     "--out", str(tmp_path / "a.png")]) == 0
    assert os.path.getsize(tmp_path / "a.png") > 1000


@pytest.mark.slow
def test_bench_composites_runs(tmp_path, capsys):
    argv = ["bench", "composites", "--procedural-only", "--image-size", "32",
            "--batch-size", "4", "--seconds", "0.05", "--rounds", "1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "procedural: composite_stream" in out and "reference" in out
    assert "procedural: composite_stream, augmented" in out  # the training's spec
    assert cli.main(argv + ["--augment-only", "--augment", "flip_lr"]) == 0
    out = capsys.readouterr().out
    assert "augmented: flip_lr" in out and "reference" not in out and "x stream" in out


def test_bench_composites_refuses_bad_augment_at_the_door(capsys):
    base = ["bench", "composites", "--procedural-only", "--seconds", "0.05"]
    for extra, message in ((["--augment", "spin"], "--augment: Unknown augmentation op"),
                           (["--augment-only", "--augment", ""],
                            "--augment-only needs an --augment spec")):
        with pytest.raises(SystemExit) as exit:
            cli.main(base + extra)
        err = capsys.readouterr().err
        assert exit.value.code == 2 and message in err and "Traceback" not in err


def test_bench_augment_refuses_bad_thread_counts_at_the_door(tmp_path, capsys):
    """A negative count, or a count TensorFlow can no longer take (it has started in
    this process, as in the tests): exit 2, no traceback, before any photo is read."""
    import tensorflow as tf

    tf.constant(0) + 1  # TensorFlow has started
    now = tf.config.threading.get_intra_op_parallelism_threads()
    for count, message in (("-1", "--intra-op-threads -1: use 0"),
                           (str(now + 3), "TensorFlow has already started")):
        with pytest.raises(SystemExit) as exit:
            cli.main(["bench", "augment", "--images", str(tmp_path / "none"),
                      "--intra-op-threads", count])
        err = capsys.readouterr().err
        assert exit.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.slow
def test_bench_augment_runs(tmp_path, capsys):
    argv = ["bench", "augment", "--images", str(tmp_path / "none"), "--count", "4",
            "--image-size", "32", "--batch-size", "4", "--seconds", "0.05", "--rounds", "1",
            "--pipelines", "geometric,photometric,policy,classic"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    for name in ("plain Python loop", "bridge", "native ops", "Keras 3 layers", "x keras",
                 "== geometric", "== photometric", "== policy", "rand_augment(2, 9)"):
        assert name in out


@pytest.mark.slow
def test_cli_output_has_no_tensorflow_start_up_noise(tmp_path):
    """TF's C++ start-up lines (oneDNN, absl) stay out of what the user sees."""
    import subprocess
    import sys

    fastfeed_command = os.path.join(os.path.dirname(sys.executable), "fastfeed")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "NO_ALBUMENTATIONS_UPDATE")}
    done = subprocess.run([fastfeed_command, "preview", "composites", "--count", "2",
                           "--image-size", "32", "--out", str(tmp_path / "g.png")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "oneDNN" not in output and "absl" not in output and "I0000" not in output
    assert output.strip() == f"wrote {tmp_path / 'g.png'} (268x32)"


@pytest.mark.slow
def test_train_smoke_resume_and_eval_from_the_command(tmp_path, capsys):
    import fake_lfw

    lfw_dir = tmp_path / "lfw"
    lfw_dir.mkdir()
    fake_lfw.write_protocol(str(lfw_dir))
    fake_lfw.write_folder(str(lfw_dir), "lfw-deepfunneled", fake_lfw.image_files(
        {**fake_lfw.PEOPLE, **{f"Extra_Person{k}": 3 for k in range(4)}}))
    run_dir = str(tmp_path / "run")
    argv = ["train", "--task", "lfw", "--smoke", "--lfw", str(lfw_dir), "--run-dir",
            run_dir, "--steps", "3"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert '"steps": 3' in captured.out and "test_accuracy:" in captured.out
    assert "3/3" in captured.err and "step/s" in captured.err  # the progress bar
    assert cli.main(["train", "--run-dir", run_dir, "--resume"]) == 0  # nothing left
    assert cli.main(["eval", "lfw", "--run-dir", run_dir]) == 0
    assert "test_accuracy:" in capsys.readouterr().out


def test_train_option_errors(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["train", "--run-dir", run_dir, "--lfw", str(tmp_path),
                     "--learning-rat", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "Unknown option --learning-rat" in err and "--learning-rate" in err
    assert cli.main(["train", "--run-dir", run_dir, "--steps"]) == 2
    assert "--steps needs a value" in capsys.readouterr().err
    os.makedirs(tmp_path / "empty")
    assert cli.main(["train", "--run-dir", run_dir, "--lfw", str(tmp_path / "empty")]) == 2
    assert "lacks lfw.tgz (or the extracted folder lfw/)" in capsys.readouterr().err
    assert cli.main(["eval", "lfw", "--run-dir", str(tmp_path / "none")]) == 2
    assert "config.json not found" in capsys.readouterr().err


@pytest.mark.slow
def test_importing_fastfeed_leaves_the_host_programs_environment_alone():
    import subprocess
    import sys

    code = ("import os; import fastfeed; "
            "from fastfeed.compose import augment, composites, faces; "
            "print([k for k in ('TF_CPP_MIN_LOG_LEVEL', 'NO_ALBUMENTATIONS_UPDATE') "
            "if k in os.environ])")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "NO_ALBUMENTATIONS_UPDATE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
