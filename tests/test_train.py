"""`fastfeed train`: config, smoke runs, resume, precision paths, the LFW protocol."""

import dataclasses
import json
import os

import numpy as np
import pytest

import fake_lfw
from fastfeed import lfw, train
from fastfeed.tasks import lfw as lfw_task

# Six more people, in no protocol file: enough to draw 4 people per batch after the
# test people are left out.
def _config(lfw_dir, **overrides):
    return train.make_config("lfw", {"lfw": lfw_dir, **{k: str(v) for k, v in
                                                         overrides.items()}}, smoke=True)


def _weights(run_dir, unit):
    import keras

    from fastfeed import models
    models.available()
    model = keras.models.load_model(os.path.join(run_dir, unit, "model.keras"))
    return [np.asarray(v) for v in model.weights]


# ----------------------------------------------------------------------------- config
def test_overrides_are_typed_and_unknown_keys_listed(lfw_dir):
    config = _config(lfw_dir, steps=7, learning_rate=0.01, folds="2,3", protocol="view2")
    assert (config.steps, config.learning_rate, config.folds) == (7, 0.01, (2, 3))
    assert config.stream == "identity" and config.augment == "random_crop(32)|flip_lr"
    with pytest.raises(train.ConfigError, match=r"Unknown option --stepz .*Known: .*--steps"):
        _config(lfw_dir, stepz=3)
    with pytest.raises(train.ConfigError, match=r"--steps 'many': expected int"):
        _config(lfw_dir, steps="many")
    with pytest.raises(train.ConfigError, match="--protocol 'view3'"):
        _config(lfw_dir, protocol="view3")
    with pytest.raises(train.ConfigError, match="--folds 11: folds are 1 to 10"):
        _config(lfw_dir, protocol="view2", folds=11)
    with pytest.raises(train.ConfigError, match="--precision 'half'"):
        _config(lfw_dir, precision="half")
    with pytest.raises(train.ConfigError, match="model 'diff_cnn' has none"):
        _config(lfw_dir, model="diff_cnn", stream="identity")
    with pytest.raises(train.ConfigError, match="--lfw DIR is required"):
        train.make_config("lfw", {}, smoke=True)
    assert dataclasses.is_dataclass(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 3


def test_missing_protocol_file_is_named(tmp_path):
    fake_lfw.write_folder(str(tmp_path), "lfw-deepfunneled")
    with pytest.raises(FileNotFoundError, match="pairsDevTrain.txt"):
        lfw.locate(str(tmp_path), "deepfunneled")
    assert lfw.detect_config(str(tmp_path)) == "deepfunneled"


# ---------------------------------------------------------------------- training runs
@pytest.mark.slow
def test_smoke_view1_writes_everything(lfw_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    config = _config(lfw_dir)
    metrics = train.run(config, run_dir)
    for name in ("config.json", "metrics.json", "view1/model.keras", "view1/metrics.json"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(os.path.join(run_dir, "view1",
                                                             "tensorboard"))
    assert {"loss", "accuracy", "learning_rate"} <= set(events.Reload().Tags()["tensors"])
    with open(os.path.join(run_dir, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["protocol"] == "view1" and "unrestricted" in saved["setting"]
    for key in ("test_accuracy", "test_auc", "threshold"):
        assert 0 <= saved[key] <= 1 or key == "threshold"
    assert saved["test_pairs"] == fake_lfw.SPLIT_SIZES["test"]
    assert metrics["test_accuracy"] == saved["test_accuracy"]
    again = train.evaluate_run(run_dir)  # re-evaluation from model.keras
    assert again["test_accuracy"] == saved["test_accuracy"]
    np.testing.assert_allclose(again["threshold"], saved["threshold"], rtol=1e-5)


@pytest.mark.slow
def test_smoke_view2_folds_and_pair_stream_model(lfw_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    config = _config(lfw_dir, protocol="view2", folds="1,2", model="diff_cnn")
    assert config.stream == "pairs"
    metrics = train.run(config, run_dir)
    assert metrics["folds"] == [1, 2] and len(metrics["fold_accuracies"]) == 2
    assert metrics["mean_accuracy"] == pytest.approx(np.mean(metrics["fold_accuracies"]))
    assert metrics["standard_error"] == pytest.approx(
        np.std(metrics["fold_accuracies"], ddof=1) / np.sqrt(2))
    assert os.path.isfile(os.path.join(run_dir, "fold02", "model.keras"))


class _Interrupt(Exception):
    pass


@pytest.mark.slow
def test_resume_ends_with_the_same_weights(lfw_dir, tmp_path):
    config = _config(lfw_dir, steps=4, checkpoint_every=2, log_every=2, jitter=0.2)
    straight = str(tmp_path / "straight")
    train.run(config, straight)

    def stop_at_2(unit, step, steps, logs, validation):
        if step == 2:
            raise _Interrupt
    resumed = str(tmp_path / "resumed")
    with pytest.raises(_Interrupt):
        train.run(config, resumed, report=stop_at_2)
    assert sorted(os.listdir(os.path.join(resumed, "view1", "checkpoints"))) == ["ckpt-2.npz"]
    train.run(config, resumed, resume=True)
    for a, b in zip(_weights(straight, "view1"), _weights(resumed, "view1")):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(train.ConfigError, match="differs .* in steps"):
        train.run(dataclasses.replace(config, steps=5), resumed, resume=True)


@pytest.mark.slow
def test_bfloat16_and_xla_paths_run_on_cpu(lfw_dir, tmp_path):
    import keras

    config = _config(lfw_dir, steps=1, precision="mixed_bfloat16", jit="on",
                     strategy="one_device")
    try:
        metrics = train.run(config, str(tmp_path / "run"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert 0 <= metrics["test_accuracy"] <= 1


# ------------------------------------------------------------------- protocol maths
def test_threshold_accuracy_auc_and_standard_error_by_hand():
    scores = np.array([0.9, 0.8, 0.4, 0.35, 0.3, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0], bool)
    threshold = lfw.best_threshold(scores, labels)
    # 0.325 and 0.6 both get 5 of 6 right; ties go to the lowest
    assert threshold == pytest.approx((0.35 + 0.3) / 2)
    assert lfw.accuracy(scores, labels, threshold) == pytest.approx(5 / 6)
    assert lfw.accuracy(scores, labels, 0.6) == pytest.approx(5 / 6)
    assert lfw.accuracy(scores, labels, 0.2) == pytest.approx(4 / 6)
    # 3 positives x 3 negatives: (0.9, 0.8 beat all 3) + (0.35 beats 0.3, 0.1) = 8 of 9
    assert lfw.roc_auc(scores, labels) == pytest.approx(8 / 9)
    assert lfw.roc_auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    accuracies = [0.8, 0.9, 0.85, 0.95]
    assert lfw.standard_error(accuracies) == pytest.approx(
        np.sqrt(np.sum((np.array(accuracies) - 0.875) ** 2) / 3) / 2)
    assert lfw.best_threshold([0.2, 0.7], [False, True]) == pytest.approx(0.45)


def test_people_files(tmp_path):
    (tmp_path / "people.txt").write_text("2\n2\nAnn\t3\nBen\t1\n1\nCat\t2\n")
    (tmp_path / "peopleDevTest.txt").write_text("2\nAnn\t3\nDov\t1\n")
    assert lfw.parse_people_file(tmp_path / "people.txt") == [{"Ann", "Ben"}, {"Cat"}]
    assert lfw.parse_people_file(tmp_path / "peopleDevTest.txt") == [{"Ann", "Dov"}]
    (tmp_path / "bad.txt").write_text("3\nAnn\t3\n")
    with pytest.raises(lfw.ProtocolError, match="bad.txt: a fold announces 3"):
        lfw.parse_people_file(tmp_path / "bad.txt")


def test_each_unit_trains_without_its_test_people(lfw_dir):
    for protocol in ("view1", "view2"):
        config = dataclasses.replace(_config(lfw_dir, protocol=protocol), folds=())
        data = lfw_task.prepare(config)
        units = lfw_task.units(config, data)
        assert len(units) == (1 if protocol == "view1" else 10)
        for unit in units:
            trained = lfw_task.training_people(data, unit)
            for pair_set in (unit.test_pairs, unit.threshold_pairs):
                seen = {name for rows in (pair_set.rows1, pair_set.rows2)
                        for name in _people_of(data, rows)}
                assert seen and not seen & trained
            labels = unit.threshold_pairs.labels  # calibration_pairs=4: half same
            assert 0 < labels.sum() <= 2 and labels.sum() * 2 == len(labels)
        # without calibration: every threshold pair (View 2: the other nine folds')
        plain = dataclasses.replace(config, calibration_pairs=0)
        for unit in lfw_task.units(plain, data):
            assert len(unit.threshold_pairs.labels) == (
                fake_lfw.SPLIT_SIZES["train"] if protocol == "view1"
                else 9 * fake_lfw.SPLIT_SIZES["fold1"])


def _people_of(data, rows):
    return {os.path.basename(os.path.dirname(data.faces.index.paths[r])) for r in rows}


def test_built_lfw_pairs_dataset_as_the_source(tmp_path):
    from test_cli import DUMMY_DATA
    from fastfeed import cli

    data_dir = str(tmp_path / "tfds")
    assert cli.main(["build", "lfw_pairs", "--config", "deepfunneled", "--manual-dir",
                     DUMMY_DATA, "--data-dir", data_dir, "--no-check"]) == 0
    config = train.make_config("lfw", {"lfw": "tfds:lfw_pairs/deepfunneled",
                                       "data_dir": data_dir, "limit_pairs": "0"},
                               smoke=True)
    built = lfw_task.prepare(config)
    folder = lfw_task.prepare(dataclasses.replace(config, lfw=DUMMY_DATA))
    assert set(built.splits) == set(folder.splits)

    def described(data, split):
        pair_set = data.splits[split]
        return sorted(zip(_names(data, pair_set.rows1), _names(data, pair_set.rows2),
                          pair_set.labels.tolist()))
    for split in built.splits:
        assert described(built, split) == described(folder, split), split
    with pytest.raises(FileNotFoundError, match="is not built"):
        lfw_task.prepare(dataclasses.replace(config, data_dir=str(tmp_path / "none")))


def _names(data, rows):
    return [os.path.basename(data.faces.index.paths[r]) for r in rows]


MIRRORED = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from fastfeed import train
config = train.make_config("lfw", {"lfw": sys.argv[1], "strategy": "mirrored",
                                   "people_per_batch": "4"}, smoke=True)
strategy, _ = train.setup_devices(config)
assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
metrics = train.run(config, sys.argv[2])
print("replicas", strategy.num_replicas_in_sync, "accuracy", metrics["test_accuracy"])
"""


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus(lfw_dir, tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", MIRRORED, lfw_dir, str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2 accuracy" in result.stdout


# ------------------------------------------------------------------ composites task
def _real_dir(root):
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(
            root / "images" / f"{k}.jpg")
        mask = np.zeros((40, 52), np.uint8)
        mask[10:30, 10:40] = 255
        Image.fromarray(mask).save(root / "masks" / f"{k}.png")
    return str(root)


@pytest.mark.slow
def test_smoke_composites_with_mixed_sources_and_real_photos(product_folders, tmp_path):
    objects, backgrounds = product_folders
    config = train.make_config("composites", {
        "objects": f"procedural:1,{objects}:3", "backgrounds": f"{backgrounds},procedural",
        "eval_real": _real_dir(tmp_path / "real"), "eval_every": "2"}, smoke=True)
    assert config.image_size == 64 and config.steps == 4
    run_dir = str(tmp_path / "run")
    metrics = train.run(config, run_dir)
    assert metrics["test"]["images"] == 8 and metrics["real"]["images"] == 2
    for split in ("test", "real"):
        assert 0 <= metrics[split]["iou"] <= 1 and 0 <= metrics[split]["max_f"] <= 1
    assert os.path.isfile(os.path.join(run_dir, "main", "model.keras"))
    again = train.evaluate_run(run_dir)
    assert again["test"]["iou"] == pytest.approx(metrics["test"]["iou"], abs=1e-6)


def test_composites_config_errors(tmp_path):
    with pytest.raises(train.ConfigError, match="neither 'procedural' nor a folder"):
        train.make_config("composites", {"objects": str(tmp_path / "nope")})
    with pytest.raises(train.ConfigError, match="SOURCE:WEIGHT"):
        train.make_config("composites", {"backgrounds": "procedural:0"})
    with pytest.raises(train.ConfigError, match="multiple of 32"):
        train.make_config("composites", {"image_size": "100"})
    with pytest.raises(train.ConfigError, match="images/"):
        train.make_config("composites", {"eval_real": str(tmp_path)})
