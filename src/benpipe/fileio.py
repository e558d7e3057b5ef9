"""Whole-file and directory writes, and file hashing: the one home for each.

Atomic writes go to a fresh hidden temporary sibling (same directory, so the
same filesystem) and are renamed over the final name with ``os.replace``; an
interrupted run leaves no half-written file under a final name.  Streaming
writers that cannot hold the whole file in memory use :func:`open_temp_sibling`
and do the rename themselves.  Directory outputs are built in a hidden staging
sibling with :func:`staged_directory`, which also removes what a killed run
left behind.

Outputs never share an inode with an input: :func:`copy_file` copies an input
file into an output tree (a reflink where the filesystem supports it, else an
in-kernel copy); :func:`link_read_only` hard-links benpipe's own staging files
into a final output and removes the write bits of the shared inode, so an edit
of the output fails instead of changing the staging copy too.

Hashing streams through one reusable buffer per thread, so memory stays flat
whatever the file size.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import glob
import hashlib
import io
import json
import logging
import os
import re
import shutil
import stat
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from benpipe.errors import InputDataError

logger = logging.getLogger(__name__)

#: Default read size per ``readinto`` call when hashing.
CHUNK_BYTES = 1 << 20

_local = threading.local()


# ---------------------------------------------------------------- writing
def temp_sibling(path: Path) -> Path:
    """A fresh temporary name next to ``path`` (same filesystem, hidden)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


#: The part of a temporary sibling's name after ``.<name>.``: pid and id.
_TEMP_SUFFIX = re.compile(r"^(\d+)\.[0-9a-f]{12}\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_siblings(path: Path) -> list[Path]:
    """Delete the temporary siblings of ``path`` that killed writers left.

    A sibling ``.<name>.<pid>.<id>.tmp`` is stale when no process ``pid``
    runs here (a killed ``package_release`` leaves up to an archive's size).
    One output has one writer at a time (Snakemake), so a live pid is another
    writer's, or a reused pid: its file is kept.
    """
    path = Path(path)
    stale = []
    prefix = f".{path.name}."
    if path.parent.is_dir():
        for sibling in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
            match = _TEMP_SUFFIX.match(sibling.name[len(prefix) :])
            if match and not _pid_alive(int(match[1])):
                logger.info("removing %s left by an interrupted run", sibling)
                sibling.unlink(missing_ok=True)
                stale.append(sibling)
    return stale


def open_temp_sibling(path: Path, *, mode: int | None = None) -> tuple[Path, BinaryIO]:
    """Create and open for binary writing a temp sibling of ``path``.

    The parent directory is created if needed, and stale temporary siblings
    of ``path`` are deleted (:func:`remove_stale_temp_siblings`).  The file
    gets the usual umask-respecting permissions, or exactly ``mode`` when
    given (set at creation, so a ``0o600`` file is never readable by others).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_siblings(path)
    tmp = temp_sibling(path)
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode
    )
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        return tmp, os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename."""
    path = Path(path)
    tmp, handle = open_temp_sibling(path, mode=mode)
    try:
        with handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` as UTF-8 (no newline translation) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def write_lines_atomic(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines``, each LF-terminated, to ``path`` atomically."""
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))


def write_json_atomic(path: Path, payload: Any, *, ensure_ascii: bool = False) -> None:
    """Write ``payload`` as key-sorted JSON (indent 2, final LF) atomically.

    ``ensure_ascii=True`` escapes non-ASCII characters (``\\uXXXX``) instead
    of writing them as UTF-8.
    """
    text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=ensure_ascii)
    atomic_write_text(path, text + "\n")


def write_csv_atomic(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Write ``header`` and ``rows`` as CSV to ``path`` atomically.

    UTF-8, LF line ends, minimal quoting: the format of every CSV benpipe
    writes.  Rows are streamed, so they need not fit in memory twice.
    """
    path = Path(path)
    tmp, raw = open_temp_sibling(path)
    try:
        with io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_file(path: Path, data: bytes) -> None:
    """Plain (non-atomic) write of a whole file.

    For files inside a staging directory that is renamed into place as a
    whole; it skips the per-file rename that :func:`atomic_write_bytes` costs.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


#: Hidden siblings of a directory output that only an interrupted run leaves:
#: its staging folder, a replaced output not yet deleted, and the scratch names
#: of older benpipe versions (``.<name>.tmp-XXXX``, ``.<name>.sen2cor-XXXX``).
_STALE_STAGING = ("tmp*", "old*", "sen2cor-*")


class StagedDirectory:
    """A directory output under construction; see :func:`staged_directory`."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        #: The hidden staging folder ``.<name>.tmp`` next to the output.
        self.path = out_dir.with_name(f".{out_dir.name}.tmp")
        self.committed = False

    def commit(self, built: Path | None = None) -> None:
        """Rename ``built`` (default: the staging folder) onto the output.

        An existing output (only with ``replace=True``) is moved aside first
        and deleted after the rename, so the output is never half there.
        """
        source = self.path if built is None else built
        old = self.out_dir.with_name(f".{self.out_dir.name}.old")
        if self.out_dir.exists():
            os.replace(self.out_dir, old)
        os.replace(source, self.out_dir)
        self.committed = True
        if old.exists():
            shutil.rmtree(old)


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Delete what interrupted runs left next to ``out_dir``; return it."""
    parent = out_dir.parent
    if not parent.is_dir():
        return []
    stale = sorted(
        {
            path
            for suffix in _STALE_STAGING
            for path in parent.glob(f".{glob.escape(out_dir.name)}.{suffix}")
        }
    )
    for path in stale:
        logger.info("removing %s left by an interrupted run", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return stale


@contextmanager
def staged_directory(
    out_dir: Path, what: str, *, replace: bool = False
) -> Iterator[StagedDirectory]:
    """Build directory output ``out_dir`` in a hidden staging sibling.

    The one home of directory outputs.  Before the body runs, what an
    interrupted run left (see :func:`remove_stale_staging`) is deleted, and so
    is an empty ``out_dir`` pre-created by a scheduler; an existing non-empty
    ``out_dir`` raises :class:`InputDataError` unless ``replace``.  The body
    fills ``staging.path``.  When it returns, the staging folder is renamed
    onto ``out_dir``, unless the body called ``staging.commit(built)`` for a
    sub-folder it built inside it; on an exception nothing is renamed.  The
    staging folder is always removed at the end.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    if out_dir.is_dir() and not out_dir.is_symlink() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if out_dir.exists() and not replace:
        raise InputDataError(
            f"{what} {out_dir} already exists; delete it to rebuild it"
        )
    staging = StagedDirectory(out_dir)
    staging.path.mkdir()
    try:
        yield staging
        if not staging.committed:
            staging.commit()
    finally:
        shutil.rmtree(staging.path, ignore_errors=True)


# ---------------------------------------------------------------- copies and links
#: ``ioctl(dst, FICLONE, src)``: share the source's extents copy-on-write
#: (btrfs, XFS with reflink, bcachefs, ZFS 2.2+); from ``linux/fs.h``.
FICLONE = 0x40049409
#: errno values that mean "this way of copying is not available here".
_NOT_HERE = frozenset(
    {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.ENOTTY, errno.EPERM}
    | {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF}
)
#: errno values of os.link that mean "no hard links here".
_NO_LINKS = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP})
#: What a write-protected file keeps of its mode.
_READ_ONLY_MASK = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


class FileCopier:
    """Copies and links into an output tree; counts what each file became.

    ``copy`` makes an independent file (never a hard link): a reflink when the
    filesystem supports one (no data copied, copy-on-write), else the kernel
    copies (``copy_file_range``, ``sendfile``).  ``link`` hard-links one of
    benpipe's own staging files and write-protects the shared inode; across
    filesystems it copies.  Both give the new file the source's mode without
    write bits: outputs are read-only.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {"hardlink": 0, "reflink": 0, "copy": 0}
        self._reflink = True
        self._can_link = True

    def copy(self, src: Path, dst: Path) -> None:
        """Copy ``src`` to the new file ``dst`` (which must not exist)."""
        fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
        try:
            info = os.fstat(fd_in)
            fd_out = os.open(
                dst,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                stat.S_IMODE(info.st_mode) & _READ_ONLY_MASK | stat.S_IRUSR,
            )
            try:
                self.counts[self._copy_fd(fd_in, fd_out, info.st_size)] += 1
            except BaseException:
                os.close(fd_out)
                os.unlink(dst)
                raise
            os.close(fd_out)
        finally:
            os.close(fd_in)

    def _copy_fd(self, fd_in: int, fd_out: int, size: int) -> str:
        if self._reflink:
            try:
                fcntl.ioctl(fd_out, FICLONE, fd_in)
                return "reflink"
            except OSError as exc:
                if exc.errno not in _NOT_HERE:
                    raise
                logger.debug("no reflinks here (%s); copying file data", exc)
                self._reflink = False
        done = 0
        while done < size:
            try:
                n = os.copy_file_range(fd_in, fd_out, size - done)
            except OSError as exc:
                if exc.errno not in _NOT_HERE:
                    raise
                n = os.sendfile(fd_out, fd_in, done, size - done)
            if n == 0:
                raise OSError(
                    errno.EIO, f"source shrank while being copied ({done} of {size})"
                )
            done += n
        return "copy"

    def link(self, src: Path, dst: Path) -> None:
        """Hard-link ``src`` (benpipe's own staging file) as ``dst``, read-only."""
        if self._can_link:
            try:
                os.link(src, dst)
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                logger.info("hard links unavailable (%s); copying files instead", exc)
                self._can_link = False
            else:
                make_read_only(dst)
                self.counts["hardlink"] += 1
                return
        self.copy(src, dst)


def make_read_only(path: Path) -> None:
    """Remove the write bits of ``path`` (shared by all of its hard links)."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & ~_READ_ONLY_MASK:
        os.chmod(path, mode & _READ_ONLY_MASK)


# ---------------------------------------------------------------- walking
def _sort_key(entry: os.DirEntry[str]) -> bytes:
    # A directory sorts as "name/" so the walk yields full paths in bytewise
    # order (what `sort` on a path list gives, C locale), not per-level order.
    return os.fsencode(entry.name + ("/" if entry.is_dir() else ""))


def iter_sorted_tree(
    root: Path | str, prefix: str = "", *, max_depth: int | None = None
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Yield ``(prefix + relative path, entry)`` for each non-directory under ``root``.

    Entries come in bytewise order of their full paths; symlinks to files and
    directories are followed (the reference's ``fd --follow``).  Memory holds
    one sorted listing per directory level.  With ``max_depth``, directories
    that deep (1 = the children of ``root``) are yielded instead of entered;
    everything under such a directory sorts at its place.  Callers decide what
    to do with entries that are not regular files.
    """
    stack: list[tuple[str, int, Iterator[os.DirEntry[str]]]] = []
    with os.scandir(root) as it:
        stack.append((prefix, 1, iter(sorted(it, key=_sort_key))))
    while stack:
        base, depth, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if entry.is_dir() and depth != max_depth:
            with os.scandir(entry.path) as it:
                listing = iter(sorted(it, key=_sort_key))
            stack.append((f"{base}{entry.name}/", depth + 1, listing))
        else:
            yield base + entry.name, entry


# ---------------------------------------------------------------- hashing
@dataclass(frozen=True, slots=True)
class FileHashes:
    """sha256 and md5 of one file."""

    name: str
    sha256: str
    md5: str
    size: int


def read_buffer(chunk_bytes: int = CHUNK_BYTES) -> memoryview:
    """A reusable read buffer of ``chunk_bytes`` owned by the calling thread."""
    buffers: dict[int, memoryview] | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    buf = buffers.get(chunk_bytes)
    if buf is None:
        buf = buffers[chunk_bytes] = memoryview(bytearray(chunk_bytes))
    return buf


def digest_file(
    path: Path | str, *algorithms: str, chunk_bytes: int = CHUNK_BYTES
) -> tuple[list[str], int]:
    """Hex digests of ``path`` for each algorithm (default sha256), and its size."""
    hashers = [hashlib.new(name) for name in algorithms or ("sha256",)]
    buf = read_buffer(chunk_bytes)
    size = 0
    # os.open/readv: no file object per call, which counts for small files.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while n := os.readv(fd, [buf]):
            size += n
            chunk = buf[:n]
            for hasher in hashers:
                hasher.update(chunk)
    finally:
        os.close(fd)
    return [hasher.hexdigest() for hasher in hashers], size


def sha256_file(path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex sha256 of a whole file (streaming)."""
    return digest_file(path, "sha256", chunk_bytes=chunk_bytes)[0][0]


def file_hashes(path: Path) -> FileHashes:
    """sha256 and md5 of one file in a single read."""
    (sha, md5), size = digest_file(path, "sha256", "md5")
    return FileHashes(name=Path(path).name, sha256=sha, md5=md5, size=size)
