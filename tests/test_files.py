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


def _tar_gz(path, members, damage_member=None):
    """A .tgz of ``{name: bytes}``; with ``damage_member``, that member's header block
    overwritten with non-zero garbage (a damaged copy, its size unchanged)."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    data = bytearray(raw.getvalue())
    if damage_member is not None:
        offset = data.find(damage_member.encode())
        data[offset:offset + 512] = b"\x07" * 512
    path.write_bytes(gzip.compress(bytes(data)))


def test_an_archive_damaged_in_the_middle_is_named_as_damaged(tmp_path):
    members = {f"top/p{k}/p{k}_0001.jpg": bytes([k + 1]) * 700 for k in range(4)}
    _tar_gz(tmp_path / "good.tgz", members)
    files.extract_archive(str(tmp_path / "good.tgz"), str(tmp_path / "good"))
    assert len(os.listdir(tmp_path / "good" / "top")) == 4
    # tarfile alone reads the first member and stops at the broken header, silently.
    _tar_gz(tmp_path / "bad.tgz", members, damage_member="top/p1/p1_0001.jpg")
    with pytest.raises(ValueError, match="bad.tgz' is damaged.*download it again"):
        files.extract_archive(str(tmp_path / "bad.tgz"), str(tmp_path / "bad"))
    # Cut short: the compressed stream ends early.
    whole = (tmp_path / "good.tgz").read_bytes()
    (tmp_path / "short.tgz").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        files.extract_archive(str(tmp_path / "short.tgz"), str(tmp_path / "short"))


def test_the_private_cache_is_the_users_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTFEED_CACHE", str(tmp_path / "cache"))
    folder = files.private_cache("lfw")
    assert folder == str(tmp_path / "cache" / "lfw")
    for path in (tmp_path / "cache", tmp_path / "cache" / "lfw"):
        assert os.stat(path).st_mode & 0o777 == 0o700
    os.chmod(folder, 0o777)  # loosened by someone: tightened again
    files.private_cache("lfw")
    assert os.stat(folder).st_mode & 0o777 == 0o700
    # A link planted where a cache folder should be is refused, not followed.
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "cache" / "planted")
    with pytest.raises(PermissionError, match="is a link or belongs to another user"):
        files.private_cache("planted")
    with pytest.raises(files.UnsafePathError):
        files.private_cache("..")


def test_reading_an_archive_damaged_in_the_middle_is_refused(tmp_path):
    members = {f"top/p{k}/p{k}_0001.jpg": bytes([k + 1]) * 700 for k in range(4)}
    _tar_gz(tmp_path / "good.tgz", members)
    assert len(files.open_tree(str(tmp_path / "good.tgz"), top="top").names()) == 4
    _tar_gz(tmp_path / "bad.tgz", members, damage_member="top/p2/p2_0001.jpg")
    with pytest.raises(ValueError, match="is damaged"):
        files.open_tree(str(tmp_path / "bad.tgz"), top="top").names()


def test_the_data_root_is_fastfeed_data_else_beside_the_checkout(tmp_path, monkeypatch):
    (tmp_path / "mine" / "lfw").mkdir(parents=True)
    monkeypatch.setenv("FASTFEED_DATA", str(tmp_path / "mine"))
    assert files.data_root() == str(tmp_path / "mine")
    assert files.data_path("lfw") == str(tmp_path / "mine" / "lfw")
    assert files.data_path("real_dev") == ""  # not there: the option is then required
    monkeypatch.delenv("FASTFEED_DATA")
    monkeypatch.setattr(files, "_BESIDE_CHECKOUT", str(tmp_path / "shared" / "data"))
    assert files.data_root() == "" and files.data_path("lfw") == ""
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert files.data_root() == str(tmp_path / "shared" / "data")


def test_the_lfw_task_reads_the_data_roots_lfw_unless_told(tmp_path, monkeypatch):
    import fake_lfw
    from fastfeed import tasks

    with pytest.raises(tasks.ConfigError, match="--lfw DIR is required.*FASTFEED_DATA"):
        tasks.make_config("lfw", {"model": "diff_cnn"})  # conftest: an empty data root
    (tmp_path / "lfw").mkdir()
    fake_lfw.write_protocol(str(tmp_path / "lfw"))
    fake_lfw.write_folder(str(tmp_path / "lfw"), "lfw")
    monkeypatch.setenv("FASTFEED_DATA", str(tmp_path))
    config = tasks.make_config("lfw", {"model": "diff_cnn"})
    assert (config.lfw, config.lfw_config) == (str(tmp_path / "lfw"), "original")
