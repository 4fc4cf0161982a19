"""A training run's folder: ``config.json`` and ``metrics.json``, per unit
``checkpoints/`` (every variable keyed by its name, written atomically, the newest two
kept), ``model.keras``, ``metrics.json`` and ``tensorboard/``; how a run takes its
folder (:func:`prepare`), what ``--overwrite`` clears, where each worker of a
multi-worker training writes."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import zipfile

import numpy as np

from fastfeed import files
from fastfeed.tasks.base import ConfigError

logger = logging.getLogger(__name__)


def prepare(run_dir: str, config, reads: dict[str, list[str]], *, resume: bool,
            overwrite: bool) -> str:
    """The folder this process of the run writes (``run_dir``; a worker's own under
    it in a multi-worker training), checked and holding ``config.json``: refused
    when it is, holds or lies inside what the run ``reads`` (``{'--option': paths}``);
    an earlier run there continued with ``resume`` (with the same config only),
    cleared with ``overwrite`` (:func:`clear`), refused otherwise."""
    if config.strategy == "multiworker":
        run_dir = worker_dir(run_dir)
    config_path = os.path.join(run_dir, "config.json")
    problem = (files.write_conflict(reads, {"--run-dir": run_dir})
               or files.target_problem("--run-dir", run_dir, "folder"))
    if problem:
        raise ConfigError(problem)
    if resume and not os.path.exists(config_path):
        raise ConfigError(f"--resume: {run_dir} holds no run to continue (no "
                          f"{config_path}); leave out --resume to start one.")
    os.makedirs(run_dir, exist_ok=True)
    if os.path.exists(config_path) and not resume:
        if not overwrite:
            raise ConfigError(f"{run_dir} holds an earlier run ({config_path}); pass "
                              f"--resume to continue it, --overwrite to replace it, or "
                              f"choose another --run-dir.")
        clear(run_dir)
    if resume and os.path.exists(config_path):
        with open(config_path) as f:
            saved = json.load(f)
        current = json.loads(json.dumps(dataclasses.asdict(config)))  # tuples as lists
        if saved != current:
            changed = sorted(k for k in set(saved) | set(current)
                             if saved.get(k) != current.get(k))
            raise ConfigError(f"--resume with a config that differs from {config_path} "
                              f"in {', '.join(changed)}; resume with the same options.")
    write_json(config_path, dataclasses.asdict(config))
    return run_dir


def checkpoint_paths(folder: str) -> list[tuple[int, str]]:
    if not os.path.isdir(folder):
        return []
    found = [(int(name[5:-4]), os.path.join(folder, name)) for name in os.listdir(folder)
             if name.startswith("ckpt-") and name.endswith(".npz")]
    return sorted(found)


def variable_keys(variables) -> list[str]:
    """Each variable's path (``conv2d/kernel``, ``adam_w/conv2d_kernel_momentum``), with
    ``#N`` added when N earlier variables share it: the names a checkpoint keys its
    arrays by."""
    seen: dict[str, int] = {}
    keys = []
    for variable in variables:
        path = getattr(variable, "path", None) or variable.name
        keys.append(f"{path}#{seen[path]}" if path in seen else path)
        seen[path] = seen.get(path, 0) + 1
    return keys


def save_checkpoint(folder: str, step: int, variables, keep: int = 2) -> None:
    """Every variable (weights, optimizer moments, augmentation seed states) at
    ``step``, keyed by its path (:func:`variable_keys`), written atomically; the
    ``keep`` newest are kept."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"ckpt-{step}.npz")
    arrays = {key: variable.numpy() for key, variable in
              zip(variable_keys(variables), variables)}
    with files.written_whole(path, ".tmp") as temporary, open(temporary, "wb") as f:
        np.savez(f, **arrays)
    for _, old in checkpoint_paths(folder)[:-keep]:
        os.remove(old)


def restore_checkpoint(folder: str, variables) -> int:
    """Restores the newest readable checkpoint into ``variables``, each from the array
    of its name, shapes checked; its step, or 0 if none. A damaged one (cut short by a
    crash, emptied by a full disk) is passed over with a warning for the one before
    it; one that does not match names what differs."""
    for step, path in reversed(checkpoint_paths(folder)):
        try:
            with np.load(path) as saved:
                values = {key: saved[key] for key in saved.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            logger.warning("Checkpoint %s is damaged (%s); trying the one before it",
                           path, error)
            continue
        keys = variable_keys(variables)
        problem = _mismatch(values, keys, variables)
        if problem:
            raise ConfigError(f"{path} does not fit the model and optimizer: {problem}. "
                              f"Was it written by another config or model? Resume with "
                              f"the run's own options, or use a new --run-dir.")
        for key, variable in zip(keys, variables):
            variable.assign(values[key])
        logger.info("Resumed from %s (step %d)", path, step)
        return step
    return 0


def _mismatch(values: dict, keys: list[str], variables) -> str:
    """What keeps ``values`` (a checkpoint's arrays by name) from fitting ``variables``
    (named ``keys``): missing or unexpected names, or other shapes; "" when it fits."""
    def some(names) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3
                                       else "")

    missing = [key for key in keys if key not in values]
    unexpected = sorted(set(values) - set(keys))
    if missing or unexpected:
        return "; ".join(part for part in (
            missing and f"{len(missing)} variable(s) not in it ({some(missing)})",
            unexpected and f"{len(unexpected)} it holds that the model lacks "
                           f"({some(unexpected)})") if part)
    shapes = [f"{key} is {list(values[key].shape)} there, {list(variable.shape)} here"
              for key, variable in zip(keys, variables)
              if tuple(values[key].shape) != tuple(variable.shape)]
    return some(shapes) if shapes else ""


def clear(run_dir: str) -> None:
    """Removes what a run wrote in ``run_dir`` (its JSON files, and per unit its model,
    metrics, checkpoints and TensorBoard events), and nothing else."""
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
