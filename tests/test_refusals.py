"""Nothing written over or into what is read, options checked at the door, masks read
for what they hold (issue 22's first rules)."""

import os

import numpy as np
import pytest
from PIL import Image

from fastfeed import cli, images, train


def _photos(folder, count=2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
            folder / f"p{k}.png")
    return folder


def _snapshot(folder):
    return {p: open(os.path.join(r, p), "rb").read() for r, _, names in os.walk(folder)
            for p in names}


@pytest.mark.parametrize("out", ["same", "same/cutouts", "."])
def test_remove_bg_never_writes_into_its_input_folder(tmp_path, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "same")
    before = _snapshot(tmp_path / "same")
    target = "same" if out == "." else out
    if out == ".":  # `cd same && fastfeed remove-bg .` with the default --out cutouts
        monkeypatch.chdir(tmp_path / "same")
        argv = ["remove-bg", "."]
    else:
        argv = ["remove-bg", "same", "--out", target, "--overwrite"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "is inside the input folder" in err and "Traceback" not in err
    assert _snapshot(tmp_path / "same") == before  # nothing written, nothing replaced


def test_remove_bg_never_replaces_the_photo_itself(tmp_path, capsys):
    photo = _photos(tmp_path / "in", 1) / "p0.png"
    before = photo.read_bytes()
    assert cli.main(["remove-bg", str(photo), "--out", str(photo), "--overwrite"]) == 2
    assert "would replace the photo itself" in capsys.readouterr().err
    assert cli.main(["remove-bg", str(photo), "--out", str(tmp_path / "in"),
                     "--overwrite"]) == 2  # in/p0.png -> in/p0.png
    assert photo.read_bytes() == before


# The smallest valid command line of each command; a new command must add its own.
MINIMAL = {"build": ["build", "product_composites"], "preview": ["preview", "composites",
           "--out", "x.png"], "bench": ["bench", "pairs"], "train": ["train", "--run-dir",
           "r"], "serve-data": ["serve-data", "worker", "--dispatcher", "h:1"],
           "adapt": ["adapt", "p", "--run-dir", "r"], "eval": ["eval", "lfw", "--run-dir",
           "r"], "remove-bg": ["remove-bg", "p"], "eval-bg": ["eval-bg", "d"],
           "serve-bg": ["serve-bg"]}


def _ranged_options():
    """``(command, option, bad value)`` for every numeric option of every command, from
    the options' own declarations (common.Ranged), so a new option is tried too."""
    import argparse

    from fastfeed.cli import COMMANDS
    from fastfeed.cli.common import Ranged

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    for add_parser in COMMANDS:
        add_parser(commands)
    for name, sub in commands.choices.items():
        assert name in MINIMAL, f"give the new command {name!r} its MINIMAL line"
        for action in sub._actions:
            if isinstance(action.type, Ranged):
                for bad in action.type.bad_values():
                    yield pytest.param(name, action.option_strings[-1], bad,
                                       id=f"{name} {action.option_strings[-1]} {bad}")


@pytest.mark.parametrize("command, option, bad", list(_ranged_options()))
def test_every_numeric_option_is_checked_at_the_door(command, option, bad, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(MINIMAL[command] + [f"{option}={bad}"])  # -inf is not taken for an option
    err = capsys.readouterr().err
    assert exit.value.code == 2 and f"argument {option}" in err
    assert "Traceback" not in err
    assert ": use a value " in err or "is not a" in err


def test_masks_of_zeros_and_ones_are_read_as_such(tmp_path):
    mask = np.zeros((10, 12), np.uint8)
    mask[2:6, 3:9] = 1
    Image.fromarray(mask).save(tmp_path / "01.png")
    Image.fromarray(mask * 255).save(tmp_path / "0255.png")
    Image.fromarray(mask.astype(np.uint16) * 65535).save(tmp_path / "16bit.png")
    expected = mask.astype(bool)
    for name in ("01.png", "0255.png", "16bit.png"):
        np.testing.assert_array_equal(images.read_mask(str(tmp_path / name)), expected)


@pytest.mark.slow
def test_a_run_folder_is_not_replaced_without_overwrite(tmp_path):
    config = train.make_config("composites", {}, smoke=True)
    run_dir = str(tmp_path / "run")
    train.run(config, run_dir)
    model = os.path.join(run_dir, "main", "model.keras")
    before = open(model, "rb").read()
    with pytest.raises(train.ConfigError, match="holds an earlier run .* --resume .* "
                                                "--overwrite"):
        train.run(config, run_dir)
    assert open(model, "rb").read() == before
    events = os.path.join(run_dir, "main", "tensorboard")
    first = set(os.listdir(events))
    train.run(config, run_dir, overwrite=True)
    assert not first & set(os.listdir(events))  # the earlier run's events are gone


@pytest.mark.slow
def test_a_worker_and_a_trainer_pointed_at_a_closed_port_give_up(tmp_path):
    import subprocess
    import sys
    import time

    from fastfeed.compose import service

    closed = f"127.0.0.1:{service.free_port()}"
    started = time.monotonic()
    worker = subprocess.run(
        [sys.executable, "-m", "fastfeed", "serve-data", "worker", "--dispatcher", closed,
         "--timeout", "2"], capture_output=True, text=True, timeout=120)
    assert worker.returncode == 2 and f"nothing answers at {closed}" in worker.stderr
    assert "Traceback" not in worker.stderr
    config = train.make_config("composites", {"data_service": closed,
                                              "data_service_timeout": "2"}, smoke=True)
    with pytest.raises(TimeoutError, match=f"nothing answers at {closed}"):
        train.run(config, str(tmp_path / "run"))
    assert time.monotonic() - started < 90


@pytest.mark.slow
def test_a_trainer_whose_data_service_job_gets_no_worker_gives_up(tmp_path):
    from fastfeed.compose import service

    dispatcher = service.ServerProcess("dispatcher")  # answers, but no worker comes
    try:
        config = train.make_config("composites", {"data_service": dispatcher.address,
                                                  "data_service_timeout": "3"},
                                   smoke=True)
        with pytest.raises(TimeoutError, match="no batch from the tf.data service at "
                                               ".*serve-data worker --dispatcher"):
            train.run(config, str(tmp_path / "run"))
    finally:
        dispatcher.stop()


def test_a_model_of_another_task_is_named_not_a_traceback(tmp_path, capsys):
    from fastfeed import models

    face = str(tmp_path / "face.keras")
    models.get("diff_cnn", image_size=32).save(face)
    photo = _photos(tmp_path / "in", 1) / "p0.png"
    assert cli.main(["remove-bg", str(photo), "--model", face,
                     "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not a background-removal model" in err and "Traceback" not in err
    with pytest.raises(train.ConfigError, match="--init .* takes 2 input.*--task "
                                                "composites fine-tunes a model that takes 1"):
        train.make_config("composites", {"init": face}, smoke=True)
    with pytest.raises(train.ConfigError, match="--model siamese: a pair model; --task compo"
                       "sites trains unet_lite0, unet_lite2, unet_small"):
        train.make_config("composites", {"model": "siamese"}, smoke=True)
    assert cli.main(["train", "--task", "composites", "--smoke", "--run-dir",
                     str(tmp_path / "run"), "--model", "nope"]) == 2
    assert "--model 'nope': unknown model 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_130_and_a_damaged_one_is_passed_over(
        tmp_path):
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "fastfeed", "train", "--task", "composites",
               "--smoke", "--run-dir", str(run_dir), "--steps", "100000",
               "--checkpoint-every", "100000", "--log-every", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 180
    while not list((run_dir / "main" / "tensorboard").glob("*")) and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # a few steps
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "interrupted: main: stopped at step" in err and "--resume" in err
    assert "Traceback" not in err
    saved = sorted((run_dir / "main" / "checkpoints").glob("ckpt-*.npz"))
    assert len(saved) == 1
    # A newer, damaged checkpoint (a crash while writing) is passed over on --resume.
    (run_dir / "main" / "checkpoints" / "ckpt-99999.npz").write_bytes(b"")
    import tensorflow as tf

    from fastfeed import runs, tasks

    config = train.load_config(str(run_dir))
    model, optimizer = train.build(config, tasks.get("composites"),
                                   tf.distribute.get_strategy())
    step = runs.restore_checkpoint(str(run_dir / "main" / "checkpoints"),
                                   model.variables + optimizer.variables)
    assert step == int(saved[0].stem.split("-")[1]) > 0


def test_a_users_csv_or_png_is_not_replaced_without_overwrite(tmp_path, capsys):
    table, grid = tmp_path / "mine.csv", tmp_path / "mine.png"
    table.write_text("my notes\n")
    grid.write_bytes(b"my picture")
    assert cli.main(["eval-bg", str(tmp_path / "photos"), "--csv", str(table)]) == 2
    assert f"{table} exists; pass --overwrite" in capsys.readouterr().err
    assert cli.main(["preview", "composites", "--count", "2", "--out", str(grid)]) == 2
    assert f"{grid} exists; pass --overwrite" in capsys.readouterr().err
    assert table.read_text() == "my notes\n" and grid.read_bytes() == b"my picture"
    assert cli.main(["preview", "composites", "--count", "2", "--image-size", "64",
                     "--out", str(grid), "--overwrite"]) == 0
    assert grid.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob("*.part*"))


def test_an_unwritable_out_is_refused_before_any_photo(tmp_path, capsys):
    _photos(tmp_path / "in", 1)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["remove-bg", str(tmp_path / "in"), "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "--out: cannot make" in err and "Traceback" not in err


def _task_ranges():
    """``(task, option, bad value, message)`` for every declared range and choice list
    of every shipped task's config (tasks.options.facts), so a new field is tried
    too."""
    from fastfeed import tasks
    from fastfeed.tasks import options

    for name in tasks.available():
        for key, fact in options.facts(tasks.get(name).Config).items():
            for value in (options.just_outside(fact["range"]) if "range" in fact else []):
                yield pytest.param(name, key, str(value), "use a value",
                                   id=f"{name} --{key} {value}")
            if "choices" in fact:
                yield pytest.param(name, key, "nonesuch", "use one of",
                                   id=f"{name} --{key} nonesuch")
            if fact.get("names"):
                bad = "nonesuch" if fact["names"] == "model" else "flip_lr|nonesuch(2)"
                yield pytest.param(name, key, bad, "unknown", id=f"{name} --{key} {bad}")


@pytest.mark.parametrize("task, key, bad, message", list(_task_ranges()))
def test_every_task_option_is_checked_before_tensorflow(task, key, bad, message,
                                                        monkeypatch, capsys, tmp_path):
    def no_tensorflow():
        raise AssertionError("TensorFlow imported before the options were checked")

    monkeypatch.setattr(cli, "_import_tensorflow_quietly", no_tensorflow)
    option = "--" + key.replace("_", "-")
    status = cli.main(["train", "--task", task, "--run-dir", str(tmp_path / "run"),
                       option, bad])
    err = capsys.readouterr().err
    assert status == 2 and f"error: {option} " in err and message in err, err
    assert not (tmp_path / "run").exists()


def test_the_names_checked_at_the_door_are_the_registries():
    """Models and ops are named before TensorFlow from their modules' source: the same
    names (and model facts) as the registries hold once imported."""
    from fastfeed import models
    from fastfeed.compose import augment, opspec

    assert opspec.declared_ops() == set(augment.REGISTRY)
    assert models.declared() == {name: models.metadata(name) for name in models.available()}


@pytest.mark.parametrize("task", ["lfw", "composites"])
def test_train_help_lists_every_option_of_the_task(task, capsys, monkeypatch):
    from fastfeed import tasks
    from fastfeed.tasks import options

    monkeypatch.setattr(cli, "_import_tensorflow_quietly", lambda: 1 / 0)
    assert cli.main(["train", "--task", task, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for key, fact in options.facts(tasks.get(task).Config).items():
        if key == "task":
            continue
        assert "--" + key.replace("_", "-") + " " in text
        if "range" in fact:
            assert options.allowed(fact["range"]) in text, key
        if "choices" in fact:
            assert "one of " + ", ".join(c or "''" for c in fact["choices"]) in text, key


def _task_float_fields():
    """``(task, field)`` for every float (or tuple of floats) field of every shipped
    task's config, so a new one is tried too."""
    import typing

    from fastfeed import tasks

    for name in tasks.available():
        for key, kind in typing.get_type_hints(tasks.get(name).Config).items():
            if kind is float or typing.get_args(kind)[:1] == (float,):
                yield pytest.param(name, key, kind is not float, id=f"{name} --{key}")


@pytest.mark.parametrize("task, key, several", list(_task_float_fields()))
def test_every_task_number_must_be_finite(task, key, several):
    option = "--" + key.replace("_", "-")
    for bad in ("nan", "inf", "-inf") + (("1,nan",) if several else ()):
        with pytest.raises(train.ConfigError, match=f"^{option} .*NaN and infinities"):
            train.make_config(task, {key: bad})


@pytest.mark.slow
def test_ctrl_c_is_python_s_own_again_however_training_ends(tmp_path):
    import signal

    before = signal.getsignal(signal.SIGINT)
    config = train.make_config("composites", {}, smoke=True)

    def failing(unit, step, steps, logs, validation):
        raise RuntimeError("a report that fails")
    with pytest.raises(RuntimeError, match="a report that fails"):
        train.run(config, str(tmp_path / "run"), report=failing)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.slow
def test_a_full_stdout_is_one_line_not_a_traceback(tmp_path):
    import io
    import subprocess
    import sys

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    data = io.BytesIO()
    Image.fromarray(np.full((40, 48, 3), 120, np.uint8)).save(data, format="PNG")
    with open("/dev/full", "wb") as full:
        result = subprocess.run([sys.executable, "-m", "fastfeed", "remove-bg", "-"],
                                input=data.getvalue(), stdout=full, stderr=subprocess.PIPE,
                                timeout=300)
    err = result.stderr.decode()
    assert result.returncode == 1 and "No space left on device" in err, err
    assert "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.parametrize("source, message", [
    (None, "NoneType is not an image"), (3, "int is not an image"),
    (np.zeros((0, 0, 3), np.uint8), "empty"), (np.zeros((8, 0), np.uint8), "empty"),
    (b"not an image", "not a readable image")])
def test_the_python_api_refuses_what_is_not_an_image(source, message):
    from fastfeed import background

    with pytest.raises(images.ImageError, match=message) as error:
        background.remove_background(source)
    assert " at 0x" not in str(error.value)  # no memory address in a message


@pytest.mark.slow
def test_a_photos_own_transparency_is_kept_in_its_cutout(tmp_path):
    from fastfeed import background

    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., :3] = (40, 90, 160)
    rgba[12:36, 16:48, :3] = (230, 200, 60)
    rgba[..., 3] = 255
    rgba[:, :8, 3] = 0  # the user removed a strip already
    Image.fromarray(rgba).save(tmp_path / "cut.png")
    for source in (str(tmp_path / "cut.png"), rgba):
        alpha = np.asarray(background.remove_background(source))[..., 3]
        assert alpha[:, :8].max() == 0 and alpha[20:28, 28:36].min() > 0
    assert background.keep_transparency(np.ones((2, 2), np.float32), None).min() == 1


def test_serve_bg_without_its_extra_says_what_to_install(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert cli.main(["serve-bg", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'fastfeed[serve]'" in err and "Traceback" not in err


def test_serve_bg_refuses_an_address_it_cannot_listen_on(capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert cli.main(["serve-bg", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}: cannot listen there" in err and "Traceback" not in err
