"""The Task interface: what `fastfeed train` needs of a task.

A task is one module with three names: ``Config`` (a frozen dataclass extending
:class:`Config`), ``stream`` and ``loss``. Everything else :class:`Task` lists is
optional, with the defaults below. ``fastfeed train --task NAME`` finds
``fastfeed.tasks.NAME``, or a module of yours by its dotted path (``--task
mypackage.my_task``), and checks it against this interface before any data is read.

Each field of a config declares its help and what it allows beside its default
(:func:`option`); ``fastfeed train --task NAME --help`` lists them, and a value outside
them is refused before TensorFlow loads. The machinery behind that lives in
:mod:`fastfeed.tasks.options`.

The loop owns the devices and where each trainer reads: ``stream`` gets a :class:`Feed`
(first batch, this trainer's shard, the replicas sharing a batch, the data service) and
passes it on to the stream it builds.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol

from fastfeed.compose.feed import Feed
from fastfeed.tasks.options import ConfigError, option

__all__ = ["Config", "ConfigError", "Feed", "Task", "TaskError", "Unit", "option"]


class TaskError(ValueError):
    """A task module that does not meet the :class:`Task` interface."""


# ------------------------------------------------------------------------- config
@dataclasses.dataclass(frozen=True)
class Config:
    """What every task's config holds; a task's config adds its own fields."""

    task: str = option("", "the task's name (set by each task's Config)")
    model: str = option("", "a registered model (fastfeed.models); '' = the task's default",
                        names="model")
    steps: int = option(1000, "training steps", low=1)
    learning_rate: float = option(3e-3, "peak learning rate (AdamW)", low=0, above=True)
    warmup_steps: int = option(100, "linear warm-up steps, then cosine decay to 0", low=0)
    weight_decay: float = option(5e-4, "AdamW's weight decay", low=0)
    seed: int = option(0, "seed of every random stream and of the model's weights", low=0)
    batch_size: int = option(16, "examples (or pairs) per step, over all replicas", low=1)
    log_every: int = option(50, "steps between progress lines and TensorBoard points", low=1)
    checkpoint_every: int = option(250, "steps between checkpoints (--resume)", low=1)
    eval_every: int = option(0, "also run the task's validation every N steps (0: never)",
                             low=0)
    precision: str = option("auto", "auto: mixed_float16 on GPU, else float32",
                            choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"))
    jit: str = option("auto", "XLA; auto: on GPU", choices=("auto", "on", "off"))
    strategy: str = option("auto", "tf.distribute strategy; auto: mirrored on 2+ GPUs; "
                           "multiworker reads TF_CONFIG (docs/scaling.md)",
                           choices=("auto", "default", "one_device", "mirrored",
                                    "multiworker"))
    data_service: str = option("", "HOST:PORT of a tf.data service dispatcher "
                               "(fastfeed serve-data)")
    data_service_job: str = option("", "trainers with the same job share one stream "
                                   "('': derived)")
    data_service_timeout: float = option(120.0, "seconds to wait for the dispatcher",
                                         low=0, above=True)
    init: str = option("", "start from this model.keras (fine-tuning) instead of a new "
                       "--model")

    # The fields that name files or folders the run reads (a list ``PATH[:WEIGHT],...``
    # or one path); a task's Config adds its own. The run folder may be none of them,
    # nor inside or around one (files.write_conflict).
    READS: ClassVar[tuple] = ("init",)


# --------------------------------------------------------------------------- task
@dataclasses.dataclass(frozen=True)
class Unit:
    """One model the task trains (a task with cross-validation folds has several)."""

    name: str


class Task(Protocol):
    """What a task module provides (as module-level names)."""

    Config: type  # a frozen dataclass extending fastfeed.tasks.base.Config

    def stream(self, config, data, unit, feed: Feed):
        """The unit's training batches (a ``tf.data.Dataset``) as ``feed`` says."""

    def loss(self, config, model, batch, training: bool):
        """``(scalar loss, {name: scalar logged beside it})``."""

    # Optional: the defaults below.
    def check(self, config) -> None:
        """Raises :class:`ConfigError` for a bad value, with the fix (the fields'
        declared ranges and choices are checked before it)."""

    def smoke(self, config):
        """``config`` shrunk to a run of seconds on a CPU (``--smoke``, the tests)."""

    def prepare(self, config) -> Any:
        """Reads the data once; what it returns is passed back as ``data``."""

    def evaluate(self, config, data, unit, model) -> dict:
        """A trained unit's metrics (JSON-ready)."""

    def summarize(self, config, results: dict) -> dict:
        """The run's metrics from ``{unit name: evaluate(...)}``."""

    def resolve(self, config):
        """``config`` with the defaults that depend on other fields filled in."""

    def units(self, config, data) -> list:
        """What to train: ``[Unit("main")]`` unless the protocol has folds."""

    def model_kwargs(self, config) -> dict:
        """Arguments of ``models.get(config.model, ...)``."""

    def examples_per_batch(self, config) -> int:
        """Examples a step sees, for the examples/s figure."""

    def validate(self, config, data, unit, model) -> dict:
        """``{name: scalar}`` logged every ``eval_every`` steps."""


# ------------------------------------------------------------------ the defaults
EVAL_BATCHES = 8  # batches the default evaluate measures


def check(config) -> None:
    return None


def smoke(config):
    """A few steps of at most 4 examples."""
    return dataclasses.replace(config, steps=4, warmup_steps=1, log_every=2,
                               checkpoint_every=2, batch_size=min(config.batch_size, 4))


def prepare(config):
    return None


def evaluate(task, config, data, unit, model) -> dict:
    """The mean loss and logged figures of the task's ``loss`` (not training) over
    :data:`EVAL_BATCHES` batches the training never reached (from batch ``steps``)."""
    totals: dict[str, float] = {}
    batches = task.stream(config, data, unit, Feed(start=config.steps))
    for batch in batches.take(EVAL_BATCHES):
        value, logged = task.loss(config, model, batch, training=False)
        for name, scalar in {"loss": value, **logged}.items():
            totals[name] = totals.get(name, 0.0) + float(scalar) / EVAL_BATCHES
    return totals


def summarize(config, results: dict) -> dict:
    """One unit's metrics as they are; several units': each figure's mean over them,
    and every unit's."""
    if len(results) == 1:
        return {"task": config.task, **next(iter(results.values()))}
    shared = set.intersection(*(set(metrics) for metrics in results.values()))
    means = {name: sum(m[name] for m in results.values()) / len(results)
             for name in sorted(shared)
             if all(isinstance(m[name], (int, float)) for m in results.values())}
    return {"task": config.task, **means, "units": results}


def resolve(config):
    return config


def units(config, data) -> list:
    return [Unit("main")]


def model_kwargs(config) -> dict:
    return {}


def examples_per_batch(config) -> int:
    return config.batch_size


def validate(config, data, unit, model) -> dict:
    return {}
