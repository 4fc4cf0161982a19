import os

import pytest

from fastfeed import files


@pytest.mark.parametrize("path, expected", [
    ("a/b.jpg", "a/b.jpg"), ("./a//b/./c.jpg", "a/b/c.jpg"), ("a/../b.jpg", "b.jpg"),
    (".", ""),
])
def test_safe_relative_path_normalises(path, expected):
    assert files.safe_relative_path(path, context="t") == expected


@pytest.mark.parametrize("path", ["../a", "a/../../b", "/abs", "C:/x", "a\\b", "a\0b"])
def test_safe_relative_path_refuses_escapes(path):
    with pytest.raises(files.UnsafePathError):
        files.safe_relative_path(path, context="t")


def test_directory_tree_reads_and_reports_missing(tmp_path):
    (tmp_path / "top" / "a").mkdir(parents=True)
    (tmp_path / "top" / "a" / "x.bin").write_bytes(b"123")
    tree = files.open_tree(tmp_path, top="top")
    assert tree.names() == {"a/x.bin"}
    assert tree.read_many(["a/x.bin"]) == {"a/x.bin": b"123"}
    with pytest.raises(files.MissingFilesError, match="a/y.bin"):
        tree.read_many(["a/x.bin", "a/y.bin"])
    assert tree.read_many(["a/y.bin"], missing_ok=True) == {}


def test_too_large_file_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "big.bin").write_bytes(b"0" * 2048)
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1024)
    with pytest.raises(ValueError, match="big.bin is .* over the"):
        files.open_tree(tmp_path).read_many(["big.bin"])


def test_corrupt_archive_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.tgz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ValueError, match="broken.tgz' is corrupt or truncated"):
        files.open_tree(path, top="x").names()


def test_written_whole_replaces_a_file_only_when_the_write_ends_well(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with files.written_whole(str(path)) as temporary:
            open(temporary, "w").write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with files.written_whole(str(path)) as temporary:
        open(temporary, "w").write("new")
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_written_whole_temporaries_are_unique_to_each_writer(tmp_path):
    # Two writers of one path (two runs sharing an --out) interleave: each writes its
    # own temporary file, and the path ends as one of the two whole files.
    path = str(tmp_path / "0001.png")
    with files.written_whole(path) as first, files.written_whole(path) as second:
        assert first != second and os.path.dirname(first) == str(tmp_path)
        open(first, "w").write("A" * 1000)
        open(second, "w").write("B" * 10)
        open(first, "a").write("A")
    assert open(path).read() in ("A" * 1001, "B" * 10)
    assert os.listdir(tmp_path) == ["0001.png"]
