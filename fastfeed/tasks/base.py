"""The Task interface: what `fastfeed train` needs of a task, and the config every task
extends.

A task is one module. It holds ``Config`` (a frozen dataclass extending :class:`Config`)
and the functions of :class:`Task`; those :data:`OPTIONAL` lists may be left out (their
defaults are here). ``fastfeed train --task NAME`` finds ``fastfeed.tasks.NAME``, or a
module of yours by its dotted path (``--task mypackage.my_task``), and :func:`bind`
checks it against the interface before any data is read.

The loop owns the devices and where each trainer reads: a task's ``stream`` gets a
:class:`Feed` (first batch, this trainer's shard, the replicas sharing a batch, the data
service) and passes it on to the stream it builds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from typing import Any, ClassVar, Protocol

from fastfeed import files


# ------------------------------------------------------------------------- config
@dataclasses.dataclass(frozen=True)
class Config:
    """What every task's config holds; a task's config adds its own fields."""

    task: str = ""  # the task's name (set by each task's Config)
    model: str = ""  # "" = the task's default model
    steps: int = 1000
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 5e-4
    seed: int = 0
    batch_size: int = 16  # examples (or pairs) per step, over all replicas
    log_every: int = 50
    checkpoint_every: int = 250
    eval_every: int = 0  # also run the task's ``validate`` every N steps (0: never)
    precision: str = "auto"  # auto (mixed_float16 on GPU), float32, mixed_float16, mixed_bfloat16
    jit: str = "auto"  # auto (XLA on GPU), on, off
    strategy: str = "auto"  # auto (mirrored on 2+ GPUs), default, one_device, mirrored,
    # multiworker (TF_CONFIG: MultiWorkerMirroredStrategy over several hosts)
    data_service: str = ""  # HOST:PORT of a tf.data service dispatcher (fastfeed serve-data)
    data_service_job: str = ""  # trainers with the same job share one stream ("": derived)
    data_service_timeout: float = 120.0  # seconds to wait for the dispatcher to answer
    init: str = ""  # start from this model.keras (fine-tuning) instead of a new --model

    # What each numeric field allows, declared once: (low, high or None, low excluded,
    # a step the value must be a multiple of; the last two optional).
    # A task's Config adds its own fields' (check_common reads them all).
    RANGES: ClassVar[dict] = {
        "steps": (1, None), "batch_size": (1, None), "log_every": (1, None),
        "checkpoint_every": (1, None), "eval_every": (0, None), "seed": (0, None),
        "learning_rate": (0, None, True), "warmup_steps": (0, None),
        "weight_decay": (0, None), "data_service_timeout": (0, None, True)}
    # The fields that name files or folders the run reads (a list ``PATH[:WEIGHT],...``
    # or one path); a task's Config adds its own. The run folder may be none of them,
    # nor inside or around one (files.write_conflict).
    READS: ClassVar[tuple] = ("init",)


def read_paths(config) -> dict[str, list[str]]:
    """``{'--field': [paths]}`` of the files and folders ``config`` reads (each
    class's ``READS``), a mix's ``:WEIGHT`` left off."""
    return {"--" + key.replace("_", "-"): files.listed_paths(getattr(config, key, ""))
            for klass in type(config).__mro__ for key in klass.__dict__.get("READS", ())}


def ranges(config_class) -> dict:
    """Every ``RANGES`` entry of ``config_class`` and the classes it extends."""
    found = {}
    for klass in reversed(config_class.__mro__):
        found.update(klass.__dict__.get("RANGES", {}))
    return found


def _spec(spec: tuple) -> tuple:
    """``(low, high, above, step)`` of a RANGES entry (the last two optional)."""
    return (*spec, False, None)[:4] if len(spec) < 4 else spec


def allowed(spec: tuple) -> str:
    low, high, above, step = _spec(spec)
    if high is None:
        text = f"{'more than' if above else 'at least'} {low:g}"
    else:
        text = f"from {low:g}{' (excluded)' if above else ''} to {high:g}"
    return f"{text}, a multiple of {step}" if step else text


def outside(value, spec: tuple) -> bool:
    """Whether ``value`` is outside the range (NaN and infinities always are: NaN
    passes every comparison)."""
    low, high, above, step = _spec(spec)
    return (not math.isfinite(value) or (value <= low if above else value < low)
            or (high is not None and value > high)
            or bool(step and value % step))


def just_outside(spec: tuple) -> list:
    """The values next to the range, outside it (what the tests try)."""
    low, high, above, step = _spec(spec)
    return ([low if above else low - 1] + ([high + 1] if high is not None else [])
            + ([low + 1] if step else []))


class ConfigError(ValueError):
    """An unknown key or a value of the wrong type or range, with the fix."""


class TaskError(ValueError):
    """A task module that does not meet the :class:`Task` interface."""


def _convert(key: str, text: str, kind) -> Any:
    """``text`` as the field's type: int, float, bool, str or a tuple of ints/floats."""
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if origin is tuple:
            item = typing.get_args(kind)[0]
            value = tuple(item(part) for part in text.split(",") if part.strip())
        else:
            value = kind(text)
        if any(isinstance(v, float) and not math.isfinite(v)
               for v in (value if isinstance(value, tuple) else (value,))):
            raise ConfigError(f"--{key.replace('_', '-')} {text!r}: NaN and infinities "
                              f"are refused; give finite numbers.")
        return value
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"--{key.replace('_', '-')} {text!r}: expected "
                          f"{getattr(kind, '__name__', str(kind))}.") from None


def with_overrides(config, overrides: dict[str, str]):
    """``config`` with ``{key: text}`` overrides converted to each field's type; an
    unknown key is an error listing the known ones."""
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for key, text in overrides.items():
        key = key.replace("-", "_")
        if key not in fields:
            known = ", ".join("--" + name.replace("_", "-") for name in sorted(fields))
            raise ConfigError(f"Unknown option --{key.replace('_', '-')} for task "
                              f"{config.task!r}. Known: {known}.")
        changes[key] = _convert(key, text, hints[key])
    return dataclasses.replace(config, **changes)


PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
SWITCHES = ("auto", "on", "off")
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multiworker")


def check_augment(key: str, spec: str, dtypes: dict | None = None) -> None:
    """ConfigError naming ``--key`` unless ``spec`` is a registry spec (and, given the
    stream's key ``dtypes``, one whose ops can handle them: see Pipeline.check)."""
    from fastfeed.compose import augment

    try:
        pipeline = augment.parse(spec)
        if dtypes is not None:
            pipeline.check(dtypes)
    except ValueError as error:
        raise ConfigError(f"--{key.replace('_', '-')}: {error}") from None


def check_common(config) -> None:
    """Every declared range (:func:`ranges`), then the fields every config holds (a
    task checks the rest of its own in ``check``)."""
    for key, spec in ranges(type(config)).items():
        if outside(getattr(config, key), spec):
            raise ConfigError(f"--{key.replace('_', '-')} {getattr(config, key)}: use a "
                              f"value {allowed(spec)}.")
    if config.strategy == "multiworker":
        text = os.environ.get("TF_CONFIG", "")
        try:
            cluster = json.loads(text) if text else None
        except ValueError as error:
            raise ConfigError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
        if not isinstance(cluster, dict) or "cluster" not in cluster or "task" not in cluster:
            raise ConfigError("--strategy multiworker reads the cluster from the "
                              "TF_CONFIG environment variable, which must be JSON with "
                              "'cluster' and 'task' (see docs/scaling.md); it is "
                              f"{text or 'not set'}.")
    if config.data_service:
        from fastfeed.compose import service

        try:
            service.address(config.data_service)
        except ValueError as error:
            raise ConfigError(f"--data-service: {error}") from None
    if config.init and not os.path.isfile(config.init):
        raise ConfigError(f"--init {config.init}: not found; give a model.keras written "
                          f"by `fastfeed train` (a run's <unit>/model.keras).")
    for key, choices in (("precision", PRECISIONS), ("jit", SWITCHES),
                         ("strategy", STRATEGIES)):
        if getattr(config, key) not in choices:
            raise ConfigError(f"--{key} {getattr(config, key)!r}: use one of "
                              f"{', '.join(choices)}.")


# Inputs a model of each registered kind of output takes (models.register's facts).
MODEL_INPUTS = {"pair": 2, "mask": 1}


def check_model(config, output: str) -> None:
    """ConfigError unless ``--model`` is a registered model with this kind of output
    (``'pair'``, ``'mask'``) and ``--init``, when given, is a model that takes as many
    inputs."""
    from fastfeed import models

    try:
        kind = models.metadata(config.model)["output"]
    except ValueError as error:
        raise ConfigError(f"--model {error}") from None
    if kind != output:
        fitting = [name for name in models.available()
                   if models.metadata(name)["output"] == output]
        raise ConfigError(f"--model {config.model}: a {kind or 'other'} model; --task "
                          f"{config.task} trains {', '.join(fitting)}.")
    if not (config.init and os.path.isfile(config.init)):
        return
    try:
        model = models.load(config.init)
    except ValueError as error:
        raise ConfigError(f"--init {error}") from None
    if len(model.inputs) != MODEL_INPUTS[output]:
        raise ConfigError(f"--init {config.init} ({model.name}) takes "
                          f"{len(model.inputs)} input(s); --task {config.task} fine-tunes "
                          f"a model that takes {MODEL_INPUTS[output]} (was it trained "
                          f"for another task?).")


# --------------------------------------------------------------------------- feed
@dataclasses.dataclass(frozen=True)
class Feed:
    """Where a trainer's stream starts and what part of it is its own, decided by the
    loop: from batch ``start``; of every ``shard[0]`` batches, batch ``shard[1]``; a
    global batch shared by ``replicas``; read from the tf.data service at ``service``
    (job ``job_name``) when set."""

    start: int = 0
    shard: tuple[int, int] = (1, 0)
    replicas: int = 1
    service: str | None = None
    job_name: str | None = None

    def per_replica(self, batch_size: int, option: str = "batch-size") -> int:
        """``batch_size`` (a global batch) shared by the replicas; a clear error when
        it does not divide."""
        if batch_size % self.replicas:
            raise ConfigError(f"--{option} {batch_size} is the global batch: make it a "
                              f"multiple of the {self.replicas} replicas.")
        return batch_size // self.replicas

    def batches(self, make_batch):
        """``make_batch(k)`` (tensor k: the batch number, from 0) for this trainer's
        batch numbers, through the data service when set: the stream of a task that
        makes each batch from its number."""
        from fastfeed.compose import service

        return service.batches(make_batch, self.start, self.shard, self.service,
                               self.job_name)

    def stream_args(self) -> dict:
        """The keyword arguments fastfeed's streams take for it."""
        return {"start": self.start, "shard": self.shard, "service": self.service,
                "job_name": self.job_name}


# --------------------------------------------------------------------------- task
@dataclasses.dataclass(frozen=True)
class Unit:
    """One model the task trains (a task with cross-validation folds has several)."""

    name: str


class Task(Protocol):
    """What a task module provides (as module-level names)."""

    Config: type  # a frozen dataclass extending fastfeed.tasks.base.Config

    def check(self, config) -> None:
        """Raises :class:`ConfigError` for a bad value, with the fix."""

    def smoke(self, config):
        """``config`` shrunk to a run of seconds on a CPU (``--smoke``, the tests)."""

    def prepare(self, config) -> Any:
        """Reads the data once; what it returns is passed back as ``data``."""

    def stream(self, config, data, unit, feed: Feed):
        """The unit's training batches (a ``tf.data.Dataset``) as ``feed`` says."""

    def loss(self, config, model, batch, training: bool):
        """``(scalar loss, {name: scalar logged beside it})``."""

    def evaluate(self, config, data, unit, model) -> dict:
        """A trained unit's metrics (JSON-ready)."""

    def summarize(self, config, results: dict) -> dict:
        """The run's metrics from ``{unit name: evaluate(...)}``."""

    # Optional (defaults below):
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


def _resolve(config):
    return config


def _units(config, data) -> list:
    return [Unit("main")]


def _model_kwargs(config) -> dict:
    return {}


def _examples_per_batch(config) -> int:
    return config.batch_size


def _validate(config, data, unit, model) -> dict:
    return {}


REQUIRED = ("Config", "check", "smoke", "prepare", "stream", "loss", "evaluate",
            "summarize")
OPTIONAL = {"resolve": _resolve, "units": _units, "model_kwargs": _model_kwargs,
            "examples_per_batch": _examples_per_batch, "validate": _validate}


def bind(name: str, module: types.ModuleType) -> Task:
    """The task ``name`` from its module, optional functions filled in; a clear error
    naming what is missing."""
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise TaskError(f"Task {name!r} ({module.__name__}) lacks {', '.join(missing)}: "
                        f"a task module defines {', '.join(REQUIRED)} (see "
                        f"fastfeed.tasks.base.Task).")
    if not (isinstance(module.Config, type) and issubclass(module.Config, Config)
            and dataclasses.is_dataclass(module.Config)):
        raise TaskError(f"Task {name!r}: {module.__name__}.Config must be a dataclass "
                        f"extending fastfeed.tasks.base.Config.")
    not_callable = [attr for attr in REQUIRED[1:] + tuple(OPTIONAL)
                    if hasattr(module, attr) and not callable(getattr(module, attr))]
    if not_callable:
        raise TaskError(f"Task {name!r}: {', '.join(not_callable)} must be functions.")
    found = {attr: getattr(module, attr) for attr in REQUIRED}
    found.update({attr: getattr(module, attr, default) for attr, default in OPTIONAL.items()})
    return types.SimpleNamespace(name=name, module=module, **found)
