"""Training tasks: one module each, found by name (`fastfeed train --task NAME`).

``fastfeed.tasks.<NAME>`` is the task ``NAME`` (``lfw``, ``composites``); your own
module is a task by its name (``--task my_task`` with ``my_task.py`` on
``PYTHONPATH``, or ``--task mypackage.my_task``), so adding a task is writing one
module. A plain name found only in the Python installation (``--task os``) is refused
without importing it. What a task module holds is :class:`fastfeed.tasks.base.Task`
(``Config``, ``stream`` and ``loss``; the rest optional); :func:`get` checks it and fills
in the defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
import pkgutil
import types
import typing

from fastfeed.tasks import base, options
from fastfeed.tasks.base import ConfigError, Task, TaskError

_NOT_TASKS = {"base", "options"}
REQUIRED = ("Config", "stream", "loss")
OPTIONAL = ("check", "smoke", "prepare", "evaluate", "summarize", "resolve", "units",
            "model_kwargs", "examples_per_batch", "validate")


def available() -> list[str]:
    """The tasks that ship with fastfeed."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if info.name not in _NOT_TASKS)


def get(name: str) -> Task:
    """The task ``name`` (a shipped task, or a module's dotted path), checked."""
    builtin = available()
    if name in builtin:
        return bind(name, importlib.import_module(f"{__name__}.{name}"))
    installed = _installed(name)
    if installed:
        raise TaskError(f"Unknown task {name!r}: not one of {', '.join(builtin)}, but "
                        f"{installed}, which is not imported to check it. Name your own "
                        f"task module on PYTHONPATH (--task my_task) or by its dotted "
                        f"path (--task mypackage.my_task).")
    try:
        module = importlib.import_module(name) if name else None
    except ImportError as error:
        if error.name is None or not name.startswith(error.name):
            raise  # the task module itself failed to import something: show where
        module = None
    if module is None:
        raise TaskError(f"Unknown task {name!r}: not one of {', '.join(builtin)}, nor an "
                        f"importable module (put my_task.py on PYTHONPATH for --task "
                        f"my_task).")
    return bind(name, module)


def _installed(name: str) -> str:
    """Where the module ``name`` lives when it is a plain name (no dot) found only in
    the Python installation (the standard library, site-packages), "" otherwise: such
    a name is a typo or another program's module, and importing it to see whether it
    is a task would run its code (``--task antigravity`` opens a browser)."""
    import importlib.util
    import sys
    import sysconfig

    if not name or "." in name or not name.isidentifier():
        return ""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return ""
    if spec is None:
        return ""
    origin = spec.origin if spec.origin not in (None, "built-in", "frozen") else ""
    if not origin:
        return ("a module built in to Python" if spec.origin in ("built-in", "frozen")
                else "")
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix,
             *sysconfig.get_paths().values()) if p}
    where = os.path.realpath(origin)
    inside = any(where.startswith(root + os.sep) for root in roots)
    return f"a module of the Python installation ({origin})" if inside else ""


def bind(name: str, module: types.ModuleType) -> Task:
    """The task ``name`` from its module, the optional functions it leaves out filled
    in from :mod:`fastfeed.tasks.base`; a clear error naming what is missing."""
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise TaskError(f"Task {name!r} ({module.__name__}) lacks {', '.join(missing)}: "
                        f"a task module defines {', '.join(REQUIRED)} (see "
                        f"fastfeed.tasks.base.Task).")
    if not (isinstance(module.Config, type) and issubclass(module.Config, base.Config)
            and dataclasses.is_dataclass(module.Config)):
        raise TaskError(f"Task {name!r}: {module.__name__}.Config must be a dataclass "
                        f"extending fastfeed.tasks.base.Config.")
    not_callable = [attr for attr in REQUIRED[1:] + OPTIONAL
                    if hasattr(module, attr) and not callable(getattr(module, attr))]
    if not_callable:
        raise TaskError(f"Task {name!r}: {', '.join(not_callable)} must be functions.")
    task = types.SimpleNamespace(name=name, module=module,
                                 own=set(vars(module).keys()) & set(OPTIONAL),
                                 **{attr: getattr(module, attr) for attr in REQUIRED})
    for attr in OPTIONAL:
        setattr(task, attr, getattr(module, attr, getattr(base, attr)))
    if "evaluate" not in task.own:
        task.evaluate = functools.partial(base.evaluate, task)
    return task


def task_fields(task: Task) -> set[str]:
    """The fields a task's Config declares itself (not :class:`base.Config`'s)."""
    common = {field.name for field in dataclasses.fields(base.Config)}
    return {field.name for field in dataclasses.fields(task.Config)} - common


def help_text(task_name: str) -> str:
    """Every option of ``task_name`` with its help, default and range (``fastfeed train
    --task NAME --help``)."""
    task = get(task_name)
    first = (task.module.__doc__ or "").strip().split("\n\n")[0]
    parser = options.help_parser(task.Config, task_fields(task), task_name)
    return f"--task {task_name}: {first}\n\n{parser.format_help()}"


def door_config(task_name: str, overrides: dict[str, str] | None = None,
                smoke: bool = False):
    """The config of ``task_name`` (its defaults, the ``--smoke`` preset, then the
    overrides, which win) with every field's type, range and choices checked; nothing
    heavy imported, so a bad value is refused before TensorFlow loads."""
    return _door_config(get(task_name), task_name, overrides, smoke)


def _door_config(task: Task, task_name: str, overrides: dict[str, str] | None,
                 smoke: bool):
    config = task.Config()
    if smoke:
        config = task.smoke(config)
    config = options.with_overrides(config, {"task": task_name, **(overrides or {})})
    options.check_fields(config)
    if config.eval_every and "validate" not in task.own:
        raise ConfigError(f"--eval-every: task {task_name!r} has no validation to run "
                          f"during training; leave it at 0.")
    return config


def make_config(task_name: str, overrides: dict[str, str] | None = None,
                smoke: bool = False):
    """The resolved config of ``task_name``: :func:`door_config`, then the task's
    derived defaults (``resolve``), then the checks that need more than the fields
    (``--init`` present, the task's ``check``)."""
    task = get(task_name)
    config = _door_config(task, task_name, overrides, smoke)
    options.check_common(config)
    config = task.resolve(config)
    task.check(config)
    return config


def load_config(run_dir: str):
    """The config a run saved in ``run_dir/config.json``."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: is {run_dir!r} a `fastfeed train` "
                                f"run folder?")
    with open(path) as f:
        saved = json.load(f)
    task = get(saved.get("task", ""))
    hints = typing.get_type_hints(task.Config)
    return task.Config(**{k: tuple(v) if typing.get_origin(hints[k]) is tuple else v
                          for k, v in saved.items() if k in hints})
