"""fastfeed/runs.py: checkpoints keyed by variable name, the damaged-newest fallback,
and how a run takes its folder; as units, without a training."""

import dataclasses

import keras
import numpy as np
import pytest

from fastfeed import runs
from fastfeed.tasks.base import Config, ConfigError


def _variables(shapes: dict, fill: float = 0.0):
    return [keras.Variable(np.full(shape, fill, "float32"), name=name)
            for name, shape in shapes.items()]


def test_a_checkpoint_restores_each_variable_by_its_name(tmp_path):
    folder = str(tmp_path / "checkpoints")
    saved = _variables({"a": (2,), "b": (3,), "c": (2,)})
    for k, variable in enumerate(saved):
        variable.assign(np.arange(variable.shape[0]) + 10 * k)
    for step in (1, 2, 3):
        runs.save_checkpoint(folder, step, saved)
    assert [step for step, _ in runs.checkpoint_paths(folder)] == [2, 3]  # two kept
    # The same names in another order: each gets its own values, not its position's.
    restored = list(reversed(_variables({"a": (2,), "b": (3,), "c": (2,)})))
    assert runs.restore_checkpoint(folder, restored) == 3
    assert [v.numpy().tolist() for v in restored] == [[20, 21], [10, 11, 12], [0, 1]]


def test_variables_sharing_a_name_are_numbered():
    assert runs.variable_keys(_variables({"x": (1,)}) * 3) == ["x", "x#1", "x#2"]


@pytest.mark.parametrize("shapes, named", [
    ({"a": (2,), "b": (3,), "d": (2,)}, "1 variable(s) not in it (d); 1 it holds that "
                                        "the model lacks (c)"),
    ({"a": (2,), "b": (3,), "c": (4,)}, "c is [2] there, [4] here"),
])
def test_a_checkpoint_of_another_model_is_refused_naming_what_differs(tmp_path, shapes,
                                                                       named):
    folder = str(tmp_path / "checkpoints")
    runs.save_checkpoint(folder, 5, _variables({"a": (2,), "b": (3,), "c": (2,)}, 1.0))
    other = _variables(shapes)  # as many variables, in the same places
    with pytest.raises(ConfigError, match="does not fit the model and optimizer") as e:
        runs.restore_checkpoint(folder, other)
    assert named in str(e.value)
    assert all((v.numpy() == 0).all() for v in other)  # nothing half-restored


def test_a_damaged_newest_checkpoint_is_passed_over(tmp_path, caplog):
    folder = tmp_path / "checkpoints"
    runs.save_checkpoint(str(folder), 4, _variables({"a": (2,)}, 7.0))
    (folder / "ckpt-9.npz").write_bytes(b"")  # a crash while writing
    (folder / "ckpt-8.npz").write_bytes(b"PK\x03\x04 cut short")
    restored = _variables({"a": (2,)})
    assert runs.restore_checkpoint(str(folder), restored) == 4
    assert restored[0].numpy().tolist() == [7.0, 7.0]
    assert caplog.text.count("is damaged") == 2
    assert runs.restore_checkpoint(str(tmp_path / "none"), restored) == 0


def test_a_run_folder_is_continued_replaced_or_refused(tmp_path):
    config, run_dir = Config(task="t"), str(tmp_path / "run")
    with pytest.raises(ConfigError, match="holds no run to continue"):
        runs.prepare(run_dir, config, {}, resume=True, overwrite=False)
    assert runs.prepare(run_dir, config, {}, resume=False, overwrite=False) == run_dir
    (tmp_path / "run" / "unit").mkdir()
    (tmp_path / "run" / "unit" / "model.keras").write_text("m")
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds an earlier run"):
        runs.prepare(run_dir, config, {}, resume=False, overwrite=False)
    runs.prepare(run_dir, config, {}, resume=True, overwrite=False)
    with pytest.raises(ConfigError, match="differs from .* in steps"):
        runs.prepare(run_dir, dataclasses.replace(config, steps=7), {}, resume=True,
                     overwrite=False)
    runs.prepare(run_dir, config, {}, resume=False, overwrite=True)
    assert not (tmp_path / "run" / "unit" / "model.keras").exists()
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # not the run's
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError, match="--run-dir"):  # inside what it reads
        runs.prepare(str(tmp_path / "data" / "run"), config,
                     {"--lfw": [str(tmp_path / "data")]}, resume=False, overwrite=False)


def test_the_first_ctrl_c_asks_the_loop_to_stop_and_the_second_interrupts(request):
    import os
    import signal
    import threading

    from fastfeed import train

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach only the main thread, and this test runs in another")
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # xdist: ignored
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, outer))
    before = signal.getsignal(signal.SIGINT)
    with train._StopRequest() as ctrl_c:
        assert not ctrl_c.requested
        os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread at once
        assert ctrl_c.requested
        assert signal.getsignal(signal.SIGINT) is before  # a second one interrupts
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
