"""Background plates: the largest object-free part of a photo (`remove-bg --plate`)."""

import os

import numpy as np
import pytest
from PIL import Image

from fastfeed import background, cli
from fastfeed.background import plates


def _object(height, width, top, left, bottom, right):
    alpha = np.zeros((height, width), np.float32)
    alpha[top:bottom, left:right] = 1.0
    return alpha


def test_the_plate_is_the_largest_free_rectangle_clear_of_the_widened_object():
    # An object on the right third: the plate is the left part, kept a margin away.
    alpha = _object(300, 400, 50, 280, 250, 360)
    # 280 px less a margin of 5% of 400, on a grid of 6.25 px cells.
    assert plates.plate_box(alpha, margin=0.05, max_aspect=3) == (0, 0, 300, 250)
    # Each side at most max_aspect times the other: here, a square.
    assert plates.plate_box(alpha, margin=0.05, max_aspect=1) == (0, 0, 250, 250)


def test_no_plate_where_the_object_leaves_too_little():
    assert plates.plate_box(np.ones((120, 160))) is None
    # A free strip 15% of the shorter side across, under the 35% asked.
    alpha = _object(200, 200, 30, 0, 200, 200)
    assert plates.plate_box(alpha, min_side=0.35, margin=0) is None
    # Asked for 10%: the strip over the object, its length twice its width at most.
    assert plates.plate_box(alpha, min_side=0.1, margin=0) == (0, 0, 28, 56)
    # No object: the whole photo (a square-ish one, within the aspect limit).
    assert plates.plate_box(np.zeros((90, 120))) == (0, 0, 90, 120)


def test_a_faint_speck_of_object_in_a_cell_keeps_the_plate_off_it():
    alpha = np.zeros((640, 640), np.float32)
    alpha[320, 5] = 1.0  # one pixel of 100 in its 10x10 cell
    top, left, height, width = plates.plate_box(alpha, margin=0)
    assert not (top <= 320 < top + height and left <= 5 < left + width)


@pytest.mark.parametrize("bad", [{"min_side": 0}, {"min_side": 1.5}, {"margin": -0.1},
                                 {"max_aspect": 0.5}, {"grid": 2}])
def test_plate_options_are_checked(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        plates.plate_box(np.zeros((10, 10)), **bad)


def test_remove_bg_plate_writes_the_free_part_and_tells_which_had_none(
        tmp_path, tiny_model, capsys, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (60, 80, 3), np.uint8)
    scene[:, 50:] = 255  # the object: the white right part
    Image.fromarray(scene).save(photos / "side.png")
    Image.fromarray(np.full((60, 80, 3), 255, np.uint8)).save(photos / "full.png")
    # A remover that sees an object wherever the photo is white.
    monkeypatch.setattr(background, "predict",
                        lambda model, rgb, *args: (rgb.min(-1) == 255).astype(np.float32))
    out = tmp_path / "plates"
    argv = ["remove-bg", str(photos), "--plate", "--out", str(out), "--model", tiny_model]
    assert cli.main(argv) == 0  # a photo without a plate is told, not failed
    captured = capsys.readouterr()
    assert "1 written" in captured.out
    assert "no plate in 1 photo" in captured.err and "full.png" in captured.err
    plate = np.asarray(Image.open(out / "side.png"))
    assert plate.shape[2] == 3 and plate.shape[0] == 60 and 30 <= plate.shape[1] < 50
    np.testing.assert_array_equal(plate, scene[:, :plate.shape[1]])  # the photo's pixels
    assert not (out / "full.png").exists()
    with pytest.raises(SystemExit):  # one kind of output at a time
        cli.main(argv + ["--mask"])
    assert cli.main(["remove-bg", "-", "--plate", "--model", tiny_model]) == 2
    assert "--plate" in capsys.readouterr().err


def test_watch_tells_a_photo_without_a_plate_and_writes_the_others(tmp_path, capsys):
    from fastfeed.cli import remove_bg

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a_side", "b_full", "z_stop"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(inbox / f"{name}.png")

    def cut(path, name):  # what run()'s cut returns: an image, or None for no plate
        if "z_stop" in path:
            raise KeyboardInterrupt  # Ctrl-C, once the others are done
        return None if "b_full" in path else Image.new("RGB", (4, 4))

    assert remove_bg._watch(str(inbox), str(tmp_path / "out"), False, cut,
                            period=0.01) == 0
    out = capsys.readouterr().out
    assert "b_full.png: no plate" in out and "1 written" in out
    assert sorted(os.listdir(tmp_path / "out")) == ["a_side.png"]
