"""Training tasks: one module each, found by name (`fastfeed train --task NAME`).

``fastfeed.tasks.<NAME>`` is the task ``NAME`` (``lfw``, ``composites``); any other
importable module is a task by its name (``--task my_task`` with ``my_task.py`` on
``PYTHONPATH``, or ``--task mypackage.my_task``), so adding a task is writing one
module. What a task module holds is :class:`fastfeed.tasks.base.Task`; :func:`get`
checks it.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastfeed.tasks.base import Task, TaskError, bind

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
