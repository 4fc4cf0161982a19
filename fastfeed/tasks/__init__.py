"""One small module per training task: what `fastfeed train` needs to know of it.

A task module holds ``Config`` (a frozen dataclass extending :class:`fastfeed.train.Config`)
and the functions the loop calls: ``resolve(config)`` (defaults that depend on other
fields), ``check(config)``, ``smoke(config)`` (a seconds-long preset), ``prepare(config)``
(load the data once), ``units(config, data)`` (what to train: one unit, or a fold
each), ``model_kwargs``, ``stream``, ``examples_per_batch``, ``loss``, ``evaluate`` and
``summarize``.
"""

from __future__ import annotations

import importlib

TASKS = {"lfw": "fastfeed.tasks.lfw", "composites": "fastfeed.tasks.composites"}


def get(name: str):
    """The task module ``name``."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; available: {', '.join(sorted(TASKS))}.")
    return importlib.import_module(TASKS[name])
