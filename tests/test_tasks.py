"""The Task interface: every task's smoke config end to end, a task of one's own, and
modules that do not meet the interface."""

import json
import os
import sys
import types

import pytest

from fastfeed import tasks, train
from fastfeed.tasks import base

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "examples")


@pytest.fixture
def data_options(lfw_dir):
    """Per shipped task, the options that point its smoke config at test data."""
    return {"lfw": {"lfw": lfw_dir}, "composites": {}}


@pytest.mark.slow
@pytest.mark.parametrize("name", tasks.available())
def test_every_task_runs_its_smoke_config(name, data_options, tmp_path):
    assert name in data_options, f"give the new task {name!r} its test data here"
    config = train.make_config(name, data_options[name], smoke=True)
    run_dir = str(tmp_path / "run")
    metrics = train.run(config, run_dir)
    task = tasks.get(name)
    for unit in task.units(config, task.prepare(config)):
        assert os.path.isfile(os.path.join(run_dir, unit.name, "model.keras"))
    with open(os.path.join(run_dir, "metrics.json")) as f:
        assert json.load(f).keys() == metrics.keys()
    assert train.evaluate_run(run_dir).keys() - {"wall_s"} == metrics.keys() - {"wall_s"}


@pytest.mark.slow
def test_a_task_of_three_functions_trains(tmp_path, monkeypatch):
    """docs/examples/bright_pixels.py: Config, stream and loss; every default at work
    (smoke, prepare, evaluate, summarize)."""
    monkeypatch.syspath_prepend(EXAMPLES)
    task = tasks.get("bright_pixels")
    assert set(vars(task.module)) & {*tasks.OPTIONAL} == set()
    config = train.make_config("bright_pixels", {"steps": "6"}, smoke=True)
    assert (config.task, config.steps, config.batch_size) == ("bright_pixels", 6, 4)
    metrics = train.run(config, str(tmp_path / "run"))
    assert metrics["task"] == "bright_pixels" and 0 <= metrics["accuracy"] <= 1
    assert metrics["loss"] > 0
    first = next(iter(task.stream(config, None, base.Unit("main"), base.Feed())))
    again = next(iter(task.stream(config, None, base.Unit("main"), base.Feed(start=0))))
    assert (first["image"].numpy() == again["image"].numpy()).all()  # seeded
    second = next(iter(task.stream(config, None, base.Unit("main"), base.Feed(start=1))))
    assert not (first["image"].numpy() == second["image"].numpy()).all()
    with pytest.raises(train.ConfigError, match="--eval-every: task 'bright_pixels' has "
                                                "no validation"):
        train.make_config("bright_pixels", {"eval_every": "2"})


def test_modules_that_are_not_tasks_are_refused_before_any_data(monkeypatch):
    with pytest.raises(base.TaskError, match="Unknown task 'nope': not one of "
                                             "composites, lfw"):
        tasks.get("nope")
    half = types.ModuleType("half_task")
    half.Config = type("Config", (base.Config,), {})
    half.check = half.smoke = lambda config: config
    monkeypatch.setitem(sys.modules, "half_task", half)
    with pytest.raises(base.TaskError, match="lacks stream, loss: a task module defines "
                                             "Config, stream, loss"):
        tasks.get("half_task")
    not_config = types.ModuleType("odd_task")
    for name in tasks.REQUIRED:
        setattr(not_config, name, lambda *args: None)
    monkeypatch.setitem(sys.modules, "odd_task", not_config)
    with pytest.raises(base.TaskError, match="Config must be a dataclass extending"):
        tasks.get("odd_task")


def test_a_feed_shares_the_global_batch():
    assert base.Feed(replicas=4).per_replica(32) == 8
    with pytest.raises(ValueError, match="--people-per-batch 6 is the global "
                                               "batch: make it a multiple of the 4"):
        base.Feed(replicas=4).per_replica(6, "people-per-batch")


@pytest.mark.parametrize("name", ["this", "os", "numpy"])
def test_an_installed_module_is_not_imported_to_check_it(name, capsys):
    was_imported = name in sys.modules
    with pytest.raises(base.TaskError, match=f"Unknown task '{name}'.*not imported to "
                                             f"check it.*PYTHONPATH"):
        tasks.get(name)
    assert (name in sys.modules) == was_imported  # 'this' prints the Zen when imported
    assert capsys.readouterr().out == ""
