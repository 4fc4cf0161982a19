"""The training script behind `fastfeed train`: one loop, every task.

    fastfeed train --task lfw --protocol view1 --lfw $FASTFEED_DATA/lfw --run-dir runs/v1
    fastfeed train --task lfw --smoke --lfw $FASTFEED_DATA/lfw --run-dir /tmp/smoke

It reads top to bottom. :func:`run` takes a config (a frozen dataclass per task, made
and checked by :func:`fastfeed.tasks.make_config` from typed ``--key value`` pairs),
prepares the run folder (:func:`fastfeed.runs.prepare`), sets up the devices
(precision, XLA, ``tf.distribute``), trains one model per unit of the task's protocol
(View 1: one; View 2: a fold each) in :func:`train_unit`, with checkpoints every
``checkpoint_every`` steps and ``--resume``, TensorBoard scalars and the task's
evaluation, and writes ``metrics.json``. The pieces it uses follow it in the order it
uses them. What differs per task (data, stream, model arguments, loss, evaluation)
lives in :mod:`fastfeed.tasks`.

Run folder: ``config.json``, ``metrics.json``, and per unit ``<unit>/model.keras``,
``<unit>/metrics.json``, ``<unit>/checkpoints/`` and ``<unit>/tensorboard/``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import threading
import time
from typing import Callable

import keras
import tensorflow as tf

from fastfeed import models, runs, tasks
from fastfeed.compose import service
from fastfeed.tasks import load_config, make_config, options
from fastfeed.tasks.base import Config, ConfigError, Feed

__all__ = ["Config", "ConfigError", "make_config", "load_config", "run", "evaluate_run"]

logger = logging.getLogger(__name__)

# (unit, step, steps, the training means since the last report, the task's
# validation figures when it ran at this step, else {})
Report = Callable[[str, int, int, dict, dict], None]


def _log_report(unit: str, step: int, steps: int, logs: dict, validation: dict) -> None:
    logger.info("%s step %d/%d %s", unit, step, steps,
                " ".join(f"{k} {v:.4g}" for k, v in {**logs, **validation}.items()))


def run(config, run_dir: str, *, resume: bool = False, overwrite: bool = False,
        report: Report = _log_report) -> dict:
    """Trains and evaluates every unit of ``config``'s task; returns (and writes to
    ``run_dir/metrics.json``) the task's metrics. A folder that holds an earlier run is
    continued with ``resume``, replaced with ``overwrite`` (its checkpoints, models,
    metrics and TensorBoard events removed first), and refused otherwise."""
    task = tasks.get(config.task)
    run_dir = runs.prepare(run_dir, config, options.read_paths(config), resume=resume,
                           overwrite=overwrite)
    started = time.perf_counter()
    if config.data_service:  # a dispatcher that never answers must not hang the run
        service.wait_for(config.data_service, config.data_service_timeout)
    strategy, jit = setup_devices(config)
    data = task.prepare(config)
    results = {}
    for unit in task.units(config, data):
        unit_dir = os.path.join(run_dir, unit.name)
        done_path = os.path.join(unit_dir, "metrics.json")
        if resume and os.path.exists(done_path):
            with open(done_path) as f:
                results[unit.name] = json.load(f)
            logger.info("%s: already finished, metrics read from %s", unit.name, done_path)
            continue
        unit_started = time.perf_counter()
        model = train_unit(config, task, data, unit, unit_dir, strategy, jit, resume, report)
        model.save(os.path.join(unit_dir, "model.keras"))
        result = task.evaluate(config, data, unit, model)
        result["wall_s"] = round(time.perf_counter() - unit_started, 1)
        runs.write_json(done_path, result)
        results[unit.name] = result
        keras.backend.clear_session()
    metrics = task.summarize(config, results)
    metrics["wall_s"] = round(time.perf_counter() - started, 1)
    runs.write_json(os.path.join(run_dir, "metrics.json"), metrics)
    return metrics


def train_unit(config, task, data, unit, unit_dir: str, strategy, jit: bool,
               resume: bool, report: Report):
    """Trains one model for ``unit`` and returns it (restarting from the newest
    checkpoint in ``unit_dir`` when ``resume``; the stream restarts at that batch)."""
    model, optimizer = build(config, task, strategy)
    state = model.variables + optimizer.variables
    checkpoints = os.path.join(unit_dir, "checkpoints")
    start = runs.restore_checkpoint(checkpoints, state) if resume else 0
    batches = iter(distribute_stream(config, task, data, unit, start, strategy))
    if config.data_service:
        batches = first_within(batches, config.data_service_timeout,
                               f"no batch from the tf.data service at {config.data_service} "
                               f"after {config.data_service_timeout:g} s: is a `fastfeed "
                               f"serve-data worker --dispatcher {config.data_service}` "
                               f"running and registered with it? (the wait is "
                               f"--data-service-timeout)")
    train_step = make_train_step(config, task, model, optimizer, strategy, jit)

    writer = tf.summary.create_file_writer(os.path.join(unit_dir, "tensorboard"))
    examples = task.examples_per_batch(config)
    totals, seen, clock = {}, 0, time.perf_counter()
    with _StopRequest() as ctrl_c, contextlib.closing(writer):
        for step in range(start, config.steps):
            if ctrl_c.requested:  # between two steps: the checkpoint is exact
                runs.save_checkpoint(checkpoints, step, state)
                raise Interrupted(f"{unit.name}: stopped at step {step} of "
                                  f"{config.steps}; a checkpoint is saved in "
                                  f"{checkpoints}, and the same command with --resume "
                                  f"continues from it.")
            logs = train_step(next(batches))
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + value  # tensors: no sync per step
            seen += 1
            done = step + 1
            if done % config.checkpoint_every == 0 or done == config.steps:
                runs.save_checkpoint(checkpoints, done, state)
            if done % config.log_every == 0 or done == config.steps:
                elapsed = time.perf_counter() - clock
                means = {key: float(value) / seen for key, value in totals.items()}
                means["learning_rate"] = float(optimizer.learning_rate)
                means["steps_per_s"] = seen / elapsed
                means["examples_per_s"] = seen * examples / elapsed
                validation = (task.validate(config, data, unit, model)
                              if config.eval_every and done % config.eval_every == 0
                              else {})
                with writer.as_default(step=done):
                    for key, value in {**means, **validation}.items():
                        tf.summary.scalar(key, value)
                report(unit.name, done, config.steps, means, validation)
                totals, seen, clock = {}, 0, time.perf_counter()
    return model


# ---------------------------------------------------------------- the pieces
def setup_devices(config):
    """``(strategy, jit)`` for the devices present, with the precision policy set:
    on GPUs mixed_float16 and XLA by default, a MirroredStrategy over two or more;
    on CPU float32 and no XLA unless asked (``precision='mixed_bfloat16'``,
    ``jit='on'`` and ``strategy='mirrored'`` over logical CPUs run there too, which is
    how the tests exercise those paths)."""
    # MultiWorkerMirroredStrategy sets up collectives, which must come before anything
    # else starts TF's runtime (listing devices included).
    multiworker = (tf.distribute.MultiWorkerMirroredStrategy()
                   if config.strategy == "multiworker" else None)
    gpus = tf.config.list_logical_devices("GPU")
    precision = config.precision
    if precision == "auto":
        precision = "mixed_float16" if gpus else "float32"
    keras.mixed_precision.set_global_policy(precision)
    jit = config.jit == "on" or (config.jit == "auto" and bool(gpus))
    name = config.strategy
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else ("one_device" if gpus else "default")
    if multiworker:
        strategy = multiworker
    elif name == "mirrored":
        # Every GPU; without GPUs every logical CPU (how a test runs two replicas).
        devices = gpus or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    elif name == "one_device":
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    else:
        strategy = tf.distribute.get_strategy()
    logger.info("Devices: %d GPU(s); precision %s, XLA %s, strategy %s (%d replica(s))",
                len(gpus), precision, "on" if jit else "off", name,
                strategy.num_replicas_in_sync)
    return strategy, jit


def build(config, task, strategy):
    """``(model, optimizer)`` for ``config``, seeded, under ``strategy``'s scope, in a
    fresh Keras session (the same variable names every time: see runs.save_checkpoint)."""
    keras.backend.clear_session()  # layer names from 0: checkpoints key variables by them
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        if config.init:  # fine-tuning: the saved model itself, its weights and all
            model = models.load(config.init)
            logger.info("Started from %s", config.init)
        else:
            model = models.get(config.model, **task.model_kwargs(config))
        optimizer = make_optimizer(config)
        optimizer.build(model.trainable_variables)
    return model, optimizer


def make_optimizer(config):
    """AdamW with a linear warm-up then cosine decay to zero at ``steps``; wrapped for
    loss scaling under mixed_float16."""
    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            warmup = max(config.warmup_steps, 1)
            progress = keras.ops.clip((step - warmup) / max(config.steps - warmup, 1), 0, 1)
            cosine = 0.5 * (1 + keras.ops.cos(3.141592653589793 * progress))
            return config.learning_rate * keras.ops.where(
                step < warmup, (step + 1) / warmup, cosine)

    optimizer = keras.optimizers.AdamW(WarmupCosine(), weight_decay=config.weight_decay)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def distribute_stream(config, task, data, unit, start: int, strategy):
    """The task's stream from batch ``start`` on, split over ``strategy``'s replicas.

    One host: the stream's global batches, split by ``experimental_distribute_dataset``.
    Several workers (``--strategy multiworker``): one stream per worker, built by
    ``distribute_datasets_from_function`` at the per-replica batch size, worker i of n
    taking batches i, i + n, ... (``shard``), so no two workers see the same batch.
    With ``--data-service``, every worker reads one shared service job instead (the
    service hands each batch to one of them)."""
    service, job = None, None
    if config.data_service:
        service = config.data_service
        job = (config.data_service_job
               or f"fastfeed-{config.task}-{unit.name}-seed{config.seed}-from{start}")
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        feed = Feed(start=start, service=service, job_name=job)
        return strategy.experimental_distribute_dataset(
            task.stream(config, data, unit, feed))

    def dataset_fn(context: tf.distribute.InputContext):
        shard = (1, 0) if service else (context.num_input_pipelines,
                                        context.input_pipeline_id)
        feed = Feed(start=start, shard=shard, replicas=context.num_replicas_in_sync,
                    service=service, job_name=job)
        return task.stream(config, data, unit, feed)
    return strategy.distribute_datasets_from_function(dataset_fn)


def make_train_step(config, task, model, optimizer, strategy, jit: bool):
    """``step(distributed batch) -> {loss, accuracy...}`` (means over replicas): the
    task's loss, gradients (loss-scaled under mixed_float16), one optimizer update;
    compiled with XLA when ``jit``."""
    replicas = strategy.num_replicas_in_sync

    def replica_step(batch):
        with tf.GradientTape() as tape:
            loss, logs = task.loss(config, model, batch, training=True)
            scaled = loss / replicas
            if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                scaled = optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, model.trainable_variables)
        # Variables the loss does not reach (a siamese head under an embedding loss)
        # are left alone.
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, model.trainable_variables)
                                   if g is not None])
        return {"loss": loss, **logs}

    compiled = tf.function(replica_step, jit_compile=True) if jit else replica_step

    @tf.function
    def train_step(batch):
        logs = strategy.run(compiled, args=(batch,))
        return {key: strategy.reduce("MEAN", value, axis=None) for key, value in logs.items()}
    return train_step


# ------------------------------------------------------------------ stopping
def first_within(batches, timeout_s: float, message: str):
    """``batches`` with its first item fetched within ``timeout_s`` (else TimeoutError
    with ``message``): a data service job whose workers never come must not hang the
    run. The fetch runs in a daemon thread, so a wait that never ends is left behind."""
    box = {}

    def fetch():
        try:
            box["first"] = next(batches)
        except BaseException as error:  # handed to the caller below
            box["error"] = error

    fetching = threading.Thread(target=fetch, daemon=True)
    fetching.start()
    fetching.join(timeout_s)
    if fetching.is_alive():
        raise TimeoutError(message)
    if "error" in box:
        raise box["error"]
    return itertools.chain([box["first"]], batches)


class Interrupted(Exception):
    """Training stopped by Ctrl-C (SIGINT) between two steps, its checkpoint saved."""


class _StopRequest:
    """Within it, the first Ctrl-C asks the training loop to stop after the current
    step (and save a checkpoint there); a second one interrupts at once. Python's own
    handler is back on leaving, however the loop ends. Only in the main thread
    (elsewhere Python keeps its own handler)."""
    def __enter__(self):

        self.requested, self.previous = False, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._request)
        return self

    def __exit__(self, *exc_info) -> None:
        self.restore()

    def _request(self, signum, frame) -> None:
        self.requested = True
        self.restore()

    def restore(self) -> None:

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def evaluate_run(run_dir: str) -> dict:
    """Re-evaluates a finished run from its saved ``model.keras`` files; writes
    ``run_dir/eval_metrics.json`` and returns the task's metrics."""
    config = load_config(run_dir)
    task = tasks.get(config.task)
    data = task.prepare(config)
    results = {}
    for unit in task.units(config, data):
        path = os.path.join(run_dir, unit.name, "model.keras")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: the run did not finish "
                                    f"{unit.name}; resume it with --resume.")
        model = models.load(path)
        results[unit.name] = task.evaluate(config, data, unit, model)
    metrics = task.summarize(config, results)
    runs.write_json(os.path.join(run_dir, "eval_metrics.json"), metrics)
    return metrics
