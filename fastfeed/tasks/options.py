"""The config machinery behind :mod:`fastfeed.tasks.base`: fields declared with their
help and range (:func:`option`), ``--key value`` text converted to each field's type,
the checks every config gets, and the help ``fastfeed train --task NAME --help`` prints.

A field declares what it allows beside its default::

    image_size: int = option(128, "training composites (px)", low=32, high=4096, step=32)
    protocol: str = option("view1", "the LFW protocol", choices=("view1", "view2"))

A task's config may give an inherited field a new default with a plain value
(``steps: int = 2000``): its help and range stay those declared where the field was
first made. :func:`check_fields` checks types, ranges and choices and imports nothing
heavy, so a bad value is refused before TensorFlow loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import typing
from typing import Any


class ConfigError(ValueError):
    """An unknown key or a value of the wrong type or range, with the fix."""


def option(default, help: str, *, low: float | None = None, high: float | None = None,
           above: bool = False, step: int | None = None, choices: tuple = (),
           names: str = ""):
    """A config field: its ``default``, one line of ``help``, and what it allows: a
    range ``[low, high]`` (``above``: low excluded; ``high`` None: no upper bound;
    ``step``: a multiple of it), ``choices``, or ``names``: ``'model'`` (a registered
    model's name, or '') or ``'augment'`` (a spec of registered ops, '' or 'auto')."""
    facts: dict[str, Any] = {"help": help}
    if low is not None:
        facts["range"] = (low, high, above, step)
    if choices:
        facts["choices"] = tuple(choices)
    if names:
        facts["names"] = names
    return dataclasses.field(default=default, metadata=facts)


def facts(config_class) -> dict[str, dict]:
    """``{field: {'help', 'range', 'choices'}}`` of every field of ``config_class``,
    each merged from the classes it extends (the first declaration's help and range
    stay unless a later ``option`` gives new ones)."""
    found: dict[str, dict] = {}
    for klass in reversed(config_class.__mro__):
        for name, field in klass.__dict__.get("__dataclass_fields__", {}).items():
            found.setdefault(name, {}).update(field.metadata)
    return {f.name: found.get(f.name, {}) for f in dataclasses.fields(config_class)}


def ranges(config_class) -> dict[str, tuple]:
    """``{field: (low, high, above, step)}`` of the fields that declare a range."""
    return {name: fact["range"] for name, fact in facts(config_class).items()
            if "range" in fact}


def allowed(spec: tuple) -> str:
    """A range in words: ``'at least 1'``, ``'from 32 to 4096, a multiple of 32'``."""
    low, high, above, step = spec
    if high is None:
        text = f"{'more than' if above else 'at least'} {low:g}"
    else:
        text = f"from {low:g}{' (excluded)' if above else ''} to {high:g}"
    return f"{text}, a multiple of {step}" if step else text


def outside(value, spec: tuple) -> bool:
    """Whether ``value`` is outside the range (NaN and infinities always are: NaN
    passes every comparison)."""
    low, high, above, step = spec
    return (not math.isfinite(value) or (value <= low if above else value < low)
            or (high is not None and value > high)
            or bool(step and value % step))


def just_outside(spec: tuple) -> list:
    """The values next to the range, outside it (what the tests try)."""
    low, high, above, step = spec
    return ([low if above else low - 1] + ([high + 1] if high is not None else [])
            + ([low + 1] if step else []))


def flag(key: str) -> str:
    """``'batch_size'`` -> ``'--batch-size'``."""
    return "--" + key.replace("_", "-")


def _convert(key: str, text: str, kind) -> Any:
    """``text`` as the field's type: int, float, bool, str or a tuple of ints/floats."""
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            value = tuple(item(part) for part in text.split(",") if part.strip())
        else:
            value = kind(text)
    except ValueError:
        raise ConfigError(f"{flag(key)} {text!r}: expected {_type_name(kind)}.") from None
    if any(isinstance(v, float) and not math.isfinite(v)
           for v in (value if isinstance(value, tuple) else (value,))):
        raise ConfigError(f"{flag(key)} {text!r}: NaN and infinities are refused; give "
                          f"finite numbers.")
    return value


def _type_name(kind) -> str:
    if typing.get_origin(kind) is tuple:
        return f"{typing.get_args(kind)[0].__name__},..."
    return getattr(kind, "__name__", str(kind))


def with_overrides(config, overrides: dict[str, str]):
    """``config`` with ``{key: text}`` overrides converted to each field's type; an
    unknown key is an error listing the known ones."""
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for key, text in overrides.items():
        key = key.replace("-", "_")
        if key not in fields:
            known = ", ".join(flag(name) for name in sorted(fields))
            raise ConfigError(f"Unknown option {flag(key)} for task {config.task!r}. "
                              f"Known: {known} (fastfeed train --task {config.task} "
                              f"--help says what each does).")
        changes[key] = _convert(key, text, hints[key])
    return dataclasses.replace(config, **changes)


def check_fields(config) -> None:
    """Every field against its declared range or choices (nothing heavy is imported:
    this runs before TensorFlow loads)."""
    for key, fact in facts(type(config)).items():
        value = getattr(config, key)
        if "range" in fact and outside(value, fact["range"]):
            raise ConfigError(f"{flag(key)} {value}: use a value "
                              f"{allowed(fact['range'])}.")
        if "choices" in fact and value not in fact["choices"]:
            raise ConfigError(f"{flag(key)} {value!r}: use one of "
                              f"{_listed(fact['choices'])}.")
        if fact.get("names") and value not in ("", "auto"):
            _check_names(key, value, fact["names"])


def _check_names(key: str, value: str, kind: str) -> None:
    """A model's name or an augmentation spec's op names, against what the registries
    declare in their source (read without importing them: no TensorFlow yet)."""
    from fastfeed import models
    from fastfeed.compose import opspec

    if kind == "model":
        known, what = sorted(models.declared()), "model"
        unknown = [] if value in known else [value]
    else:
        known, what = sorted(opspec.declared_ops()), "augmentation op"
        try:
            unknown = opspec.unknown_ops(value)
        except ValueError as error:
            raise ConfigError(f"{flag(key)} {value!r}: {error}") from None
    if unknown:
        raise ConfigError(f"{flag(key)} {value!r}: unknown {what} {unknown[0]!r}."
                          f"{opspec.did_you_mean(unknown[0], known)} "
                          f"Available: {', '.join(known)}.")


def _listed(choices) -> str:
    return ", ".join(str(choice) if choice != "" else "''" for choice in choices)


def help_parser(config_class, task_fields: set[str], task: str) -> argparse.ArgumentParser:
    """An argparse parser whose help lists every field of ``config_class``: the task's
    own (``task_fields``) first, then those of every task, each with its type,
    default and what it allows."""
    parser = argparse.ArgumentParser(add_help=False, usage=argparse.SUPPRESS)
    own = parser.add_argument_group(f"options of --task {task}")
    common = parser.add_argument_group("options of every task")
    hints, declared = typing.get_type_hints(config_class), facts(config_class)
    for field in dataclasses.fields(config_class):
        if field.name == "task":
            continue
        fact = declared[field.name]
        default = field.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parts = [fact.get("help", ""), f"default: {shown!r}" if shown == "" else
                 f"default: {shown}"]
        if "range" in fact:
            parts.append(allowed(fact["range"]))
        if "choices" in fact:
            parts.append("one of " + _listed(fact["choices"]))
        text = "; ".join(p for p in parts if p).replace("%", "%%")
        group = own if field.name in task_fields else common
        group.add_argument(flag(field.name), metavar=_type_name(hints[field.name]).upper(),
                           help=text)
    return parser


def read_paths(config) -> dict[str, list[str]]:
    """``{'--field': [paths]}`` of the files and folders ``config`` reads (each
    class's ``READS``), a mix's ``:WEIGHT`` left off."""
    from fastfeed import files

    return {flag(key): files.listed_paths(getattr(config, key, ""))
            for klass in type(config).__mro__ for key in klass.__dict__.get("READS", ())}


def check_common(config) -> None:
    """What every config needs beyond its fields' ranges and choices: TF_CONFIG for
    ``--strategy multiworker``, a well-formed ``--data-service``, ``--init`` present."""
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


def check_augment(key: str, spec: str, dtypes: dict | None = None) -> None:
    """ConfigError naming ``--key`` unless ``spec`` is a registry spec (and, given the
    stream's key ``dtypes``, one whose ops can handle them: see Pipeline.check)."""
    from fastfeed.compose import augment

    try:
        pipeline = augment.parse(spec)
        if dtypes is not None:
            pipeline.check(dtypes)
    except ValueError as error:
        raise ConfigError(f"{flag(key)}: {error}") from None


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
