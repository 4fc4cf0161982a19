"""Face verification on LFW under the official protocol (`fastfeed train --task lfw`).

View 1 trains on everyone but the people of ``pairsDevTest`` (and
``peopleDevTest.txt`` where present), chooses the threshold on the ``pairsDevTrain``
pairs and reports accuracy and ROC AUC on the 1,000 ``pairsDevTest`` pairs. View 2
does that per fold of ``pairs.txt``: train without fold k's people (and
``people.txt``'s fold k), threshold on the other nine folds' pairs, accuracy on fold k;
then the mean and the standard error, as LFW's results page reports them.

Training pairs come from identity labels, so this is LFW's "unrestricted, labelled
outside data: none" setting: no image outside LFW is used, nor any pretrained weight.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import ClassVar

import numpy as np

from fastfeed import files, lfw
from fastfeed.tasks import base, options
from fastfeed.tasks.options import option

logger = logging.getLogger(__name__)

SETTING = "unrestricted (identity labels), no outside data"
PROTOCOLS = ("view1", "view2")
STREAMS = ("auto", "identity", "pairs")
TFDS_PREFIX = "tfds:"  # --lfw tfds:lfw_pairs/deepfunneled reads a built dataset
# (named here: inside Config, `lfw` is the field)
CONFIGS, DEFAULT_CONFIG, NUM_FOLDS = lfw.CONFIGS, lfw.DEFAULT_CONFIG, lfw.NUM_FOLDS


@dataclasses.dataclass(frozen=True)
class Config(base.Config):
    task: str = "lfw"
    model: str = "siamese"
    steps: int = option(2000, "training steps (14 min here on 2 CPU cores; View 2 figures "
                        "use 1000)", low=1)
    lfw: str = option("", "folder with the LFW images (a folder or its .tgz) and the "
                      "protocol files, or tfds:lfw_pairs/<config> for a built lfw_pairs "
                      "dataset (in --data-dir); '': $FASTFEED_DATA/lfw")
    data_dir: str = option("", "TFDS data dir for --lfw tfds:... ('': TFDS' default)")
    lfw_config: str = option("", "which LFW images ('': those --lfw holds, "
                             f"{DEFAULT_CONFIG} when it holds both or names a built "
                             "dataset)", choices=("", *CONFIGS))
    protocol: str = option("view1", "view1: train, threshold and test on View 1; view2: "
                           "the ten folds", choices=PROTOCOLS)
    folds: tuple[int, ...] = option((), f"View 2 folds to run, 1 to {NUM_FOLDS} "
                                    "('': all ten)")
    table_size: int = option(72, "decoded faces (their central part) are this many px, "
                             "random-cropped to --image-size", low=8, high=1024)
    central: float = option(0.56, "central fraction of each photo kept (the 140 px face "
                            "of the 250 px image)", low=0, high=1, above=True)
    image_size: int = option(64, "the model's input (px)", low=8, high=1024)
    stream: str = option("auto", "identity (P x K batches), pairs (pair_stream); auto: by "
                         "model", choices=STREAMS)
    people_per_batch: int = option(32, "identity batches: people per batch (P)", low=2)
    images_per_person: int = option(4, "identity batches: photos per person (K)", low=2)
    batch_size: int = option(128, "pairs per batch for --stream pairs", low=1)
    augment: str = option("auto", "augmentation registry spec; auto: "
                          "random_crop(image_size)|flip_lr", names="augment")
    jitter: float = option(0.0, "colour jitter inside the model (training only)",
                           low=0, high=1)
    temperature: float = option(0.1, "softmax temperature of the identity loss", low=0,
                                above=True)
    # On people it trained on, a model's same-person similarities run higher than on
    # new people, and a threshold chosen there is too strict for the test
    # (measured in docs/training.md).
    calibration_pairs: int = option(600, "the threshold is chosen on this many protocol "
                                    "threshold pairs (half same-person), whose people are "
                                    "then left out of training; 0: all of them, trained "
                                    "on", low=0)
    eval_batch: int = option(256, "pairs per evaluation batch", low=1)
    limit_people: int = option(0, "keep this many training people (0: all); smoke runs",
                               low=0)
    limit_pairs: int = option(0, "keep this many pairs per protocol split (0: all)", low=0)

    READS: ClassVar[tuple] = ("lfw", "data_dir")


# --------------------------------------------------------------------------- config
def _has_embedding(model_name: str) -> bool:
    """Whether the model holds an ``embedding`` sub-model (the registry says)."""
    from fastfeed import models

    try:
        return models.metadata(model_name)["embedding"]
    except ValueError as error:
        raise base.ConfigError(f"--model {error}") from None


def resolve(config: Config) -> Config:
    """``lfw`` (default: the data root's ``lfw/``), ``lfw_config``, ``stream`` and
    ``augment`` made explicit."""
    changes = {}
    folder = config.lfw or files.data_path("lfw")
    if folder != config.lfw:
        changes["lfw"] = folder
    if not config.lfw_config and folder:
        changes["lfw_config"] = (lfw.DEFAULT_CONFIG if folder.startswith(TFDS_PREFIX)
                                 else lfw.detect_config(folder))
    if config.stream == "auto":
        changes["stream"] = "identity" if _has_embedding(config.model) else "pairs"
    if config.augment == "auto":
        changes["augment"] = (f"random_crop({config.image_size})|flip_lr"
                              if config.table_size > config.image_size else "flip_lr")
    return dataclasses.replace(config, **changes)


def check(config: Config) -> None:
    error = base.ConfigError
    options.check_model(config, "pair")
    if config.augment not in ("", "auto"):
        options.check_augment("augment", config.augment)
    if not config.lfw:
        raise error("--lfw DIR is required: a folder holding the LFW images (a folder "
                    "or its .tgz) and pairsDevTrain.txt, pairsDevTest.txt, pairs.txt; "
                    "or tfds:lfw_pairs/deepfunneled for a built lfw_pairs dataset "
                    "(`fastfeed build lfw_pairs` downloads it); or set FASTFEED_DATA to "
                    "a folder holding lfw/ (docs/data.md).")
    bad = [k for k in config.folds if not 1 <= k <= lfw.NUM_FOLDS]
    if bad:
        raise error(f"--folds {','.join(map(str, config.folds))}: folds are 1 to "
                    f"{lfw.NUM_FOLDS}.")
    if config.folds and config.protocol != "view2":
        raise error("--folds is for --protocol view2.")
    if config.image_size > config.table_size:
        raise error(f"--image-size {config.image_size} exceeds --table-size "
                    f"{config.table_size}: crops come from the decoded table.")
    if config.stream == "identity" and not _has_embedding(config.model):
        raise error(f"--stream identity trains an embedding, and model {config.model!r} "
                    f"has none; use --stream pairs.")


def smoke(config: Config) -> Config:
    """Seconds on a CPU: a few steps of tiny batches on a few people and pairs."""
    return dataclasses.replace(
        config, steps=4, warmup_steps=1, log_every=2, checkpoint_every=2, table_size=36,
        image_size=32, people_per_batch=2, images_per_person=2, batch_size=8,
        eval_batch=32, limit_people=40, limit_pairs=20, calibration_pairs=4,
        folds=config.folds or ((1,) if config.protocol == "view2" else ()))


# ----------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class PairRows:
    """Protocol pairs as rows of the decoded table."""

    rows1: np.ndarray
    rows2: np.ndarray
    labels: np.ndarray  # bool

    @classmethod
    def concat(cls, sets):
        return cls(*(np.concatenate([getattr(s, f) for s in sets])
                     for f in ("rows1", "rows2", "labels")))


@dataclasses.dataclass(frozen=True)
class Unit:
    """One training of the protocol: who is left out, where the threshold is chosen,
    what is tested."""

    name: str
    exclude: frozenset
    threshold_pairs: PairRows
    test_pairs: PairRows
    test_people: frozenset


@dataclasses.dataclass(frozen=True)
class Data:
    faces: object  # fastfeed.compose.faces.Faces
    splits: dict  # protocol split -> PairRows
    split_people: dict  # protocol split -> people named by its pairs
    fold_people: dict  # "test" / "fold<k>" -> people of the people files (may be empty)


def _trim(pairs, limit):
    """``limit`` pairs, half of them same-person (0: all)."""
    if not limit or len(pairs) <= limit:
        return list(pairs)
    same = [p for p in pairs if p.same][:limit // 2]
    return same + [p for p in pairs if not p.same][:limit - len(same)]


def prepare(config: Config) -> Data:
    from fastfeed.compose.faces import decode_faces

    if config.lfw.startswith(TFDS_PREFIX):
        images, splits = lfw.export_images(
            config.lfw[len(TFDS_PREFIX):] or f"lfw_pairs/{config.lfw_config}",
            config.data_dir)
    else:
        _, images, protocol_paths = lfw.locate(config.lfw, config.lfw_config)
        splits = lfw.load_protocol(protocol_paths)
    people = lfw.people_from_dir(images)
    splits = {name: _trim(split, config.limit_pairs) for name, split in splits.items()}
    fold_people = {}  # the optional people files: View 1's test people, View 2's folds
    if not config.lfw.startswith(TFDS_PREFIX):
        path = os.path.join(config.lfw, lfw.VIEW1_TEST_PEOPLE_FILE)
        if os.path.isfile(path):
            fold_people["test"] = lfw.parse_people_file(path)[0]
        path = os.path.join(config.lfw, lfw.VIEW2_PEOPLE_FILE)
        if os.path.isfile(path):
            for k, fold in enumerate(lfw.parse_people_file(path), start=1):
                fold_people[f"fold{k}"] = fold
    named = {name: lfw.people_in(split) for name, split in splits.items()}
    unknown = {pair.person1 if pair.person1 not in people else pair.person2: pair.where
               for split in splits.values() for pair in split
               if pair.person1 not in people or pair.person2 not in people}
    if unknown:
        shown = "; ".join(f"{who} ({where})" for who, where in list(unknown.items())[:5])
        raise lfw.ProtocolError(f"{len(unknown)} people in the protocol files have no "
                                f"images in {images}: {shown}. Are the files from this "
                                f"LFW release?")
    if config.limit_people:
        needed = set().union(*named.values())
        others = [p for p in people if p not in needed and len(people[p]) >= 2]
        keep = needed | set(others[:config.limit_people])
        people = {p: people[p] for p in people if p in keep}
    root = os.path.dirname(os.path.dirname(next(iter(people.values()))[0]))
    logger.info("Decoding %d images of %d people once (about 2 ms an image per core) ...",
                sum(len(v) for v in people.values()), len(people))
    faces = decode_faces(people, config.table_size, central=config.central)
    row = {path: i for i, path in enumerate(faces.index.paths)}
    pair_sets = {}
    for name, split in splits.items():
        rows = []
        for pair in split:
            for file in pair.files:
                if os.path.join(root, file) not in row:
                    raise lfw.ProtocolError(
                        f"{pair.where}: image {file} is missing or could not be read "
                        f"(see the warning above); the protocol needs it.")
            rows.append([row[os.path.join(root, f)] for f in pair.files])
        rows = np.array(rows, np.int32).reshape(-1, 2)
        pair_sets[name] = PairRows(rows[:, 0], rows[:, 1],
                                  np.array([p.same for p in split], bool))
    logger.info("LFW: %d people, %d images decoded at %d px (central %.2f)",
                len(faces.index.names), len(faces.index.paths), config.table_size,
                config.central)
    return Data(faces, pair_sets, named, fold_people)


def _calibration(config: Config, data: Data, pair_set: PairRows, salt: int):
    """``(pairs, their people)``: ``calibration_pairs`` of ``pair_set``, half of them
    same-person, drawn with the seed (all of them, and no people, for 0)."""
    if not config.calibration_pairs:
        return pair_set, frozenset()
    rng = np.random.default_rng([config.seed, salt])
    same = np.flatnonzero(pair_set.labels)
    different = np.flatnonzero(~pair_set.labels)
    half = min(config.calibration_pairs // 2, len(same))
    chosen = np.sort(np.concatenate([
        rng.choice(same, half, replace=False),
        rng.choice(different, min(config.calibration_pairs - half, len(different)),
                   replace=False)]))
    subset = PairRows(pair_set.rows1[chosen], pair_set.rows2[chosen],
                     pair_set.labels[chosen])
    owner = np.repeat(np.array(data.faces.index.names, object), data.faces.index.counts)
    people = frozenset(owner[subset.rows1]) | frozenset(owner[subset.rows2])
    return subset, people


def units(config: Config, data: Data) -> list[Unit]:
    if config.protocol == "view1":
        test_people = data.split_people["test"] | data.fold_people.get("test", set())
        threshold_pairs, held_out = _calibration(config, data, data.splits["train"], 0)
        return [Unit("view1", frozenset(test_people) | held_out, threshold_pairs,
                     data.splits["test"], frozenset(data.split_people["test"]))]
    out = []
    for k in config.folds or range(1, lfw.NUM_FOLDS + 1):
        fold = f"fold{k}"
        others = [f"fold{j}" for j in range(1, lfw.NUM_FOLDS + 1) if j != k]
        test_people = data.split_people[fold] | data.fold_people.get(fold, set())
        threshold_pairs, held_out = _calibration(
            config, data, PairRows.concat([data.splits[f] for f in others]), k)
        out.append(Unit(f"fold{k:02d}", frozenset(test_people) | held_out,
                        threshold_pairs, data.splits[fold],
                        frozenset(data.split_people[fold])))
    return out


def training_people(data: Data, unit: Unit) -> set[str]:
    """The people a unit trains on."""
    return set(data.faces.index.names) - unit.exclude


# -------------------------------------------------------------------------- training
def model_kwargs(config: Config) -> dict:
    return {"image_size": config.image_size, "jitter": config.jitter, "seed": config.seed}


def examples_per_batch(config: Config) -> int:
    if config.stream == "identity":
        return config.people_per_batch * config.images_per_person
    return config.batch_size


def stream(config: Config, data: Data, unit: Unit, feed: base.Feed):
    from fastfeed.compose.faces import identity_batches, pair_stream

    common = dict(seed=config.seed, exclude=unit.exclude, augment=config.augment, feed=feed)
    if config.stream == "identity":
        return identity_batches(
            data.faces, people_per_batch=feed.per_replica(config.people_per_batch,
                                                          "people-per-batch"),
            images_per_person=config.images_per_person, **common)
    return pair_stream(
        data.faces, batch_size=feed.per_replica(config.batch_size), **common)


def loss(config: Config, model, batch, training: bool):
    """Supervised contrastive over every pair of an identity batch, or BCE on pair
    logits; with a batch accuracy (nearest neighbour, or logit sign)."""
    from fastfeed.models import losses

    features, labels = batch
    if "image" in features:
        embeddings = model.get_layer("embedding")(features["image"], training=training)
        return (losses.supervised_contrastive(embeddings, labels, config.temperature),
                {"accuracy": losses.nearest_neighbour_accuracy(embeddings, labels)})
    logits = model(features, training=training)
    return losses.pair_bce(logits, labels), {"accuracy": losses.pair_accuracy(logits, labels)}


# ------------------------------------------------------------------------ evaluation
def _center(images, size: int):
    offset = (images.shape[1] - size) // 2
    return images[:, offset:offset + size, offset:offset + size]


def scores(config: Config, data: Data, model, pair_set: PairRows) -> np.ndarray:
    """One score per pair, higher = more likely the same person. Faces are the centre
    crop of the decoded table; each is also seen mirrored: siamese models compare
    flip-averaged embeddings (cosine), other models average the logits of the pair
    and of the mirrored pair."""
    import tensorflow as tf

    table = data.faces.source.table
    size = config.image_size

    def faces(rows):
        return _center(tf.gather(table, rows), size)

    names = [layer.name for layer in model.layers]
    if "embedding" in names:
        embed = model.get_layer("embedding")
        unique, where = np.unique(np.concatenate([pair_set.rows1, pair_set.rows2]),
                                  return_inverse=True)
        parts = []
        for start in range(0, len(unique), config.eval_batch):
            x = faces(unique[start:start + config.eval_batch])
            e = embed(x, training=False) + embed(tf.reverse(x, [2]), training=False)
            parts.append(tf.math.l2_normalize(tf.cast(e, tf.float32), axis=1).numpy())
        embeddings = np.concatenate(parts)[where]
        e1, e2 = np.split(embeddings, 2)
        return np.sum(e1 * e2, axis=1)
    out = []
    for start in range(0, len(pair_set.labels), config.eval_batch):
        x1 = faces(pair_set.rows1[start:start + config.eval_batch])
        x2 = faces(pair_set.rows2[start:start + config.eval_batch])
        logits = (model({"image1": x1, "image2": x2}, training=False)
                  + model({"image1": tf.reverse(x1, [2]), "image2": tf.reverse(x2, [2])},
                          training=False))
        out.append(np.asarray(logits, np.float32).reshape(-1) / 2)
    return np.concatenate(out)


def evaluate(config: Config, data: Data, unit: Unit, model) -> dict:
    threshold_scores = scores(config, data, model, unit.threshold_pairs)
    threshold = lfw.best_threshold(threshold_scores, unit.threshold_pairs.labels)
    test_scores = scores(config, data, model, unit.test_pairs)
    result = {
        "test_accuracy": lfw.accuracy(test_scores, unit.test_pairs.labels, threshold),
        "test_auc": lfw.roc_auc(test_scores, unit.test_pairs.labels),
        "threshold": threshold,
        "threshold_accuracy": lfw.accuracy(threshold_scores, unit.threshold_pairs.labels,
                                           threshold),
        "test_pairs": int(len(unit.test_pairs.labels)),
        "threshold_pairs": int(len(unit.threshold_pairs.labels)),
        "train_people": len(training_people(data, unit)),
    }
    logger.info("%s: test accuracy %.4f, AUC %.4f (threshold %.4f)", unit.name,
                result["test_accuracy"], result["test_auc"], threshold)
    return result


def summarize(config: Config, results: dict) -> dict:
    common = {"protocol": config.protocol, "setting": SETTING, "model": config.model,
              "stream": config.stream, "steps": config.steps}
    if config.protocol == "view1":
        return {**common, **results["view1"]}
    names = sorted(results)
    accuracies = [results[name]["test_accuracy"] for name in names]
    return {**common, "folds": [int(name[4:]) for name in names],
            "fold_accuracies": accuracies,
            "mean_accuracy": float(np.mean(accuracies)),
            "standard_error": lfw.standard_error(accuracies),
            "fold_thresholds": [results[name]["threshold"] for name in names],
            "fold_auc": [results[name]["test_auc"] for name in names]}
