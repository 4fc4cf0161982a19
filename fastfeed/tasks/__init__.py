"""One small module per training task: what `fastfeed train` needs to know of it.

A task module holds ``Config`` (a frozen dataclass extending :class:`fastfeed.train.Config`)
and the functions the loop calls: ``resolve(config)`` (defaults that depend on other
fields), ``check(config)``, ``smoke(config)`` (a seconds-long preset), ``prepare(config)``
(load the data once), ``units(config, data)`` (what to train: one unit, or a fold
each), ``model_kwargs``, ``stream``, ``examples_per_batch``, ``loss``, ``evaluate`` and
``summarize``.

``stream(config, data, unit, start=0, shard=(1, 0), replicas=1, service=None,
job_name=None)`` gives the unit's batches from batch ``start`` on; a multi-worker
training asks for this worker's ``shard`` at the per-replica batch (the global batch
over ``replicas``), and ``--data-service`` passes the dispatcher and the shared job.
"""

from __future__ import annotations

import importlib

TASKS = {"lfw": "fastfeed.tasks.lfw", "composites": "fastfeed.tasks.composites"}


def get(name: str):
    """The task module ``name``."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; available: {', '.join(sorted(TASKS))}.")
    return importlib.import_module(TASKS[name])
