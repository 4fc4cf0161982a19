"""Learning from unlabelled photos: the photo-crop stream, the teacher's pseudo-labels
(with a teacher whose map is known), the weighted loss, `fastfeed train --unlabeled`
and `fastfeed adapt`, and eval-bg's per-photo comparisons."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

from fastfeed import background, cli, images, train
from fastfeed.compose import photos
from fastfeed.compose.feed import Feed


def _photo(height=48, width=64, seed=0, box=None):
    """A yellow box on blue (the box: the middle half, or ``box`` = (y0, y1, x0, x1))."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), (40, 90, 160), np.uint8)
    y0, y1, x0, x1 = box or (height // 4, 3 * height // 4, width // 4, 3 * width // 4)
    image[y0:y1, x0:x1] = (230, 200, 60)
    return np.clip(image + rng.integers(-10, 10, image.shape), 0, 255).astype(np.uint8)


class BoxTeacher:
    """A stand-in model whose map is known: logit +8 inside ``box`` (fractions
    y0, y1, x0, x1 of the input), -8 elsewhere, whatever the photo."""

    def __init__(self, box=(0.25, 0.75, 0.25, 0.75)):
        self.box = box

    def __call__(self, batch, training=False):
        count, height, width = np.shape(batch)[:3]
        y0, y1, x0, x1 = self.box
        logits = np.full((count, height, width, 1), -8.0, np.float32)
        logits[:, int(y0 * height):int(y1 * height), int(x0 * width):int(x1 * width)] = 8.0
        return logits


def _photo_folder(folder, count=3, broken=True):
    (folder / "sub").mkdir(parents=True)
    for k in range(count):
        where = folder / "sub" if k == 0 else folder
        Image.fromarray(_photo(seed=k)).save(where / f"shop{k}.jpg")
    if broken:
        (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


# ------------------------------------------------------------------------ stream
def _table():
    wide, tall = _photo(20, 40), _photo(40, 20, seed=1)
    targets = [np.zeros((20, 40)), np.zeros((40, 20))]
    targets[0][:, :20] = 1.0  # the left half of the wide photo
    weights = [np.ones((20, 40)), np.full((40, 20), 0.5)]
    return photos.PhotoTable.pack(["wide", "tall"], [wide, tall], targets, weights)


@pytest.mark.slow
def test_crop_stream_is_deterministic_and_weights_the_padding_zero():
    table = _table()
    assert table.pixels.shape == (2, 40, 40, 5) and table.sizes.tolist() == [[20, 40], [40, 20]]

    def first(**kwargs):
        stream = photos.crop_stream(table, image_size=16, batch_size=4, seed=3,
                                    augment="flip_lr|hue(0.05)", **kwargs)
        return [{k: v.numpy() for k, v in batch.items()} for batch in stream.take(3)]

    a, b = first(), first(num_parallel_calls=1)
    for x, y in zip(a, b):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    batch = a[0]
    assert batch["image"].dtype == np.uint8 and batch["image"].shape == (4, 16, 16, 3)
    assert batch["mask"].shape == batch["weight"].shape == (4, 16, 16, 1)
    assert 0 <= batch["mask"].min() and batch["mask"].max() <= 1
    # The start-th batch of a stream from `start` is the full stream's start-th batch.
    later = photos.crop_stream(table, image_size=16, batch_size=4, seed=3,
                               augment="flip_lr|hue(0.05)", feed=Feed(start=2))
    np.testing.assert_array_equal(next(iter(later))["image"].numpy(), a[2]["image"])
    # Whole-photo crops (side = the longer side) of photos half as high as wide (or
    # the reverse): about half of every crop is padding, where the weight is 0.
    stream = photos.crop_stream(table, image_size=16, batch_size=8, seed=0,
                                scale_range=(1.0, 1.0))
    batch = next(iter(stream))
    weight = batch["weight"].numpy()[..., 0]
    outside = weight == 0
    assert 0.35 < outside.mean() < 0.65
    assert (batch["image"].numpy()[outside] == 0).all()
    assert set(np.unique(np.round(weight[~outside & (weight > 0.9)], 1))) <= {1.0}


def test_photo_table_and_crop_stream_errors():
    with pytest.raises(ValueError, match="differ"):
        photos.PhotoTable.pack(["a"], [_photo()], [np.zeros((4, 4))], [np.zeros((4, 4))])
    with pytest.raises(ValueError, match="no photos"):
        photos.PhotoTable.pack([], [], [], [])
    with pytest.raises(ValueError, match="albumentations"):
        import albumentations as A

        photos.crop_stream(_table(), image_size=16, batch_size=2, augment=A.HorizontalFlip())


# ------------------------------------------------------------------------ teacher
def test_teacher_labels_follow_a_known_map_and_weigh_disagreement(monkeypatch):
    rgb = _photo(96, 128)
    truth = np.zeros((96, 128), bool)
    truth[24:72, 32:96] = True
    target, weight = background.inference.teacher_labels(BoxTeacher(), rgb, size=64)
    assert target.shape == weight.shape == (96, 128)
    assert background.metrics.iou(target, truth) > 0.9
    assert (weight == 1.0).mean() > 0.9  # plain GrabCut finds the same box
    # GrabCut's mask alone: the same object, crisper (no half-way values from the map).
    hard, _ = background.inference.teacher_labels(BoxTeacher(), rgb, size=64, blend=False)
    assert background.metrics.iou(hard, truth) > 0.9
    assert np.mean((hard > 0.1) & (hard < 0.9)) <= np.mean((target > 0.1) & (target < 0.9))
    # Where plain GrabCut says otherwise (here: nothing at all), the weight is the
    # given one: on the object.
    monkeypatch.setattr(background.refine, "grabcut", lambda image: np.zeros(image.shape[:2]))
    target, weight = background.inference.teacher_labels(BoxTeacher(), rgb, size=64,
                                                         disagree_weight=0.25)
    assert set(np.unique(weight)) == {0.25, 1.0}
    np.testing.assert_array_equal(weight == 0.25, target >= 0.5)


def test_teacher_labels_at_several_sizes_average_the_maps_of_each():
    seen = []

    class Recording(BoxTeacher):
        def __call__(self, batch, training=False):
            seen.append(tuple(int(d) for d in batch.shape[1:3]))
            return super().__call__(batch, training)

    rgb = _photo(96, 128)
    truth = np.zeros((96, 128), bool)
    truth[24:72, 32:96] = True
    target, _ = background.inference.teacher_labels(Recording(), rgb, size=64,
                                                    scales=(0.5, 1.0, 1.5))
    # The photo (4:3) at 32, 64 and 96 px on its longer side, multiples of the stride.
    assert sorted(set(seen)) == [(32, 32), (64, 64), (64, 96)]
    assert background.metrics.iou(target, truth) > 0.9
    seen.clear()
    background.inference.teacher_labels(Recording(), rgb, size=64)
    assert seen == [(64, 64)]  # one size, the labels the shipped recipe was made with


@pytest.mark.parametrize("disagree_weight", [0.3, 1.0])
def test_labelling_reports_agreement_only_when_the_weights_show_it(
        tmp_path, monkeypatch, caplog, disagree_weight):
    from fastfeed.tasks import composites

    folder = _photo_folder(tmp_path / "shop", count=2, broken=False)
    monkeypatch.setattr(background, "load_model", lambda path: BoxTeacher())
    monkeypatch.setattr(background.refine, "grabcut", lambda image: np.zeros(image.shape[:2]))
    config = composites.Config(unlabeled=str(folder), eval_size=64,
                               disagree_weight=disagree_weight)
    listing = {str(folder): sorted(str(p) for p in folder.rglob("*.jpg"))}
    with caplog.at_level("INFO", logger="fastfeed"):
        table, sources = composites._label(config, "teacher.keras", [str(folder)], listing)
    assert len(table.names) == 2 and list(sources) == [0, 0]
    # GrabCut (here: nothing) disagrees on the box; a weight of 1 hides that.
    if disagree_weight == 1.0:
        assert "every pixel weighted alike (--disagree-weight 1)" in caplog.text
        assert "agree on" not in caplog.text
    else:
        assert "the teacher and GrabCut agree on" in caplog.text
        assert "agree on 100.0%" not in caplog.text


@pytest.mark.slow
def test_labelling_in_threads_gives_the_labels_of_one_thread(tmp_path, monkeypatch):
    import keras

    from fastfeed.tasks import composites

    folder = tmp_path / "shop"
    folder.mkdir()
    for k, (height, width) in enumerate([(48, 64), (64, 48), (48, 64), (40, 72),
                                         (64, 48), (48, 64)]):
        Image.fromarray(_photo(height, width, seed=k)).save(folder / f"p{k}.png")
    (folder / "p3b.png").write_bytes(b"\x89PNG not a png")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(1, 5, padding="same")])
    monkeypatch.setattr(background, "load_model", lambda path: model)
    config = composites.Config(unlabeled=str(folder), eval_size=64)
    listing = {str(folder): images.image_paths(str(folder))}
    tables = [composites._label(config, "teacher.keras", [str(folder)], listing, workers=w)
              for w in (1, 3)]
    one, three = (table for table, _ in tables)
    assert one.names == three.names and len(one.names) == 6  # the broken one skipped
    assert [os.path.basename(n) for n in one.names] == [f"p{k}.png" for k in range(6)]
    np.testing.assert_array_equal(one.pixels, three.pixels)
    np.testing.assert_array_equal(one.sizes, three.sizes)


def test_grabcut_refine_falls_back_to_the_rectangle_when_it_runs_from_the_seed():
    rgb = _photo(96, 128)
    truth = np.zeros((96, 128), bool)
    truth[24:72, 32:96] = True
    corner = np.zeros((48, 64), np.float32)
    corner[:10, :12] = 1.0  # the model points at a patch of plain background
    # Seeded there, GrabCut's object has little to do with the seed: the rectangle's
    # GrabCut (which finds the box) is used instead...
    fallback = background.refine.grabcut_refine(rgb, corner)
    assert background.metrics.iou(fallback, truth) > 0.8
    # ... unless the fallback is turned off.
    seeded = background.refine.grabcut_refine(rgb, corner, rectangle_below=0.0)
    assert background.metrics.iou(seeded, truth) < 0.5


def test_an_empty_grabcut_gives_the_models_map_but_the_teacher_keeps_it(monkeypatch):
    rgb = _photo(96, 128)
    box = np.zeros((48, 64), np.float32)
    box[12:36, 16:48] = 0.9  # the model sees the box
    # Both GrabCuts (seeded, then the rectangle's) find no object at all.
    runs = []
    monkeypatch.setattr(background.refine, "_grabcut_run",
                        lambda small, *args: runs.append(1)
                        or np.zeros(small.shape[:2], np.float32))
    cut = background.refine.grabcut_refine(rgb, box)
    assert len(runs) == 2
    np.testing.assert_array_equal(cut, background.refine.guided(rgb, box))
    assert 0.2 < (cut >= 0.5).mean() < 0.3  # the box, not an empty cut-out
    assert not (background.refine.grabcut_refine(rgb, box, keep_empty=True) >= 0.5).any()
    # The adaptation teacher keeps the empty target it was measured with.
    target, _ = background.inference.teacher_labels(BoxTeacher(), rgb, size=64)
    assert not (target >= 0.5).any()
    # The remover's default refinement gives the model's map.
    full = background.predict(BoxTeacher(), rgb, 64, refinement="grabcut")
    assert 0.2 < (full >= 0.5).mean() < 0.3


def test_photo_paths_recursive_and_errors(tmp_path):
    folder = _photo_folder(tmp_path / "shop")
    names = [os.path.relpath(p, folder) for p in images.image_paths(str(folder))]
    assert names == ["broken.jpg", "shop1.jpg", "shop2.jpg", os.path.join("sub", "shop0.jpg")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(images.ImageError, match="no images"):
        images.image_paths(str(tmp_path / "empty"))
    with pytest.raises(images.ImageError, match="not a folder"):
        images.image_paths(str(tmp_path / "missing"))


# ------------------------------------------------------------------------- loss
def test_weighted_loss_ignores_weightless_pixels_and_equals_the_plain_one_at_one():
    import keras

    from fastfeed.tasks import composites

    config = composites.Config()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 3)),
                              keras.layers.Conv2D(1, 3, padding="same")])
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (2, 8, 8, 3)).astype(np.float32)
    mask = (rng.random((2, 8, 8, 1)) > 0.5).astype(np.float32)
    plain, _ = composites.loss(config, model, {"image": image, "mask": mask}, False)
    ones, _ = composites.loss(config, model, {"image": image, "mask": mask,
                                              "weight": np.ones_like(mask)}, False)
    assert float(ones) == pytest.approx(float(plain), rel=1e-5)
    weight = np.ones_like(mask)
    weight[:, :4] = 0.0
    other = mask.copy()
    other[:, :4] = 1 - other[:, :4]  # a different truth where the weight is 0
    a, _ = composites.loss(config, model, {"image": image, "mask": mask, "weight": weight}, False)
    b, _ = composites.loss(config, model, {"image": image, "mask": other, "weight": weight}, False)
    assert float(a) == pytest.approx(float(b), rel=1e-6)


# ---------------------------------------------------------------- train and adapt
def test_unlabeled_options_are_checked(tmp_path):
    with pytest.raises(train.ConfigError, match="--unlabeled"):
        train.make_config("composites", {"unlabeled": "/no/such/folder"})
    with pytest.raises(train.ConfigError, match="--init"):
        train.make_config("composites", {"init": "/no/such/model.keras"})
    folder = str(_photo_folder(tmp_path / "shop"))
    for scales, message in [("0,1", "--teacher-scales '0.0,1.0': use 1 to 8 numbers"),
                            ("9", "--teacher-scales '9.0'"),
                            ("3", "--eval-size 2048 with --teacher-scales 3: the model's "
                                     "largest input would be 6144 px")]:
        with pytest.raises(train.ConfigError, match=message):
            train.make_config("composites", {"unlabeled": folder, "teacher_scales": scales,
                                             "eval_size": "2048"})
    config = train.make_config("composites", {"unlabeled": folder,
                                              "teacher_scales": "0.8,1,1.2"})
    assert config.teacher_scales == (0.8, 1.0, 1.2)


@pytest.mark.slow
def test_train_with_unlabeled_photos_then_adapt(tmp_path, tiny_model, monkeypatch, capsys,
                                                caplog):
    monkeypatch.setenv("FASTFEED_CACHE", str(tmp_path / "cache"))
    folder = _photo_folder(tmp_path / "shop")
    small = ["--image-size", "64", "--batch-size", "4", "--test-size", "4",
             "--eval-size", "64", "--log-every", "1", "--warmup-steps", "1"]
    assert cli.main(["train", "--task", "composites", "--run-dir", str(tmp_path / "run"),
                     "--unlabeled", f"{folder}:3", "--init", tiny_model, "--steps", "2",
                     *small]) == 0
    # Counted, named, and the run goes on.
    assert "skipped: " in caplog.text and "broken.jpg" in caplog.text
    assert "Pseudo-labelled 3 photos" in caplog.text and "(1 skipped)" in caplog.text
    cached = os.listdir(tmp_path / "cache" / "pseudo_labels")
    assert len(cached) == 1
    with np.load(tmp_path / "cache" / "pseudo_labels" / cached[0]) as saved:
        assert len(saved["names"]) == 3  # the three readable photos

    run_dir = tmp_path / "adapted"
    assert cli.main(["adapt", str(folder), "--run-dir", str(run_dir), "--base", tiny_model,
                     "--rounds", "2", "--steps", "2", *small]) == 0
    out = capsys.readouterr().out
    assert "round 2" in out and "remove-bg" in out
    assert os.path.isfile(run_dir / "model.keras")
    second = train.load_config(str(run_dir / "round-2"))
    assert second.teacher == second.init == str(run_dir / "round-1" / "main" / "model.keras")
    assert train.load_config(str(run_dir / "round-1")).teacher == tiny_model
    # The round-2 teacher's labels were made afresh; the round-1 teacher's came from
    # the cache of the first training (same teacher, photos and options).
    assert len(os.listdir(tmp_path / "cache" / "pseudo_labels")) == 2
    # The adapted model cuts out photos.
    assert cli.main(["remove-bg", str(folder / "shop1.jpg"), "--out",
                     str(tmp_path / "cut.png"), "--model", str(run_dir / "model.keras")]) == 0
    # An earlier adaptation is not replaced without --overwrite.
    assert cli.main(["adapt", str(folder), "--run-dir", str(run_dir), "--base",
                     tiny_model]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["adapt", str(tmp_path / "nothing"), "--run-dir",
                     str(tmp_path / "x")]) == 2
    assert "not a folder" in capsys.readouterr().err


# ------------------------------------------------------------------- measuring
def test_paired_difference_by_hand():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True
    a, b = background.metrics.Scores(structure=False), background.metrics.Scores(structure=False)
    perfect, empty, half = truth.astype(np.float32), np.zeros((4, 4)), np.zeros((4, 4))
    half[:2, :1] = 1.0
    for name, (x, y) in {"p1": (perfect, half), "p2": (perfect, empty),
                         "p3": (half, half)}.items():
        a.add(name, x, truth)
        b.add(name, y, truth)
    d = background.metrics.paired_difference(a, b)
    differences = np.array([0.5, 1.0, 0.0])
    assert d["mean"] == pytest.approx(differences.mean())
    assert d["standard_error"] == pytest.approx(differences.std(ddof=1) / np.sqrt(3))
    assert (d["better"], d["worse"], d["tied"]) == (2, 0, 1)
    mae = background.metrics.paired_difference(a, b, "mae")
    assert mae["mean"] < 0 and mae["better"] == 2  # lower MAE is better
    b.add("p4", perfect, truth)
    with pytest.raises(ValueError, match="same photos"):
        background.metrics.paired_difference(a, b)


def test_sod_measures_from_pysodmetrics():
    pytest.importorskip("py_sod_metrics")
    truth = np.zeros((32, 32), bool)
    truth[8:24, 8:24] = True
    scores = background.metrics.Scores()
    scores.add("perfect", truth.astype(np.float32), truth)
    scores.add("inverted", (~truth).astype(np.float32), truth)
    perfect, inverted = (row for row in scores.rows())
    for key in background.metrics.SOD_MEASURES:
        assert perfect[key] == pytest.approx(1.0, abs=5e-3)  # mean E: 0.998
        assert inverted[key] < 0.2
    assert set(background.metrics.SOD_MEASURES) <= set(scores.summary())


@pytest.mark.slow
def test_eval_bg_compares_two_models_photo_by_photo(tmp_path, tiny_model, capsys):
    root = tmp_path / "real"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k in range(3):
        Image.fromarray(_photo(seed=k)).save(root / "images" / f"{k:04d}.jpg")
        mask = np.zeros((48, 64), np.uint8)
        mask[12:36, 16:48] = 255
        Image.fromarray(mask).save(root / "masks" / f"{k:04d}.png")
    table = tmp_path / "scores.csv"
    assert cli.main(["eval-bg", str(root), "--model", tiny_model, "--model", tiny_model,
                     "--baseline", "grabcut", "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert out.count("vs grabcut, per photo: iou") == 2
    assert "better on" in out and "worse on" in out
    rows = list(csv.DictReader(open(table)))
    assert {"model1_iou", "model2_iou", "grabcut_iou"} <= set(rows[0])
    assert rows[0]["model1_iou"] == rows[0]["model2_iou"]  # the same model twice


@pytest.mark.slow
def test_adapt_interrupted_exits_130_and_resumes(tmp_path, tiny_model, monkeypatch, capsys):
    import signal

    from fastfeed.cli import common

    monkeypatch.setenv("FASTFEED_CACHE", str(tmp_path / "cache"))
    folder = _photo_folder(tmp_path / "shop", broken=False)
    run_dir = tmp_path / "adapted"
    argv = ["adapt", str(folder), "--run-dir", str(run_dir), "--base", tiny_model,
            "--rounds", "2", "--steps", "3", "--image-size", "64", "--batch-size", "4",
            "--test-size", "4", "--eval-size", "64", "--log-every", "1",
            "--warmup-steps", "1"]
    assert cli.main(argv + ["--resume"]) == 2  # nothing to resume yet
    assert "holds no adaptation to continue" in capsys.readouterr().err

    class CtrlCInRoundTwo(common.TrainingProgress):
        calls = 0

        def __call__(self, unit, step, steps, logs, validation):
            super().__call__(unit, step, steps, logs, validation)
            CtrlCInRoundTwo.calls += 1
            if CtrlCInRoundTwo.calls == 4:  # round 2, after its first step
                os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(common, "TrainingProgress", CtrlCInRoundTwo)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted: main: stopped at step" in err and "--resume" in err
    assert "Traceback" not in err and not (run_dir / "model.keras").exists()
    first = (run_dir / "round-1" / "main" / "model.keras").read_bytes()
    # Without --resume the folder is not silently replaced; with it, round 1 is kept
    # and round 2 goes on from its checkpoint.
    monkeypatch.setattr(common, "TrainingProgress", CtrlCInRoundTwo.__mro__[1])
    assert cli.main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli.main(argv + ["--resume"]) == 0
    assert (run_dir / "round-1" / "main" / "model.keras").read_bytes() == first
    assert (run_dir / "model.keras").exists()
    assert cli.main(argv + ["--resume"]) == 2  # finished: nothing to resume
    assert "is finished" in capsys.readouterr().err
