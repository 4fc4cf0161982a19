"""Background removal: metrics on hand-made masks, reading awkward photos, the Python
API, `fastfeed remove-bg` and `fastfeed eval-bg` (with a small untrained model)."""

import csv
import importlib.util
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fastfeed import background, cli, images


# ----------------------------------------------------------------------- metrics
def test_iou_and_mae_by_hand():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True  # 4 object pixels
    probability = np.zeros((4, 4), np.float32)
    probability[:2, :3] = 0.75  # 6 predicted, 4 of them right
    assert background.metrics.iou(probability, truth) == pytest.approx(4 / 6)
    # |0.75-1| on 4 pixels, 0.75 on 2, 0 on 10
    assert background.metrics.mae(probability, truth) == pytest.approx((4 * 0.25 + 2 * 0.75) / 16)
    assert background.metrics.iou(np.zeros((2, 2)), np.zeros((2, 2), bool)) == 1.0


def test_precision_recall_and_max_f_by_hand():
    truth = np.array([[True, True, False, False]])
    probability = np.array([[1.0, 0.5, 0.5, 0.0]])
    precision, recall = background.metrics.precision_recall(probability, truth)
    # t <= 0.5 (level 128 of 255, i.e. 0.5 rounds to 128): 3 predicted, 2 right
    assert precision[100] == pytest.approx(2 / 3) and recall[100] == 1.0
    # 0.5 < t <= 1: only the first pixel
    assert precision[200] == 1.0 and recall[200] == 0.5
    scores = background.metrics.Scores()
    scores.add("a", probability, truth)
    f_low = 1.3 * (2 / 3) / (0.3 * 2 / 3 + 1)
    f_high = 1.3 * 0.5 / (0.3 + 0.5)
    summary = scores.summary()
    assert summary["max_f"] == pytest.approx(max(f_low, f_high))
    assert summary["iou"] == pytest.approx(2 / 3) and summary["images"] == 1
    with pytest.raises(ValueError, match="differ in size"):
        scores.add("b", probability, truth[:, :2])


# ----------------------------------------------------------------------- reading
def _photo(height=48, width=64, seed=0):
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), (40, 90, 160), np.uint8)
    image[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = (230, 200, 60)
    return np.clip(image + rng.integers(-10, 10, image.shape), 0, 255).astype(np.uint8)


def _awkward_files(folder):
    """One photo of each awkward kind (all 64 wide, 48 high once upright)."""
    rgb = _photo()
    os.makedirs(folder / "sub", exist_ok=True)
    Image.fromarray(rgb).save(folder / "plain.jpg")
    Image.fromarray(rgb).convert("L").save(folder / "gray.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(folder / "palette.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(
        folder / "sub" / "rgba.png")
    sixteen = (rgb[..., 0].astype(np.uint16) * 257)
    Image.fromarray(sixteen).save(folder / "sub" / "deep16.png")
    # Stored sideways (48x64 pixels) with EXIF orientation 6: upright it is 64x48.
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(folder / "rotated.jpg", exif=exif)
    return rgb


def test_read_image_handles_every_kind(tmp_path):
    _awkward_files(tmp_path)
    for name in ("plain.jpg", "gray.png", "cmyk.jpg", "palette.png", "sub/rgba.png",
                 "sub/deep16.png", "rotated.jpg"):
        image = images.read_rgb(str(tmp_path / name))
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8, name
    assert images.read_rgb(np.zeros((5, 6), np.uint16)).shape == (5, 6, 3)


def test_read_image_errors_name_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(images.ImageError, match="broken.jpg: not a readable image"):
        images.read_rgb(str(bad))
    good = io.BytesIO()
    Image.fromarray(_photo(200, 300)).save(good, format="JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.getvalue()[:300])
    with pytest.raises(images.ImageError, match="truncated.jpg"):
        images.read_rgb(str(truncated))
    Image.fromarray(_photo(200, 300)).save(tmp_path / "big.png")
    with pytest.raises(images.ImageError, match=r"300x200 is 60,000 pixels, over the "
                                                 r"limit of 50,000.*--max-pixels"):
        images.read_rgb(str(tmp_path / "big.png"), max_pixels=50_000)


def test_guided_refinement_follows_the_photo_edges():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, 29:] = 255  # an edge at column 29, not on the 8-px grid of the low map
    low = np.zeros((8, 8), np.float32)
    low[:, 4:] = 1.0  # the low-resolution map puts the edge at column 32
    refined = background.refine.guided(rgb, low)
    assert refined.shape == (64, 64)
    assert refined[:, 30:].min() > 0.5 and refined[:, :28].max() < 0.5
    # Bilinear upsampling alone puts those columns on the wrong side.
    up = np.asarray(Image.fromarray(low).resize((64, 64), Image.BILINEAR))
    assert up[:, 29:31].max() < 0.5


def test_grabcut_finds_a_central_object():
    rgb = _photo(120, 160)
    truth = np.zeros((120, 160), bool)
    truth[30:90, 40:120] = True
    assert background.metrics.iou(background.refine.grabcut(rgb), truth) > 0.8


def test_grabcut_seeded_by_a_rough_map_finds_the_edges():
    rgb = _photo(120, 160)
    truth = np.zeros((120, 160), bool)
    truth[30:90, 40:120] = True
    rough = np.zeros((12, 16), np.float32)
    rough[2:10, 3:14] = 0.8  # too large, blocky
    up = background.refine.guided(rgb, rough)
    refined = background.refine.grabcut_refine(rgb, rough)
    assert background.metrics.iou(refined, truth) > 0.9 > background.metrics.iou(up, truth) + 0.1
    # No object in the map: nothing for GrabCut to start from; the map is kept.
    empty = background.refine.grabcut_refine(rgb, np.zeros((12, 16), np.float32))
    assert empty.max() < 0.5


def _soft_disc(height, width, centre, radius, ramp):
    """Alpha of a disc whose edge fades over ``ramp`` px from ``radius`` outwards."""
    y, x = np.mgrid[:height, :width]
    distance = np.hypot(y - centre[0], x - centre[1])
    return np.clip((radius + ramp - distance) / ramp, 0, 1).astype(np.float32)


def test_matting_solves_the_soft_edge_from_the_photo_colours():
    pytest.importorskip("pymatting")
    truth = _soft_disc(80, 96, (40, 48), 20, 3)  # the object's true alpha
    rgb = (truth[..., None] * [220, 180, 30] + (1 - truth[..., None]) * [20, 40, 200])
    rgb = rgb.round().astype(np.uint8)
    # The map: the edge 1 px off and blurred over 8 px.
    rough = _soft_disc(80, 96, (40, 49), 17.5, 8)
    matte = background.refine.matting(rgb, rough)
    assert matte.shape == truth.shape and 0 <= matte.min() and matte.max() <= 1
    error = np.abs(matte - truth).mean()
    assert error < 0.05 * np.abs(rough - truth).mean()
    # A photo matted at a smaller size comes back at its own size, still far closer.
    large = np.kron(rgb, np.ones((4, 4, 1), np.uint8))
    matte = background.refine.matting(large, np.kron(rough, np.ones((4, 4), np.float32)),
                                      longest=128)
    assert matte.shape == (320, 384)
    assert np.abs(matte - np.kron(truth, np.ones((4, 4)))).mean() < 0.5 * np.abs(
        rough - truth).mean()
    # No object, or nothing else: the map is kept as it is.
    for flat in (np.zeros((80, 96), np.float32), np.ones((80, 96), np.float32)):
        assert background.refine.matting(rgb, flat) is flat


def test_matting_without_pymatting_is_refused_before_any_work(tmp_path, monkeypatch,
                                                              capsys):
    from fastfeed.background import options

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pymatting" else real(name, *a))
    Image.fromarray(_photo()).save(tmp_path / "a.jpg")
    assert cli.main(["remove-bg", str(tmp_path / "a.jpg"), "--refinement", "matting",
                     "--model", str(tmp_path / "absent.keras"),
                     "--out", str(tmp_path / "o")]) == 2
    assert "--refinement 'matting' needs pymatting: pip install 'fastfeed[matting]'" in (
        capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "o")
    with pytest.raises(ValueError, match="needs pymatting"):
        options.refinement("matting")
    monkeypatch.setitem(sys.modules, "pymatting", None)  # the library's own call
    with pytest.raises(ImportError, match=r"pip install 'fastfeed\[matting\]'"):
        background.refine.matting(_photo(), np.zeros((48, 64), np.float32))
    assert cli.main(["train", "--task", "composites", "--run-dir", str(tmp_path / "r"),
                     "--smoke", "--eval-refinement", "matting"]) == 2
    assert "--eval-refinement 'matting' needs pymatting" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r")


# ---------------------------------------------------------------- API and commands
def test_maps_at_several_sizes_are_averaged_at_the_largest():
    from fastfeed.background import inference

    assert inference.scaled_sizes(160, (0.8, 1.0, 1.2)) == [128, 160, 192]
    assert inference.scaled_sizes(40, (0.1,)) == [32]  # at least one stride
    seen = []

    def model(batch, training=False):  # a known map per input size: p 0, 1/2, 1
        seen.append(batch.shape)
        logit = {96: -50.0, 128: 0.0, 160: 50.0}[batch.shape[2]]
        return np.full(batch.shape[:3] + (1,), logit, np.float32)

    rgb = np.zeros((90, 120, 3), np.uint8)
    low = inference.predict_low(model, rgb, 128, scales=(0.8, 1.0, 1.2))
    assert seen == [(2, 64, 96, 3), (2, 96, 128, 3), (2, 128, 160, 3)]  # photo and mirror
    assert low.dtype == np.float32 and low.shape == (128, 160)
    np.testing.assert_allclose(low, 0.5, atol=1e-6)
    seen.clear()
    assert inference.predict_low(model, rgb, 128).shape == (96, 128)  # one size
    assert seen == [(2, 96, 128, 3)]
    full = inference.predict(model, rgb, 128, refinement="none", scales=(1.2, 1.2))
    assert full.shape == (90, 120) and np.allclose(full, 1.0)  # a size repeated runs once
    with pytest.raises(ValueError, match="scales"):
        inference.predict(model, rgb, 128, scales=(1.0, 0.0))


@pytest.mark.slow
def test_remove_background_api(tiny_model):
    rgb = _photo()
    cut = background.remove_background(rgb, model=tiny_model)
    assert cut.mode == "RGBA" and cut.size == (64, 48)
    np.testing.assert_array_equal(np.asarray(cut)[..., :3], rgb)
    mask = background.remove_background(Image.fromarray(rgb), model=tiny_model, output="mask")
    assert mask.mode == "L" and mask.size == (64, 48)
    on_red = background.remove_background(rgb, model=tiny_model, output="color",
                                       bg_color=(255, 0, 0))
    alpha = np.asarray(cut)[..., 3:].astype(np.float32) / 255
    expected = rgb * alpha + np.array([255, 0, 0]) * (1 - alpha)
    assert np.abs(np.asarray(on_red).astype(np.float32) - expected).max() <= 1.0
    with pytest.raises(ValueError, match="output='png'"):
        background.remove_background(rgb, model=tiny_model, output="png")


@pytest.mark.slow
def test_shipped_model_finds_a_plain_product():
    assert os.path.getsize(background.DEFAULT_MODEL) <= 12 * 2**20
    rgb = _photo(240, 320)  # a yellow box on blue
    truth = np.zeros((240, 320), bool)
    truth[60:180, 80:240] = True
    for refinement in background.REFINEMENTS:
        mask = background.remove_background(rgb, output="mask", refinement=refinement)
        assert mask.size == (320, 240)
        assert background.metrics.iou(np.asarray(mask) / 255, truth) > 0.9, refinement


@pytest.mark.slow
def test_remove_bg_folder_of_awkward_files_with_a_corrupt_one(tmp_path, tiny_model, capsys):
    photos = tmp_path / "photos"
    _awkward_files(photos)
    (photos / "sub" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    argv = ["remove-bg", str(photos), "--out", str(out), "--model", tiny_model]
    assert cli.main(argv) == 1  # one input failed
    captured = capsys.readouterr()
    assert "corrupt.png" in captured.err and "not a readable image" in captured.err
    assert "7 written" in captured.out and "1 failed" in captured.out
    for name in ("plain", "gray", "cmyk", "palette", "rotated", "sub/rgba", "sub/deep16"):
        image = Image.open(out / f"{name}.png")
        assert image.mode == "RGBA" and image.size == (64, 48), name
    # Second run: outputs exist and are skipped; --overwrite redoes them.
    assert cli.main(argv) == 1
    assert "0 written" in capsys.readouterr().out
    (photos / "sub" / "corrupt.png").unlink()
    assert cli.main(argv + ["--overwrite", "--mask"]) == 0
    assert "7 written" in capsys.readouterr().out
    assert Image.open(out / "plain.png").mode == "L"


@pytest.mark.slow
def test_remove_bg_single_file_colour_and_missing_input(tmp_path, tiny_model, capsys):
    Image.fromarray(_photo()).save(tmp_path / "a.jpg")
    target = tmp_path / "a_white.png"
    assert cli.main(["remove-bg", str(tmp_path / "a.jpg"), "--out", str(target),
                     "--bg-color", "255,255,255", "--model", tiny_model]) == 0
    assert Image.open(target).mode == "RGB"
    assert cli.main(["remove-bg", str(tmp_path / "none.jpg"), "--model", tiny_model,
                     "--out", str(tmp_path / "o")]) == 1
    assert "none.jpg: no such file or folder" in capsys.readouterr().err
    Image.fromarray(_photo()).save(tmp_path / "a.png")  # a.jpg's output name too
    assert cli.main(["remove-bg", str(tmp_path / "a.jpg"), str(tmp_path / "a.png"),
                     "--model", tiny_model, "--out", str(tmp_path / "o")]) == 1
    assert "rename one of them" in capsys.readouterr().err
    assert os.path.isfile(tmp_path / "o" / "a.png")
    with pytest.raises(SystemExit):
        cli.main(["remove-bg", "a.jpg", "--bg-color", "300,0,0"])


def test_remove_bg_tells_which_photos_came_out_empty(tmp_path, tiny_model, capsys,
                                                   monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(_photo()).save(photos / "box.jpg")
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(photos / "dark.jpg")
    # A remover that sees an object wherever the photo is not black.
    monkeypatch.setattr(background, "predict",
                        lambda model, rgb, *args: (rgb.mean(-1) > 20).astype(np.float32))
    assert cli.main(["remove-bg", str(photos), "--out", str(tmp_path / "out"),
                     "--model", tiny_model]) == 0  # told, not failed
    captured = capsys.readouterr()
    assert "2 written" in captured.out
    assert "no object found in 1 photo (the cut-out is empty)" in captured.err
    assert "dark.jpg" in captured.err and "box.jpg" not in captured.err
    assert not np.asarray(Image.open(tmp_path / "out" / "dark.png"))[..., 3].any()


@pytest.mark.slow
def test_remove_bg_stdin_to_stdout(tmp_path, tiny_model):
    data = io.BytesIO()
    Image.fromarray(_photo()).save(data, format="JPEG")
    result = subprocess.run(
        [sys.executable, "-m", "fastfeed.cli", "remove-bg", "-", "--model", tiny_model],
        input=data.getvalue(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    image = Image.open(io.BytesIO(result.stdout))
    assert image.mode == "RGBA" and image.size == (64, 48)


def _real_folder(root, count=3):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k in range(count):
        Image.fromarray(_photo(48, 64, seed=k)).save(root / "images" / f"{k:04d}.jpg")
        mask = np.zeros((48, 64), np.uint8)
        mask[12:36, 16:48] = 255
        Image.fromarray(mask).save(root / "masks" / f"{k:04d}.png")
    Image.fromarray(_photo()).save(root / "images" / "nomask.jpg")


@pytest.mark.slow
def test_eval_bg_with_grabcut_baseline_and_csv(tmp_path, tiny_model, capsys):
    _real_folder(tmp_path / "real")
    table = tmp_path / "scores.csv"
    assert cli.main(["eval-bg", str(tmp_path / "real"), "--model", tiny_model,
                     "--baseline", "grabcut", "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert "3 photos" in out and "grabcut" in out and "IoU" in out
    assert "128+160+192 px" in out  # the maps of three sizes, by default
    rows = list(csv.DictReader(open(table)))
    assert [r["image"] for r in rows] == ["0000", "0001", "0002"]
    assert float(rows[0]["grabcut_iou"]) > 0.8  # a clean central box
    assert {"model_iou", "model_mae", "model_f"} <= set(rows[0])
    assert cli.main(["eval-bg", str(tmp_path / "real"), "--model", tiny_model,
                     "--scales", "1", "--csv", str(table), "--overwrite"]) == 0
    assert "160 px" in capsys.readouterr().out
    assert cli.main(["eval-bg", str(tmp_path / "nothing")]) == 2
    assert "images" in capsys.readouterr().err
    for bad in ("0,1", "x", "1,,2", "5"):
        with pytest.raises(SystemExit) as exit:
            cli.main(["eval-bg", str(tmp_path / "real"), "--scales", bad])
        err = capsys.readouterr().err
        assert exit.value.code == 2 and "--scales" in err and "e.g. 0.8,1,1.2" in err


@pytest.mark.parametrize("command", ["eval-bg", "remove-bg"])
def test_size_times_scales_is_checked_at_the_door(tmp_path, capsys, command):
    # Each allowed alone; together the model would see 16,384 px. Refused before any
    # photo is read or the model loads (a missing folder would say so otherwise).
    args = [command, str(tmp_path / "missing"), "--size", "4096", "--scales", "1,4"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "--size 4096 with --scales 1,4" in err and "16384 px" in err and "at most 4096" in err
    # 4096 px exactly is allowed: on to the next check, the missing folder
    assert cli.main([command, str(tmp_path / "missing"), "--size", "3200", "--scales", "1.28"]) != 0
    err = capsys.readouterr().err
    assert "missing" in err and "--scales" not in err


@pytest.mark.slow
def test_remove_bg_on_a_12_megapixel_jpeg(tmp_path, tiny_model):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(big).resize((4000, 3000)).save(tmp_path / "big.jpg", quality=90)
    target = tmp_path / "big.png"
    assert cli.main(["remove-bg", str(tmp_path / "big.jpg"), "--out", str(target),
                     "--model", tiny_model]) == 0
    out = Image.open(target)
    assert out.mode == "RGBA" and out.size == (4000, 3000)


@pytest.mark.slow
def test_bench_remove_bg_beside_u2netp(tmp_path, tiny_model, capsys):
    pytest.importorskip("rembg", reason="the peer extra (rembg's U²-NetP) is not installed")
    _real_folder(tmp_path / "real")
    table = tmp_path / "bench.csv"
    argv = ["bench", "remove-bg", str(tmp_path / "real"), "--model", tiny_model,
            "--csv", str(table), "--megapixels", "0.12"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "3 photos" in out
    large = next(line for line in out.splitlines() if line.startswith("one 400x300 photo"))
    names = ["fastfeed default", "fastfeed model alone", "rembg u2netp"]
    if background.refine.matting_installed():
        names.append("fastfeed matting")
    for name in names:
        assert re.search(rf"{name} \d+\.\d\d", large), large
        assert name in out
    assert "fastfeed default - rembg u2netp, per photo, iou:" in out
    rows = list(csv.DictReader(open(table)))
    assert [r["image"] for r in rows] == ["0000", "0001", "0002"]
    for key in (name.replace(" ", "_") for name in names):
        assert 0 <= float(rows[0][f"{key}_iou"]) <= 1
        assert float(rows[0][f"{key}_seconds"]) > 0
    # U²-NetP finds the clean central box.
    assert float(rows[0]["rembg_u2netp_iou"]) > 0.5
    assert cli.main(argv) == 2  # the CSV exists: --overwrite to replace it
    assert "--overwrite" in capsys.readouterr().err


def test_bench_remove_bg_refusals(tmp_path, tiny_model, capsys, monkeypatch):
    from benchmarks import remove_bg

    assert cli.main(["bench", "remove-bg", str(tmp_path / "nothing")]) == 2
    assert "images" in capsys.readouterr().err
    assert cli.main(["bench", "remove-bg", str(tmp_path / "nothing"), "--megapixels",
                     "-1"]) == 2
    assert "--megapixels -1: use 0 (no large photo), or 0.01 up to 100" in capsys.readouterr().err
    assert cli.main(["bench", "remove-bg", str(tmp_path / "nothing"), "--megapixels",
                     "1e-9"]) == 2  # a photo of no pixel
    assert "--megapixels 1e-09: use 0" in capsys.readouterr().err
    monkeypatch.setattr(remove_bg, "u2netp", lambda: None)
    _real_folder(tmp_path / "real")
    assert cli.main(["bench", "remove-bg", str(tmp_path / "real")]) == 2
    assert "fastfeed[peer]" in capsys.readouterr().err


@pytest.mark.slow
def test_a_shape_seen_twice_runs_compiled_with_the_same_map(tiny_model):
    from fastfeed.background import inference

    model = background.load_model(tiny_model)
    rgb = _photo(48, 64, seed=3)
    first = inference.predict_low(model, rgb, 64, scales=(1.0, 1.5))  # eager: new shapes
    compiled, seen = inference._COMPILED[model]
    assert len(seen) == 2  # one shape per size
    second = inference.predict_low(model, rgb, 64, scales=(1.0, 1.5))  # traced, compiled
    assert compiled.experimental_get_tracing_count() == 2
    np.testing.assert_allclose(second, first, atol=1e-5)


@pytest.mark.slow
def test_traced_shapes_run_compiled_from_the_first_call(tiny_model):
    from fastfeed.background import inference

    model = background.load_model(tiny_model)
    rgb = _photo(48, 64, seed=3)
    # 48x64 at 64 px: 64x64 (48 px rounded to the stride); at 96 px: 64x96.
    assert inference.trace_shapes(model, [(48, 64), (48, 64)], 64, (1.0, 1.5)) == 2
    compiled, seen = inference._COMPILED[model]
    assert seen == {(2, 64, 64, 3), (2, 64, 96, 3)}
    assert compiled.experimental_get_tracing_count() == 2
    first = inference.predict_low(model, rgb, 64, scales=(1.0, 1.5))
    assert compiled.experimental_get_tracing_count() == 2  # no eager call, no new trace
    assert first.shape == (64, 96)
    assert inference.trace_shapes(model, [(48, 64)], 64, (1.0, 1.5)) == 0
