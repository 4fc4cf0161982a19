"""Adapting the background remover to a user's own photos, without labelling any.

    from fastfeed import adapt
    result = adapt.adapt("shop_photos/", "runs/adapt")   # rounds of self-training
    cutout = background.remove_background("photo.jpg", model=result["model"])

Each round is one ``fastfeed train --task composites`` run that starts from the
previous round's weights (the shipped model first): the previous model labels the
photos (GrabCut seeded by its map; each pixel weighted by whether model-free GrabCut
agrees, see :func:`fastfeed.background.inference.teacher_labels`), and the student learns from
augmented crops of them mixed with generated composites, which keep it from drifting
towards the teacher's mistakes. The next round's teacher is this round's student.
The run folder holds ``round-<r>/`` (a whole training run each) and ``model.keras``,
the last round's model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

from fastfeed import background, files, train

logger = logging.getLogger(__name__)

# Measured in docs/background.md ("Adapting to your photos"): two rounds of 1,200 steps.
DEFAULTS = {"rounds": 2, "steps": 1200, "learning_rate": 3e-4, "warmup_steps": 50}


def round_overrides(photos: str, start_model: str, steps: int, learning_rate: float,
                    warmup_steps: int, extra: dict | None = None) -> dict[str, str]:
    """The ``fastfeed train --task composites`` options of one round."""
    given = {key.replace("-", "_"): value for key, value in (extra or {}).items()}
    return {"unlabeled": photos, "init": start_model, "teacher": start_model,
            "steps": str(steps), "learning_rate": str(learning_rate),
            "warmup_steps": str(warmup_steps), **given}


def summary(metrics: dict) -> str:
    """A round's figures in a line: ``test IoU 0.7961, real IoU 0.6874``."""
    return ", ".join(f"{where} IoU {metrics[where]['iou']:.4f}" for where in ("test", "real")
                     if where in metrics)


def adapt(photos: str, run_dir: str, *, base: str | None = None,
          rounds: int = DEFAULTS["rounds"], steps: int = DEFAULTS["steps"],
          learning_rate: float = DEFAULTS["learning_rate"],
          warmup_steps: int = DEFAULTS["warmup_steps"], extra: dict | None = None,
          overwrite: bool = False, resume: bool = False,
          report: train.Report | None = None) -> dict:
    """Self-trains ``base`` (default: the shipped model) on the photos under
    ``photos`` for ``rounds`` rounds of ``steps`` steps; ``extra``: more composites
    task options as ``{key: text}`` (``objects``, ``backgrounds``, ``eval_real``...);
    ``overwrite``: replace the rounds of an earlier adaptation in ``run_dir``;
    ``resume``: continue one that was interrupted (finished rounds are kept, the
    interrupted one goes on from its checkpoint; the same options are needed).
    Returns ``{'model': path, 'rounds': [each round's metrics], 'wall_s': ...}``.
    Ctrl-C in a round's training raises :class:`fastfeed.train.Interrupted` with its
    checkpoint saved."""
    if rounds < 1 or steps < 1:
        raise train.ConfigError(f"rounds {rounds}, steps {steps}: both at least 1.")
    if resume and not os.path.isfile(os.path.join(run_dir, "round-1", "config.json")):
        raise train.ConfigError(f"--resume: {run_dir} holds no adaptation to continue "
                                f"(no round-1/config.json); leave out --resume to start one.")
    model_path = base or background.DEFAULT_MODEL
    started, results = time.perf_counter(), []
    for number in range(1, rounds + 1):
        config = train.make_config("composites", round_overrides(
            photos, model_path, steps, learning_rate, warmup_steps, extra))
        round_dir = os.path.join(run_dir, f"round-{number}")
        done = os.path.join(round_dir, "metrics.json")
        if resume and os.path.isfile(done):
            logger.info("Round %d of %d: done before (%s)", number, rounds, done)
            with open(done) as f:
                results.append(json.load(f))
            model_path = os.path.join(round_dir, "main", "model.keras")
            continue
        logger.info("Round %d of %d: %s labels %s", number, rounds, model_path, photos)
        kwargs = {"report": report} if report else {}
        metrics = train.run(config, round_dir, overwrite=overwrite, **kwargs,
                            resume=resume and os.path.isfile(
                                os.path.join(round_dir, "config.json")))
        results.append(metrics)
        logger.info("Round %d done: %s", number, summary(metrics))
        model_path = os.path.join(round_dir, "main", "model.keras")
    final = os.path.join(run_dir, "model.keras")
    with files.written_whole(final, ".tmp") as temporary:
        shutil.copyfile(model_path, temporary)
    return {"model": final, "rounds": results,
            "wall_s": round(time.perf_counter() - started, 1)}
