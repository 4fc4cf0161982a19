"""Training tasks: one module each, found by name (`fastfeed train --task NAME`).

``fastfeed.tasks.<NAME>`` is the task ``NAME`` (``lfw``, ``composites``); your own
module is a task by its name (``--task my_task`` with ``my_task.py`` on
``PYTHONPATH``, or ``--task mypackage.my_task``), so adding a task is writing one
module. A plain name found only in the Python installation (``--task os``) is refused
without importing it. What a task module holds is :class:`fastfeed.tasks.base.Task`;
:func:`get` checks it.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import typing

from fastfeed.tasks.base import (OPTIONAL, ConfigError, Task, TaskError, bind,
                                 check_common, with_overrides)

_NOT_TASKS = {"base"}


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


def make_config(task_name: str, overrides: dict[str, str] | None = None,
                smoke: bool = False):
    """The resolved config of ``task_name``: its defaults, the ``--smoke`` preset,
    then the overrides (they win), then the task's derived defaults; checked."""
    task = get(task_name)
    config = task.Config()
    if smoke:
        config = task.smoke(config)
    config = with_overrides(config, {"task": task_name, **(overrides or {})})
    check_common(config)
    if config.eval_every and task.validate is OPTIONAL["validate"]:
        raise ConfigError(f"--eval-every: task {task_name!r} has no validation to run "
                          f"during training; leave it at 0.")
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
