"""Bad protocol lines and bad images: each is an error naming the file and the fix."""

import os
import tarfile

import pytest
import tensorflow_datasets as tfds

import fake_lfw
import fastfeed  # noqa: F401
from fastfeed import files
from fastfeed import lfw as protocol


def _build(manual_dir, tmp_path, config="original"):
    builder = tfds.builder(f"lfw_pairs/{config}", data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def _replace_line(path, line_number, text):
    lines = open(path).read().splitlines()
    lines[line_number - 1] = text
    open(path, "w").write("\n".join(lines) + "\n")


@pytest.mark.parametrize("line, message", [
    ("Alice_Archer\t1", "expected 3 fields"),
    ("Alice_Archer\t1\tBob_Baker\t2\t7", "expected 3 fields"),
    ("Alice_Archer\tone\t2", "'one' is not a positive integer"),
    ("Alice_Archer\t1\t0", "'0' is not a positive integer"),
    ("Alice_Archer\t2\t2", "pairs an image with itself"),
    ("Alice_Archer\t1\tAlice_Archer\t2", "names the same person twice"),
    ("..\t1\t2", "is not a plain file or folder name"),
    ("Alice_Archer\t1\t../../etc\t2", "is not a plain file or folder name"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "pairsDevTrain.txt"
    path.write_text("2\nA\t1\t2\nB\t1\t2\nA\t1\tB\t1\nA\t2\tB\t2\n")
    _replace_line(path, 4, line)
    with pytest.raises(protocol.ProtocolError, match=message) as error:
        protocol.parse_pairs_file(path)
    assert f"{path}:4:" in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("", "file is empty"),
    ("two\nA\t1\t2\n", "header 'two' must be"),
    ("1\nA\t1\t2\n", "announces 1 fold"),  # one line short
    ("1\nA\t1\t2\nA\t1\tB\t1\nA\t1\tB\t2\n", "has 3 pair lines"),  # one too many
])
def test_bad_header_or_count(tmp_path, text, message):
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse_pairs_file(path)


def test_official_layout_folds_and_labels(tmp_path):
    fake_lfw.write_protocol(str(tmp_path))
    splits = protocol.load_protocol(
        {name: str(tmp_path / name) for name in protocol.PROTOCOL_FILES})
    assert {k: len(v) for k, v in splits.items()} == fake_lfw.SPLIT_SIZES
    # pairs.txt: fold k is lines 2(k-1)+2 ... 2k+1 here (600(k-1)+2 ... 600k+1 in LFW).
    assert [p.line for p in splits["fold3"]] == [6, 7]
    assert [p.same for p in splits["fold3"]] == [True, False]


def test_pairs_file_with_wrong_fold_count(tmp_path):
    fake_lfw.write_protocol(str(tmp_path))
    (tmp_path / "pairs.txt").write_text("1\nA\t1\t2\nA\t1\tB\t1\n")
    with pytest.raises(protocol.ProtocolError, match="expected 10 folds"):
        protocol.load_protocol({n: str(tmp_path / n) for n in protocol.PROTOCOL_FILES})


def test_unknown_person_is_an_error_with_file_line_and_image(lfw_manual_dir, tmp_path):
    pairs = lfw_manual_dir / "pairs.txt"
    _replace_line(pairs, 3, "Nobody_Known\t1\tBob_Baker\t2")
    _replace_line(pairs, 4, "Alice_Archer\t2\t9")  # Alice has 4 images
    with pytest.raises(protocol.ProtocolError) as error:
        _build(lfw_manual_dir, tmp_path)
    text = str(error.value)
    assert f"{pairs}:3: Nobody_Known/Nobody_Known_0001.jpg is not in" in text
    assert f"{pairs}:4: Alice_Archer/Alice_Archer_0009.jpg is not in" in text


def test_corrupt_jpeg_fails_with_its_name(lfw_manual_dir, tmp_path):
    victim = lfw_manual_dir / "lfw" / "Bob_Baker" / "Bob_Baker_0002.jpg"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match="Bob_Baker_0002.jpg is a corrupt or truncated JPEG"):
        _build(lfw_manual_dir, tmp_path)
    victim.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match="Bob_Baker_0002.jpg is not a JPEG file"):
        _build(lfw_manual_dir, tmp_path)


def test_wrong_image_size_is_an_error(lfw_manual_dir, tmp_path):
    victim = lfw_manual_dir / "lfw" / "Alice_Archer" / "Alice_Archer_0001.jpg"
    victim.write_bytes(fake_lfw.face_jpeg("Alice_Archer", 1, size=100))
    with pytest.raises(ValueError, match=r"Alice_Archer_0001.jpg decodes to \(100, 100, 3\)"):
        _build(lfw_manual_dir, tmp_path)


@pytest.mark.parametrize("member", [
    ("lfw/../../evil.txt", b"x"),
    ("lfw/Alice_Archer/link.jpg", b"", tarfile.SYMTYPE, "../../../etc/passwd"),
    ("lfw/Alice_Archer/abs.jpg", b"", tarfile.SYMTYPE, "/etc/passwd"),
    # A hard link's target is relative to the archive's root, not to its own folder:
    # this one leads one level above the root (it used to pass as lfw/escape.jpg).
    ("lfw/Alice_Archer/hard.jpg", b"", tarfile.LNKTYPE, "../escape.jpg"),
])
def test_archive_member_escaping_its_folder_is_refused(tmp_path, member):
    manual = tmp_path / "manual"
    manual.mkdir()
    fake_lfw.write_protocol(str(manual))
    fake_lfw.write_archive(str(manual / "lfw.tgz"), "lfw", extra_members=[member])
    with pytest.raises(files.UnsafePathError, match="refused"):
        _build(manual, tmp_path)
    with pytest.raises(files.UnsafePathError, match="refused"):  # extraction too
        protocol.people_from_dir(manual / "lfw.tgz", extract_dir=str(tmp_path / "x"))


def test_absolute_member_is_read_inside_the_archive(tmp_path):
    """As extraction with the standard 'data' filter does, a leading '/' is dropped:
    /etc/evil.txt is read as etc/evil.txt of the archive, never from the disk."""
    manual = tmp_path / "manual"
    manual.mkdir()
    fake_lfw.write_protocol(str(manual))
    fake_lfw.write_archive(str(manual / "lfw.tgz"), "lfw",
                           extra_members=[("/etc/evil.txt", b"x")])
    tree = files.open_tree(manual / "lfw.tgz")
    assert "etc/evil.txt" in tree.names()
    assert _build(manual, tmp_path).info.splits["train"].num_examples == 4


def test_named_manual_dir_that_is_missing_or_empty_is_an_error(tmp_path):
    """Only TFDS' default manual folder may be absent (then lfw_pairs downloads); a
    folder the user named must hold the files."""
    for manual in (tmp_path / "typo", tmp_path / "empty"):
        if manual.name == "empty":
            manual.mkdir()
        with pytest.raises(FileNotFoundError, match=f"{manual.name}' (does not exist|is "
                                                    f"empty).*pairs.txt"):
            _build(manual, tmp_path)


def test_archive_with_wrong_top_folder_says_what_it_holds(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    fake_lfw.write_protocol(str(manual))
    fake_lfw.write_archive(str(manual / "lfw.tgz"), "lfw-deepfunneled")
    with pytest.raises(FileNotFoundError, match="top level holds: lfw-deepfunneled"):
        _build(manual, tmp_path)


def test_manual_dir_missing_files_lists_them(lfw_manual_dir, tmp_path):
    os.remove(lfw_manual_dir / "pairsDevTest.txt")
    with pytest.raises(FileNotFoundError, match=r"lacks pairsDevTest.txt"):
        _build(lfw_manual_dir, tmp_path)
    with pytest.raises(FileNotFoundError,
                       match=r"lacks lfw-deepfunneled.tgz \(or the extracted folder"):
        _build(lfw_manual_dir, tmp_path, config="deepfunneled")


def test_symlink_out_of_folder_is_refused(lfw_manual_dir, tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(fake_lfw.face_jpeg("X", 1))
    target = lfw_manual_dir / "lfw" / "Alice_Archer" / "Alice_Archer_0001.jpg"
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(files.UnsafePathError, match="outside"):
        _build(lfw_manual_dir, tmp_path)


def test_an_lfw_archive_is_extracted_privately_and_only_when_whole(tmp_path, monkeypatch):
    from fastfeed.lfw import layout

    monkeypatch.setenv("FASTFEED_CACHE", str(tmp_path / "cache"))
    fake_lfw.write_archive(str(tmp_path / "lfw.tgz"), "lfw")
    people = protocol.people_from_dir(tmp_path / "lfw.tgz")
    cache = tmp_path / "cache" / "lfw"
    assert all(path.startswith(str(cache)) for paths in people.values() for path in paths)
    assert os.stat(cache).st_mode & 0o777 == 0o700
    (extracted,) = os.listdir(cache)  # no temporary folder left beside it
    # Damaged in the middle: named as such, nothing marked complete, nothing left.
    import gzip
    with tarfile.open(tmp_path / "lfw.tgz") as archive:
        middle = archive.getmembers()[len(archive.getmembers()) // 2].offset
    raw = bytearray(gzip.decompress((tmp_path / "lfw.tgz").read_bytes()))
    raw[middle:middle + 512] = b"\x07" * 512  # a member's header
    (tmp_path / "damaged.tgz").write_bytes(gzip.compress(bytes(raw)))
    for _ in range(2):  # the second try is refused as the first: no cache to trust
        with pytest.raises(ValueError, match="damaged"):
            protocol.people_from_dir(tmp_path / "damaged.tgz")
    assert sorted(os.listdir(cache)) == [extracted]
    # An archive with an official release's size but other bytes.
    size = os.path.getsize(tmp_path / "lfw.tgz")
    monkeypatch.setitem(layout.OFFICIAL_SHA256, size, "0" * 64)
    os.utime(tmp_path / "lfw.tgz", ns=(1, 1))  # not the extraction already made
    with pytest.raises(ValueError, match="official release's size but not its SHA-256"):
        protocol.people_from_dir(tmp_path / "lfw.tgz")


def test_a_download_without_a_network_fails_in_seconds_saying_what_to_do(monkeypatch):
    import socket

    from fastfeed.tfds_builders.lfw_pairs import lfw_pairs_dataset_builder as builder

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    builder.reachable([f"http://127.0.0.1:{port}/lfw.tgz"], timeout_s=5)  # answers
    server.close()
    with pytest.raises(ConnectionError, match=f"cannot reach 127.0.0.1:{port} to download "
                                              f"LFW.*--manual-dir"):
        builder.reachable([f"http://127.0.0.1:{port}/lfw.tgz"], timeout_s=5)
    asked = []

    def no_network(address, timeout):
        asked.append(timeout)
        raise OSError("Name or service not known")
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(ConnectionError, match="ndownloader.figshare.com:443"):
        builder.reachable([builder.URLS["pairs.txt"]])
    assert asked == [builder.REACH_TIMEOUT_S]
