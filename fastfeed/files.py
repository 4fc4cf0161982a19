"""Safe reading of file trees that come as a folder or as a tar archive.

Datasets such as LFW ship as ``lfw.tgz`` holding ``lfw/<Name>/<Name>_0001.jpg``; users
also extract them. :func:`open_tree` gives one read-only view of both, by relative POSIX
path below a top folder, and refuses what could read outside it: archive members or
links whose path escapes, names with ``..`` or absolute paths, files that are too large.

    tree = open_tree('lfw-deepfunneled.tgz', top='lfw-deepfunneled')
    data = tree.read_many(['AJ_Cook/AJ_Cook_0001.jpg'])
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import posixpath
import secrets
import stat
import tarfile
from typing import Iterable, Mapping

logger = logging.getLogger(__name__)

# No single image of this library's datasets comes near this; a bigger file is a mistake
# (or a decompression bomb) rather than data.
MAX_FILE_BYTES = 64 * 1024 * 1024


class UnsafePathError(ValueError):
    """A path, archive member or link that would lead outside its folder."""


class MissingFilesError(FileNotFoundError):
    """Files that were asked for and are not in the tree."""


def check_component(name: str, what: str = "name") -> str:
    """Returns ``name`` if it is one safe path component, else raises UnsafePathError.

    A component is safe when it is not empty, not ``.`` or ``..`` and holds no path
    separator or NUL: joining it to a folder stays inside that folder.
    """
    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or "\0" in name):
        raise UnsafePathError(
            f"{what} {name!r} is not a plain file or folder name: it must not be empty, "
            f"'.' or '..', nor contain '/', '\\' or NUL.")
    return name


def safe_relative_path(path: str, *, context: str) -> str:
    """Normalises a POSIX relative path, refusing absolute paths and ``..`` escapes.

    >>> safe_relative_path('a/./b//c.jpg', context='x')
    'a/b/c.jpg'
    """
    if "\0" in path or "\\" in path:
        raise UnsafePathError(f"{context}: path {path!r} holds a NUL or backslash; refused.")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise UnsafePathError(f"{context}: absolute path {path!r} refused.")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise UnsafePathError(
            f"{context}: path {path!r} escapes its folder; refused.")
    return "" if normal == "." else normal


class FileTree(abc.ABC):
    """Read-only files below one folder, addressed by relative POSIX paths."""

    def __init__(self, location: str, top: str):
        self.location = location
        self.top = top

    def describe(self, relative_path: str = "") -> str:
        """Human-readable location of a file, for error messages."""
        inner = posixpath.join(self.top, relative_path) if self.top else relative_path
        return f"{self.location}:{inner}" if self.is_archive else os.path.join(
            self.location, inner)

    is_archive = False

    @abc.abstractmethod
    def names(self) -> frozenset[str]:
        """All file paths in the tree, relative to its top folder."""

    @abc.abstractmethod
    def read_many(self, relative_paths: Iterable[str], *,
                  missing_ok: bool = False) -> dict[str, bytes]:
        """Reads the given files in one pass.

        Raises MissingFilesError naming any that are absent, unless ``missing_ok``: then
        they are left out of the result (the caller reports them with more context).
        """

    def read_all(self) -> dict[str, bytes]:
        """Every file of the tree (for an archive: in one pass)."""
        return self.read_many(self.names())

    def _check_missing(self, wanted: set[str], found: Mapping[str, bytes],
                       missing_ok: bool) -> None:
        missing = sorted(wanted - found.keys())
        if missing_ok:
            return
        if missing:
            shown = ", ".join(self.describe(m) for m in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise MissingFilesError(f"{len(missing)} file(s) not found: {shown}{more}.")


def is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or below it, links resolved."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def listed_paths(text: str | None) -> list[str]:
    """The paths of an option that lists them: ``PATH[:WEIGHT],...`` (a mix of sources)
    or one path; the weights left off.

    >>> listed_paths('objects:1,photos:2.5,procedural')
    ['objects', 'photos', 'procedural']
    """
    paths = []
    for part in (text or "").split(","):
        part = part.strip()
        path, _, weight = part.rpartition(":")
        try:
            float(weight)
        except ValueError:
            path = part
        if path:
            paths.append(path)
    return paths


def write_conflict(reads: Mapping[str, Iterable[str]], writes: Mapping[str, str]) -> str:
    """Why a command must not write ``writes`` (``{option: path}``) given what it reads
    (``{option: paths}``), or "" when it may: a write target that is a path read, lies
    inside a folder read, or holds one (links resolved), so that neither the write nor
    an ``--overwrite`` that clears the target can touch an input. Paths that do not
    exist are not inputs yet and are passed over; so are empty ones."""
    for option, target in writes.items():
        if not target:
            continue
        written = os.path.realpath(target)
        for read_option, paths in reads.items():
            for path in paths:
                if not path or not os.path.exists(path):
                    continue
                read = os.path.realpath(path)
                if written == read:
                    relation = "is"
                elif is_within(written, read):
                    relation = "lies inside"
                elif is_within(read, written):
                    relation = "holds"
                else:
                    continue
                return (f"{option} {target} {relation} {read_option} {path}: nothing "
                        f"is written over or into what the same command reads, even "
                        f"with --overwrite. Choose another {option}.")
    return ""


def target_problem(option: str, path: str, kind: str) -> str:
    """Why ``path`` cannot be written as a ``kind`` ("file" or "folder"), "" when it
    can: a folder where a file is wanted (or the reverse), or a nearest existing
    parent that is a file or not writable (the folders missing below it are made by
    the writer). Checked before any work."""
    if kind == "file" and os.path.isdir(path):
        return f"{option} {path} is a folder; give a file name."
    if kind == "folder" and os.path.exists(path) and not os.path.isdir(path):
        return f"{option} {path} is a file; give a folder."
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            return f"{option} {path} is not writable; choose another {option}."
        return ""
    while not os.path.exists(parent):  # missing folders are made on the way
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return (f"{option} {path}: {parent} is a file, not a folder; choose another "
                f"{option}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{option} {path}: {parent} is not writable; choose another {option}."
    return ""


class DirectoryTree(FileTree):
    """Files below ``location/top`` on disk; symbolic links may not lead outside it."""

    def __init__(self, location: str, top: str = ""):
        super().__init__(location, top)
        self.root = os.path.realpath(os.path.join(location, top))
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"Folder {os.path.join(location, top)!r} does not exist.")
        self._names: frozenset[str] | None = None

    def names(self) -> frozenset[str]:
        if self._names is None:
            found = []
            for folder, dirs, files in os.walk(self.root):
                dirs.sort()
                relative_folder = os.path.relpath(folder, self.root)
                for name in files:
                    relative = name if relative_folder == "." else posixpath.join(
                        relative_folder.replace(os.sep, "/"), name)
                    found.append(relative)
            self._names = frozenset(found)
        return self._names

    def resolve(self, relative_path: str) -> str:
        """The file's path on disk; :class:`UnsafePathError` when it leads outside."""
        relative = safe_relative_path(relative_path, context=self.describe())
        path = os.path.realpath(os.path.join(self.root, relative))
        if not is_within(path, self.root):
            raise UnsafePathError(
                f"{self.describe(relative_path)} resolves to {path!r}, outside "
                f"{self.root!r} (a symbolic link?); refused.")
        return path

    def read_many(self, relative_paths: Iterable[str], *,
                  missing_ok: bool = False) -> dict[str, bytes]:
        wanted = set(relative_paths)
        found = {}
        for relative in sorted(wanted):
            path = self.resolve(relative)
            if not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if size > MAX_FILE_BYTES:
                raise ValueError(_too_large(self.describe(relative), size))
            with open(path, "rb") as f:
                found[relative] = f.read()
        self._check_missing(wanted, found, missing_ok)
        return found


class TarTree(FileTree):
    """Files below ``top/`` inside a tar archive (optionally compressed).

    Every member passes the standard library's ``data`` extraction filter
    (``tarfile.data_filter``) while reading: a ``..`` escape, a symbolic or hard link
    leading outside the archive (hard links resolve from the archive's root), an
    absolute link or a device file fails the read with UnsafePathError, whether or not
    that member was asked for, since such an archive is not trustworthy. A leading
    ``/`` is dropped, as extraction with the filter drops it.
    """

    is_archive = True
    # Where the filter pretends to extract: it only compares paths below this.
    _CHECK_ROOT = os.path.join(os.sep, "fastfeed-archive-root-that-does-not-exist")

    def __init__(self, location: str, top: str = ""):
        super().__init__(location, top)
        if not os.path.isfile(location):
            raise FileNotFoundError(f"Archive {location!r} does not exist.")
        self._names: frozenset[str] | None = None
        self._tops: set[str] = set()

    def _scan(self, wanted: set[str] | None) -> dict[str, bytes]:
        """One streaming pass: checks every member, reads the wanted ones (None: all)."""
        found = {}
        names = []
        prefix = self.top + "/" if self.top else ""
        with _archive_errors(self.location):
            with tarfile.open(self.location, mode="r|*") as archive:
                for member in archive:
                    # Absolute names come back relative, as extraction makes them.
                    name = posixpath.normpath(
                        tarfile.data_filter(member, self._CHECK_ROOT).name)
                    if name != ".":
                        self._tops.add(name.split("/", 1)[0])
                    if not member.isfile() or not name.startswith(prefix):
                        continue
                    relative = name[len(prefix):]
                    names.append(relative)
                    if wanted is None or relative in wanted:
                        if member.size > MAX_FILE_BYTES:
                            raise ValueError(_too_large(self.describe(relative), member.size))
                        found[relative] = archive.extractfile(member).read()
                check_read_to_end(archive, self.location)
        self._names = frozenset(names)
        if not names:
            tops = ", ".join(sorted(self._tops)[:5]) or "nothing"
            raise FileNotFoundError(
                f"Archive {self.location!r} has no files under {prefix!r}; its top "
                f"level holds: {tops}.")
        return found

    def names(self) -> frozenset[str]:
        if self._names is None:
            self._scan(set())
        return self._names

    def read_many(self, relative_paths: Iterable[str], *,
                  missing_ok: bool = False) -> dict[str, bytes]:
        wanted = set(relative_paths)
        found = self._scan(wanted)
        self._check_missing(wanted, found, missing_ok)
        return found

    def read_all(self) -> dict[str, bytes]:
        return self._scan(None)


@contextlib.contextmanager
def _archive_errors(location: str):
    """Tar errors as this module's: a member refused by the ``data`` filter is an
    UnsafePathError; a corrupt or truncated archive a ValueError saying so."""
    try:
        yield
    except tarfile.FilterError as error:
        raise UnsafePathError(f"archive {location!r}: {error}; refused.") from None
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"Archive {location!r} is corrupt or truncated ({error}); "
                         f"download it again.") from error


def extract_archive(location: str, destination: str) -> None:
    """Extracts a tar archive into ``destination`` with the standard library's ``data``
    filter: the same members are refused as when reading it as a :class:`TarTree`.
    The archive is read to its end: tarfile takes a damaged header in the middle for
    the end of the archive and stops there without a word, so what follows the last
    member must be the archive's zero padding, else ValueError names it as damaged."""
    with _archive_errors(location), tarfile.open(location) as archive:
        archive.extractall(destination, filter="data")
        check_read_to_end(archive, location)


def check_read_to_end(archive: tarfile.TarFile, location: str) -> None:
    """ValueError unless nothing but zero blocks follows ``archive``'s last member (a
    truncated compressed stream raises on the way, as tarfile's own errors)."""
    stream = archive.fileobj
    if stream.tell() <= archive.offset:  # a stream (mode r|) cannot go back: read on
        stream.seek(archive.offset)
    while True:
        block = stream.read(1 << 20)
        if not block:
            return
        if block.count(0) != len(block):
            last = archive.members[-1].name if archive.members else "(none)"
            raise ValueError(f"Archive {location!r} is damaged: tar data that is not a "
                             f"member follows its member {last!r} (a broken header in "
                             f"the middle); download it again.")


DATA_ENV = "FASTFEED_DATA"
# Where a checkout's data sets lie when FASTFEED_DATA is not set: the folder
# shared/data beside the checkout (this project's development machines; docs/data.md).
_BESIDE_CHECKOUT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "shared", "data")


def data_root() -> str:
    """The folder of the real data sets (docs/data.md: ``lfw/``, ``products/``,
    ``real_dev/``, ...): ``$FASTFEED_DATA``, else ``shared/data`` beside the checkout
    when it exists, else "" (none: commands then need their paths given)."""
    root = os.environ.get(DATA_ENV, "")
    if root:
        return os.path.expanduser(root)
    return _BESIDE_CHECKOUT if os.path.isdir(_BESIDE_CHECKOUT) else ""


def data_path(*parts: str) -> str:
    """``parts`` below :func:`data_root` when it exists there, else "" (a default a
    command may leave out: its option is then required)."""
    root = data_root()
    path = os.path.join(root, *parts) if root else ""
    return path if path and os.path.exists(path) else ""


def private_cache(*parts: str) -> str:
    """A folder of this user's private cache, made if missing: ``$FASTFEED_CACHE``,
    else ``$XDG_CACHE_HOME/fastfeed``, else ``~/.cache/fastfeed``, then ``parts``.
    Every folder from the cache's root down is made with mode 0700, must belong to
    this user and must not be a symbolic link (PermissionError naming it otherwise),
    so that another user of the machine can neither plant nor redirect what is kept
    there, as a predictable folder in the shared temp folder allowed."""
    root = os.environ.get("FASTFEED_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "fastfeed")
    folder = root
    for part in ("", *parts):
        if part:
            folder = os.path.join(folder, check_component(part, "cache folder"))
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise PermissionError(f"cache folder {folder} is a link or belongs to another "
                                  f"user; remove it or set FASTFEED_CACHE to a folder of "
                                  f"yours.")
        if info.st_mode & 0o077:
            os.chmod(folder, 0o700)
    return folder


def open_tree(path: str | os.PathLike, top: str = "") -> FileTree:
    """A FileTree over a folder or a tar archive; ``top`` is the folder inside it.

    A file is read as a tar archive (plain, gzip, bzip2 or xz) whatever its name:
    downloads are often stored under a hashed name without suffix.
    """
    path = os.fspath(path)
    if top:
        top = safe_relative_path(top, context=f"top folder of {path!r}")
    if os.path.isfile(path):
        return TarTree(path, top)
    return DirectoryTree(path, top)


def _too_large(where: str, size: int) -> str:
    return (f"{where} is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB "
            f"limit for one file; remove it or shrink it.")


COMPLETE = ".complete"  # written last into a folder made once and reused


@contextlib.contextmanager
def written_whole(path: str, suffix: str = ".part"):
    """Yields a temporary path beside ``path`` to write to; when the block ends without
    an error it replaces ``path`` (so ``path`` is the whole new file, or the old one is
    kept), and otherwise it is removed. The temporary name is unique to the call
    (``path.<pid>-<random><suffix>``, as rsync and Git do), so two processes writing the
    same ``path`` never write into one temporary file: each rename is of a whole file."""
    temporary = f"{path}.{os.getpid()}-{secrets.token_hex(4)}{suffix}"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def is_complete(folder: str) -> bool:
    """Whether ``folder`` was finished by :func:`mark_complete` (a run that died half
    way through leaves no marker, and the folder is made again)."""
    return os.path.exists(os.path.join(folder, COMPLETE))


def mark_complete(folder: str) -> None:
    open(os.path.join(folder, COMPLETE), "w").close()
