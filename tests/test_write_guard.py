"""One write guard for every command (files.write_conflict): a write target that is,
lies inside or holds what the same command reads is refused before any work, even with
--overwrite, and nothing read is changed. One table, commands x faults."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from fastfeed import cli, files


def _world(root, tiny_model):
    """What the commands read: photos with masks, cut-outs, backgrounds, a model."""
    rng = np.random.default_rng(0)
    for sub in ("real/images", "real/masks", "objects", "backgrounds", "photos"):
        (root / sub).mkdir(parents=True)
    for k in range(2):
        rgb = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(root / "real" / "images" / f"{k:04d}.png")
        Image.fromarray(rgb).save(root / "photos" / f"{k:04d}.png")
        Image.fromarray(rgb).save(root / "backgrounds" / f"{k:04d}.png")
        mask = np.zeros((40, 48), np.uint8)
        mask[10:30, 12:36] = 255
        Image.fromarray(mask).save(root / "real" / "masks" / f"{k:04d}.png")
        Image.fromarray(np.dstack([rgb, mask])).save(root / "objects" / f"{k:04d}.png")
    (root / "run" / "main").mkdir(parents=True)
    shutil.copyfile(tiny_model, root / "run" / "main" / "model.keras")
    shutil.copyfile(tiny_model, root / "model.keras")
    (root / "manual").mkdir()


# (case, command line; {R} is the world's root). Every command that writes is here
# with each relation: is, lies inside, holds.
CASES = [
    ("remove-bg --out is the --model", "remove-bg {R}/photos/0000.png --out {R}/model.keras "
     "--model {R}/model.keras --overwrite"),
    ("remove-bg --out holds the input", "remove-bg {R}/photos/0000.png --out {R} "
     "--model {R}/model.keras --overwrite"),
    ("remove-bg --out inside the input", "remove-bg {R}/photos --out {R}/photos/cut "
     "--model {R}/model.keras"),
    ("remove-bg --plate --out inside the input", "remove-bg {R}/photos --plate --out "
     "{R}/photos/plates --model {R}/model.keras"),
    ("remove-bg --watch --out inside the watched folder", "remove-bg --watch {R}/photos "
     "--out {R}/photos/cut --model {R}/model.keras"),
    ("remove-bg --watch --out holds the --model", "remove-bg --watch {R}/photos "
     "--out {R} --model {R}/model.keras"),
    ("eval-bg --csv is a mask", "eval-bg {R}/real --csv {R}/real/masks/0001.png --overwrite"),
    ("eval-bg --csv is the --model", "eval-bg {R}/real --model {R}/model.keras "
     "--csv {R}/model.keras --overwrite"),
    ("eval-bg --csv inside DIR", "eval-bg {R}/real --csv {R}/real/scores.csv"),
    ("preview --out is a cut-out", "preview composites --objects {R}/objects "
     "--out {R}/objects/0000.png --overwrite"),
    ("preview --examples-dir holds the backgrounds", "preview composites --backgrounds "
     "{R}/backgrounds --out {R}/grid.png --examples-dir {R} --overwrite"),
    ("train --run-dir holds --init", "train --task composites --smoke --run-dir {R}/run "
     "--init {R}/run/main/model.keras --overwrite"),
    ("train --run-dir inside --objects", "train --task composites --smoke --run-dir "
     "{R}/objects/run --objects {R}/objects"),
    ("train --run-dir inside --eval-real", "train --task composites --smoke --run-dir "
     "{R}/real/run --eval-real {R}/real"),
    ("adapt --run-dir inside PHOTOS", "adapt {R}/photos --run-dir {R}/photos/run "
     "--base {R}/model.keras"),
    ("adapt --run-dir holds --base", "adapt {R}/photos --run-dir {R}/run "
     "--base {R}/run/main/model.keras --overwrite"),
    ("adapt --run-dir inside --objects", "adapt {R}/photos --run-dir {R}/objects/run "
     "--base {R}/model.keras --objects {R}/objects:1"),
    ("build --data-dir inside --manual-dir", "build lfw_pairs --manual-dir {R}/manual "
     "--data-dir {R}/manual"),
    ("bench remove-bg --csv inside DIR", "bench remove-bg {R}/real --csv "
     "{R}/real/masks/bench.csv --model {R}/model.keras"),
]


# Commands that write nothing a user names (eval rewrites its own run's results,
# serve-data journals to a --work-dir no other option reads, serve-bg writes nothing).
WRITES_NOTHING_READ = {"eval", "serve-data", "serve-bg"}


def test_every_command_is_in_the_table():
    import argparse

    from fastfeed.cli import COMMANDS

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    for add_parser in COMMANDS:
        add_parser(commands)
    tried = {line.split()[0] if not line.startswith("bench") else "bench"
             for _, line in CASES}
    for name in commands.choices:
        assert name in tried | WRITES_NOTHING_READ, (
            f"add the new command {name!r} to CASES (or to WRITES_NOTHING_READ)")


def test_several_photos_need_a_folder(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for k in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / f"{k}.png")
    assert cli.main(["remove-bg", str(tmp_path / "in"), "--out",
                     str(tmp_path / "one.png")]) == 2
    assert "2 photos need a folder" in capsys.readouterr().err
    assert not (tmp_path / "one.png").exists()


def _snapshot(root):
    return {os.path.relpath(os.path.join(folder, name), root):
            open(os.path.join(folder, name), "rb").read()
            for folder, _, names in os.walk(root) for name in names}


@pytest.mark.parametrize("line", [pytest.param(line, id=case) for case, line in CASES])
def test_no_command_writes_over_or_into_what_it_reads(tmp_path, tiny_model, capsys, line):
    _world(tmp_path, tiny_model)
    before = _snapshot(tmp_path)
    argv = line.format(R=tmp_path).split()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "nothing is written over or into what the same command reads" in err or (
        "inside the input folder" in err), err
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before  # nothing replaced, nothing added


def test_links_are_resolved(tmp_path, tiny_model, capsys):
    _world(tmp_path, tiny_model)
    os.symlink(tmp_path / "real" / "masks", tmp_path / "elsewhere")
    before = _snapshot(tmp_path)
    assert cli.main(["eval-bg", str(tmp_path / "real"), "--csv",
                     str(tmp_path / "elsewhere" / "0000.png"), "--overwrite"]) == 2
    assert "lies inside DIR" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("reads, target, relation", [
    ({"DIR": ["a"]}, "a", "is"), ({"DIR": ["a"]}, "a/b/c.csv", "lies inside"),
    ({"--init": ["a/b/m.keras"]}, "a", "holds"), ({"DIR": ["a"]}, "ab", None),
    ({"DIR": ["missing"]}, "missing/x", None), ({"DIR": [""]}, "x", None)])
def test_write_conflict_relations(tmp_path, monkeypatch, reads, target, relation):
    monkeypatch.chdir(tmp_path)
    os.makedirs("a/b")
    open("a/b/m.keras", "w").close()
    os.makedirs("ab")
    problem = files.write_conflict(reads, {"--out": target})
    if relation is None:
        assert problem == ""
    else:
        assert problem.startswith(f"--out {target} {relation} ")
        assert "Choose another --out." in problem


def test_write_targets_are_checked_at_the_door(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    assert "is a folder" in files.target_problem("--csv", str(tmp_path / "folder"), "file")
    assert "is a file" in files.target_problem("--run-dir", str(tmp_path / "file"), "folder")
    assert "is a file, not a folder" in files.target_problem(
        "--csv", str(tmp_path / "file" / "a" / "b.csv"), "file")
    assert files.target_problem("--csv", str(tmp_path / "new" / "b.csv"), "file") == ""
    if os.geteuid() != 0:  # root may write anywhere
        os.chmod(tmp_path / "folder", 0o500)
        assert "not writable" in files.target_problem(
            "--csv", str(tmp_path / "folder" / "b.csv"), "file")


def test_eval_bg_skips_a_bad_mask_and_keeps_the_scores(tmp_path, tiny_model, capsys):
    _world(tmp_path, tiny_model)
    (tmp_path / "real" / "masks" / "0001.png").write_bytes(b"\x89PNG truncated")
    table = tmp_path / "out" / "scores.csv"
    assert cli.main(["eval-bg", str(tmp_path / "real"), "--model", tiny_model,
                     "--scales", "1", "--csv", str(table)]) == 1
    captured = capsys.readouterr()
    assert "skipped: 0001:" in captured.err
    assert "1 photos of" in captured.out and "(1 skipped" in captured.out
    assert [line.split(",")[0] for line in table.read_text().splitlines()] == [
        "image", "0000"]


def test_eval_bg_prints_the_scores_when_the_csv_cannot_be_written(tmp_path, tiny_model,
                                                                   capsys, monkeypatch):
    _world(tmp_path, tiny_model)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files, "written_whole", full)
    assert cli.main(["eval-bg", str(tmp_path / "real"), "--model", tiny_model,
                     "--scales", "1", "--csv", str(tmp_path / "scores.csv")]) == 1
    captured = capsys.readouterr()
    assert "No space left on device" in captured.err and "Traceback" not in captured.err
    assert "image,model_iou" in captured.out and "\n0001," in captured.out
