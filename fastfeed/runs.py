"""A training run's folder: ``config.json`` and ``metrics.json``, per unit
``checkpoints/`` (every variable, written atomically, the newest two kept),
``model.keras``, ``metrics.json`` and ``tensorboard/``; what ``--overwrite`` clears;
where each worker of a multi-worker training writes."""

from __future__ import annotations

import json
import logging
import os

from fastfeed import files
from fastfeed.tasks.base import ConfigError

logger = logging.getLogger(__name__)


def checkpoint_paths(folder: str) -> list[tuple[int, str]]:
    if not os.path.isdir(folder):
        return []
    found = [(int(name[5:-4]), os.path.join(folder, name)) for name in os.listdir(folder)
             if name.startswith("ckpt-") and name.endswith(".npz")]
    return sorted(found)


def save_checkpoint(folder: str, step: int, variables, keep: int = 2) -> None:
    """Every variable (weights, optimizer moments, augmentation seed states) at
    ``step``, written atomically; the ``keep`` newest are kept."""
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"ckpt-{step}.npz")
    with files.written_whole(path, ".tmp") as temporary, open(temporary, "wb") as f:
        np.savez(f, *[v.numpy() for v in variables])
    for _, old in checkpoint_paths(folder)[:-keep]:
        os.remove(old)


def restore_checkpoint(folder: str, variables) -> int:
    """Restores the newest readable checkpoint into ``variables``; its step, or 0 if
    none. A damaged one (cut short by a crash, emptied by a full disk) is passed over
    with a warning for the one before it."""
    import zipfile

    import numpy as np

    for step, path in reversed(checkpoint_paths(folder)):
        try:
            with np.load(path) as saved:
                values = [saved[f"arr_{k}"] for k in range(len(saved.files))]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            logger.warning("Checkpoint %s is damaged (%s); trying the one before it",
                           path, error)
            continue
        if len(values) != len(variables):
            raise ConfigError(f"{path} holds {len(values)} variables, the model and "
                              f"optimizer {len(variables)}: was it written by another "
                              f"config? Use a new --run-dir.")
        for variable, value in zip(variables, values):
            variable.assign(value)
        logger.info("Resumed from %s (step %d)", path, step)
        return step
    return 0


def clear(run_dir: str) -> None:
    """Removes what a run wrote in ``run_dir`` (its JSON files, and per unit its model,
    metrics, checkpoints and TensorBoard events), and nothing else."""
    import shutil

    for name in ("config.json", "metrics.json", "eval_metrics.json"):
        if os.path.isfile(os.path.join(run_dir, name)):
            os.remove(os.path.join(run_dir, name))
    for unit in os.listdir(run_dir):
        folder = os.path.join(run_dir, unit)
        if not os.path.isdir(folder):
            continue
        for name in ("model.keras", "metrics.json"):
            if os.path.isfile(os.path.join(folder, name)):
                os.remove(os.path.join(folder, name))
        for name in ("checkpoints", "tensorboard"):
            if os.path.isdir(os.path.join(folder, name)):
                shutil.rmtree(os.path.join(folder, name))


def worker_dir(run_dir: str) -> str:
    """Where this process of a multi-worker training writes: the chief (TF_CONFIG's
    ``chief``, else worker 0) in ``run_dir``, every other worker in
    ``run_dir/worker-<index>``, so that a run folder on a shared disk is never written
    by two processes."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}")
    role = cluster.get("task", {})
    kind, index = role.get("type", "worker"), int(role.get("index", 0))
    has_chief = bool(cluster.get("cluster", {}).get("chief"))
    if kind == "chief" or (kind == "worker" and index == 0 and not has_chief):
        return run_dir
    return os.path.join(run_dir, f"{kind}-{index}")


def write_json(path: str, value) -> None:
    with files.written_whole(path, ".tmp") as temporary, open(temporary, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
