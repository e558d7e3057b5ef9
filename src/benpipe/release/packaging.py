"""Deterministic ``.tar.zst`` release archives and their hash lists.

One archive per tree (``BigEarthNet-S1``, ``BigEarthNet-S2``,
``Reference_Maps``), as REFERENCE-PIPELINE.md §6.2 and §7.1, with the
weak points of §10 item 23 fixed:

* entries are the tree's regular files only (no directory entries), sorted
  bytewise on the archive path (what ``sort`` in the C locale gives);
* the bytes of GNU tar with the reference's options (``release.tar``):
  GNU format (paths over 100 bytes use a ``././@LongLink`` entry), mtime
  2024-01-01T00:00:00Z, uid/gid 0, empty uname/gname (numeric owner), mode
  0644 for every file whatever the filesystem says (``file_modes=
  "normalized"``) or the file's own permission bits (``"filesystem"``); the
  archive ends with two zero blocks padded to a 10240-byte record;
* the tar stream is never materialised: files are read through one fixed
  buffer straight into a zstd multi-threaded compressor, while md5 and sha256
  of both the tar stream and the compressed bytes are computed on the fly;
* zstd frame: level ``level`` (reference 6), content size and checksum
  written (the ``zstd`` CLI defaults), always the multi-threaded mode with
  ``threads >= 1`` workers.  libzstd's multi-threaded output does not depend
  on the number of workers, but differs from its single-threaded mode, so the
  bytes are the same on any machine for the same libzstd version.

All outputs are written under temporary names and renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

import zstandard

from benpipe.dataset.layout import METADATA_FILES, TREES
from benpipe.errors import DatasetCheckError, InputDataError
from benpipe.fileio import (
    atomic_write_bytes,
    file_hashes,
    iter_sorted_tree,
    open_temp_sibling,
    temp_sibling,
)
from benpipe.log import ProgressCallback
from benpipe.release.checksums import (
    parse_checksum_lines,
    render_hashes_txt,
    render_sha256sums,
)
from benpipe.release.tar import (
    BLOCK,
    FILE_MODES,
    ZERO_BLOCK,
    FileModes,
    Member,
    check_member_layout,
    member_mode,
    tar_header,
    tar_stream_size,
)

logger = logging.getLogger(__name__)

#: Bump when the archive bytes change for the same inputs.
#: 2: the ``././@LongLink`` header has GNU tar's mode 0644 (was 0).
ALGORITHM_VERSION = 2

#: Size of the one staging buffer between the files and the compressor.
BUFFER_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class ArchiveDigests:
    """Sizes and digests of a plain tar stream and its zstd-compressed form."""

    members: int
    tar_size: int
    tar_md5: str
    tar_sha256: str
    zst_size: int
    zst_md5: str
    zst_sha256: str


# ---------------------------------------------------------------- members
def _walk(dataset_dir: Path, tree: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Yield ``(archive path, entry)`` for the files of ``dataset_dir/tree``, sorted.

    Bytewise order of the archive paths (``fileio.iter_sorted_tree``);
    anything that is not a file or directory raises
    :class:`DatasetCheckError`.
    """
    root = dataset_dir / tree
    if not root.is_dir():
        raise InputDataError(
            f"cannot package {tree}: {root} is not a directory; build the dataset "
            "(rule finalize_dataset) first"
        )
    for arcname, entry in iter_sorted_tree(root, f"{tree}/"):
        if not entry.is_file():
            raise DatasetCheckError(
                f"{entry.path} is neither a regular file nor a directory; the "
                f"{tree} tree may hold only files and folders"
            )
        yield arcname, entry


def iter_members(dataset_dir: Path, tree: str) -> Iterator[Member]:
    """Yield the files of ``dataset_dir/tree`` as members, bytewise sorted."""
    for arcname, entry in _walk(dataset_dir, tree):
        yield Member(arcname, entry.path, entry.stat().st_size)


def _checked(members: Iterable[Member]) -> Iterator[Member]:
    for member in members:
        check_member_layout(member)
        yield member


# ---------------------------------------------------------------- streaming
class _Digests:
    """md5 and sha256 of a byte stream, computed in order on a helper thread.

    hashlib releases the GIL for large updates, so with spare cores the
    digests do not queue behind reading files and feeding zstd on the main
    thread (``bench_packaging.py`` prints the main thread's CPU time).  At
    most 16 chunks wait, so memory stays bounded.
    """

    def __init__(self, name: str) -> None:
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256()
        self.submitted = 0
        self.hashed = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self.md5.update(data)
            self.sha256.update(data)
            self.hashed += len(data)

    def update(self, data: bytes) -> None:
        """Queue ``data`` (immutable: the caller must not reuse the buffer)."""
        self.submitted += len(data)
        self._queue.put(data)

    def close(self) -> None:
        """Let the thread finish what is queued and end (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def hexdigests(self) -> tuple[str, str]:
        self.close()
        if self.hashed != self.submitted:
            raise RuntimeError(
                f"digest thread {self._thread.name} stopped after {self.hashed} of "
                f"{self.submitted} bytes"
            )
        return self.md5.hexdigest(), self.sha256.hexdigest()


class _HashingSink:
    """A write-only file object that counts, and optionally hashes, its bytes."""

    def __init__(self, target: BinaryIO | None, digests: _Digests | None) -> None:
        self.target = target
        self.digests = digests
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        if self.digests is not None:
            # zstd hands over fresh bytes; a plain tar arrives as a view of
            # the reused staging buffer and must be copied.
            self.digests.update(data if isinstance(data, bytes) else bytes(data))
        if self.target is not None:
            self.target.write(data)
        n = len(data)
        self.size += n
        return n

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()


class _Stager:
    """Accumulates tar bytes in one fixed buffer and flushes it downstream."""

    def __init__(
        self,
        sink: Callable[[memoryview], None],
        size: int,
        file_modes: FileModes = "normalized",
    ) -> None:
        self.buf = memoryview(bytearray(size))
        self.fill = 0
        self.sink = sink
        self.file_modes = file_modes

    def flush(self) -> None:
        if self.fill:
            self.sink(self.buf[: self.fill])
            self.fill = 0

    def put(self, data: bytes) -> None:
        end = self.fill + len(data)
        if end <= len(self.buf):  # the common case: a header or padding
            self.buf[self.fill : end] = data
            self.fill = end
            return
        view = memoryview(data)
        while view:
            room = len(self.buf) - self.fill
            if room == 0:
                self.flush()
                room = len(self.buf)
            n = min(room, len(view))
            self.buf[self.fill : self.fill + n] = view[:n]
            self.fill += n
            view = view[n:]

    def put_file(self, arcname: str, path: str) -> int:
        """Append the header, bytes and padding of one file; return its size.

        The size is taken from the open descriptor, so the file is looked up
        once (``os.open``, ``fstat``, ``readv`` straight into the buffer).
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise InputDataError(
                f"{path} disappeared while being archived; do not modify the "
                "dataset during package_release, then rerun"
            ) from None
        try:
            st = os.fstat(fd)
            size = st.st_size
            mode = member_mode(st.st_mode, self.file_modes)
            self.put(tar_header(Member(arcname, path, size, mode)))
            remaining = size
            while remaining:
                if self.fill == len(self.buf):
                    self.flush()
                n = min(len(self.buf) - self.fill, remaining)
                n = os.readv(fd, [self.buf[self.fill : self.fill + n]])
                if not n:
                    raise InputDataError(
                        f"{path} shrank while being archived (expected {size} "
                        "bytes); do not modify the dataset during package_release, "
                        "then rerun"
                    )
                self.fill += n
                remaining -= n
        finally:
            os.close(fd)
        pad = -size % BLOCK
        if pad:
            self.put(ZERO_BLOCK[:pad])
        return size


def resolve_threads(threads: int) -> int:
    """zstd worker count: ``0`` means all usable cores; never single-threaded."""
    if threads < 0:
        raise InputDataError(f"release.zstd_threads must be >= 0, got {threads}")
    if threads == 0:
        return max(1, len(os.sched_getaffinity(0)))
    return threads


def write_tar_zst(
    dataset_dir: Path,
    tree: str,
    out_path: Path | None,
    *,
    level: int = 6,
    threads: int = 0,
    compress: bool = True,
    hashes: bool = True,
    file_modes: FileModes = "normalized",
    buffer_size: int = BUFFER_SIZE,
    progress: ProgressCallback | None = None,
) -> ArchiveDigests:
    """Stream ``dataset_dir/tree`` as a deterministic tar into zstd.

    Writes ``out_path`` atomically (``None``: only compute digests).  With
    ``compress=False`` the plain tar is written instead (tests, benchmarks).
    ``hashes=False`` skips the md5/sha256 of the tar stream and of the
    compressed bytes (the digests are then empty strings): benchmarks only.
    ``file_modes``: ``"normalized"`` records mode 0644 for every file,
    ``"filesystem"`` each file's permission bits (as GNU tar without
    ``--mode``).
    Raises :class:`DatasetCheckError` for layout violations and
    :class:`InputDataError` when the tree is missing, empty or changes while
    being read.  The recipe: list and check the members (exact tar size) →
    stream each file's header, bytes and padding through one buffer → pad the
    tar → flush the zstd frame, collect the digests, rename.
    """
    if file_modes not in FILE_MODES:
        raise InputDataError(
            f"release.file_modes must be one of {', '.join(FILE_MODES)}, got "
            f"{file_modes!r}"
        )
    source = dataset_dir / tree
    count, tar_size = tar_stream_size(_checked(iter_members(dataset_dir, tree)))
    if count == 0:
        raise InputDataError(
            f"{source} holds no files; build the dataset (rule finalize_dataset) first"
        )
    workers = resolve_threads(threads)
    logger.info(
        "%s: %d files, tar stream %.1f MB, zstd level %d, %d worker(s)",
        tree,
        count,
        tar_size / 1e6,
        level,
        workers,
    )
    with _ArchiveStream(
        out_path,
        source,
        tar_size=tar_size,
        level=level if compress else None,
        workers=workers,
        hashes=hashes,
        progress=progress,
    ) as stream:
        stager = _Stager(stream.write, buffer_size, file_modes)
        seen = 0
        for arcname, entry in _walk(dataset_dir, tree):
            seen += 1
            stager.put_file(arcname, entry.path)
        tail = tar_size - stream.written - stager.fill
        if tail >= 0:
            stager.put(bytes(tail))
        stager.flush()
        if seen != count or stream.written != tar_size:
            raise InputDataError(
                f"{source} changed while being archived ({count} files listed, "
                f"{seen} archived); do not modify the dataset during "
                "package_release, then rerun"
            )
        return stream.finish(members=count)


class _ArchiveStream:
    """tar bytes → tar digests → zstd (optional) → archive digests → temp file.

    A context manager: on leaving, the digest threads are stopped and an
    unfinished temporary file is removed; :meth:`finish` renames it into place.
    """

    def __init__(
        self,
        out_path: Path | None,
        source: Path,
        *,
        tar_size: int,
        level: int | None,
        workers: int,
        hashes: bool,
        progress: ProgressCallback | None,
    ) -> None:
        self.out_path = out_path
        self.source = source
        self.tar_size = tar_size
        self.progress = progress
        self.written = 0
        self.tmp: Path | None = None
        self.handle: BinaryIO | None = None
        if out_path is not None:
            self.tmp, self.handle = open_temp_sibling(out_path)
        name = source.name
        self.tar_digests = _Digests(f"{name}.tar digests") if hashes else None
        self.zst_digests = _Digests(f"{name}.tar.zst digests") if hashes else None
        self.out_sink = _HashingSink(self.handle, self.zst_digests)
        self.writer = None
        if level is not None:
            cctx = zstandard.ZstdCompressor(
                level=level,
                threads=workers,
                write_checksum=True,
                write_content_size=True,
            )
            self.writer = cctx.stream_writer(
                cast(IO[bytes], self.out_sink), size=tar_size, closefd=False
            )

    def __enter__(self) -> _ArchiveStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for digests in (self.tar_digests, self.zst_digests):
            if digests is not None:
                digests.close()
        if self.handle is not None:
            self.handle.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)

    def _changed(self, detail: str) -> InputDataError:
        return InputDataError(
            f"{self.source} changed while being archived{detail}; do not modify "
            "the dataset during package_release, then rerun"
        )

    def write(self, chunk: memoryview) -> None:
        """Take the next tar bytes (a view of the reused staging buffer)."""
        if self.tar_digests is not None:
            self.tar_digests.update(bytes(chunk))
        try:
            if self.writer is not None:
                self.writer.write(chunk)
            else:
                self.out_sink.write(chunk)
        except zstandard.ZstdError as exc:
            more = f" (more than the {self.tar_size} tar bytes listed): {exc}"
            raise self._changed(more) from exc
        self.written += len(chunk)
        if self.progress is not None:
            self.progress(self.written, self.tar_size)

    def finish(self, *, members: int) -> ArchiveDigests:
        """End the zstd frame, collect the digests, rename the archive into place."""
        if self.writer is not None:
            try:
                self.writer.flush(zstandard.FLUSH_FRAME)
            except zstandard.ZstdError as exc:
                raise self._changed(f": {exc}") from exc
        tar_md5, tar_sha256 = (
            self.tar_digests.hexdigests() if self.tar_digests else ("", "")
        )
        zst_md5, zst_sha256 = (
            self.zst_digests.hexdigests() if self.zst_digests else ("", "")
        )
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            self.handle = None
        if self.tmp is not None and self.out_path is not None:
            os.replace(self.tmp, self.out_path)
            self.tmp = None
        return ArchiveDigests(
            members=members,
            tar_size=self.tar_size,
            tar_md5=tar_md5,
            tar_sha256=tar_sha256,
            zst_size=self.out_sink.size,
            zst_md5=zst_md5,
            zst_sha256=zst_sha256,
        )


# ---------------------------------------------------------------- hash lists
@dataclass(frozen=True, slots=True)
class ReleaseResult:
    """Archives written by :func:`package_release`, with their digests."""

    archives: dict[str, ArchiveDigests]
    md5s: dict[str, str]
    sha256s: dict[str, str]


def package_release(
    dataset_dir: Path,
    out_dir: Path,
    *,
    level: int = 6,
    threads: int = 0,
    file_modes: FileModes = "normalized",
    copy_parquets: bool = True,
    progress_factory: Callable[[str], ProgressCallback] | None = None,
) -> ReleaseResult:
    """Write the three ``.tar.zst`` archives, ``hashes.txt`` and ``sha256sums.txt``.

    ``hashes.txt`` lists the md5 of each ``.tar`` (computed from the stream;
    the plain tar is never written), each ``.tar.zst`` and the two metadata
    parquets; ``sha256sums.txt`` the sha256 of the same files.  With
    ``copy_parquets`` the parquets are copied next to the archives.
    ``file_modes``: see :func:`write_tar_zst`.
    """
    logger.info(
        "package_release (ALGORITHM_VERSION %d, libzstd %s, file modes %s) of %s",
        ALGORITHM_VERSION,
        ".".join(map(str, zstandard.ZSTD_VERSION)),
        file_modes,
        dataset_dir,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    md5s: dict[str, str] = {}
    shas: dict[str, str] = {}
    archives: dict[str, ArchiveDigests] = {}
    for tree in TREES:
        progress = progress_factory(f"{tree} tar bytes") if progress_factory else None
        digests = write_tar_zst(
            dataset_dir,
            tree,
            out_dir / f"{tree}.tar.zst",
            level=level,
            threads=threads,
            file_modes=file_modes,
            progress=progress,
        )
        archives[tree] = digests
        md5s[f"{tree}.tar"] = digests.tar_md5
        md5s[f"{tree}.tar.zst"] = digests.zst_md5
        shas[f"{tree}.tar"] = digests.tar_sha256
        shas[f"{tree}.tar.zst"] = digests.zst_sha256
        logger.info(
            "%s.tar.zst: %d files, tar %.1f MB -> %.1f MB (ratio %.2f)",
            tree,
            digests.members,
            digests.tar_size / 1e6,
            digests.zst_size / 1e6,
            digests.tar_size / max(1, digests.zst_size),
        )
    for name in METADATA_FILES:
        source = dataset_dir / name
        if not source.is_file():
            raise InputDataError(
                f"{source} is missing; build the dataset (rule finalize_dataset) first"
            )
        hashes = file_hashes(source)
        md5s[name] = hashes.md5
        shas[name] = hashes.sha256
        if copy_parquets:
            tmp = temp_sibling(out_dir / name)
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, out_dir / name)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
    atomic_write_bytes(out_dir / "hashes.txt", render_hashes_txt(md5s))
    atomic_write_bytes(out_dir / "sha256sums.txt", render_sha256sums(shas))
    return ReleaseResult(archives, md5s, shas)


def _release_file_digests(release_dir: Path, name: str) -> dict[str, str] | None:
    """md5/sha256 of a listed file; a ``.tar`` is hashed from its ``.tar.zst``."""
    path = release_dir / name
    compressed = release_dir / f"{name}.zst"
    if name.endswith(".tar") and not path.is_file() and compressed.is_file():
        md5, sha = hashlib.md5(), hashlib.sha256()
        with (
            compressed.open("rb") as handle,
            zstandard.ZstdDecompressor().stream_reader(handle) as reader,
        ):
            while chunk := reader.read(BUFFER_SIZE):
                md5.update(chunk)
                sha.update(chunk)
        return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}
    if path.is_file():
        hashes = file_hashes(path)
        return {"md5": hashes.md5, "sha256": hashes.sha256}
    return None


def _listed_sums(release_dir: Path) -> dict[str, dict[str, str]]:
    """``{algorithm: {name: hex}}`` of the release folder's hash lists."""
    sums: dict[str, dict[str, str]] = {}
    for list_name, algo in (("sha256sums.txt", "sha256"), ("hashes.txt", "md5")):
        path = release_dir / list_name
        if path.is_file():
            sums[algo] = parse_checksum_lines(path.read_text(encoding="utf-8"))
    if not sums:
        raise InputDataError(
            f"{release_dir} holds neither sha256sums.txt nor hashes.txt; nothing "
            "to check against"
        )
    return sums


def check_release(release_dir: Path) -> dict[str, str]:
    """Check a release folder against its ``sha256sums.txt`` and ``hashes.txt``.

    Every listed file that is present is re-hashed; for each ``<tree>.tar.zst``
    the decompressed stream is hashed too and compared with the ``.tar``
    entries (the plain tars need not exist).  Returns ``{name: status}``,
    ``ok`` or ``absent`` (listed, not in the folder: not checked); raises
    :class:`InputDataError` listing every mismatch.  The dataset folder is not
    compared here: see :func:`check_dataset_matches_release`.
    """
    sums = _listed_sums(release_dir)
    names = sorted({n for table in sums.values() for n in table})
    status: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        try:
            got = _release_file_digests(release_dir, name)
        except zstandard.ZstdError as exc:
            problems.append(f"{name} (cannot decompress {name}.zst: {exc})")
            status[name] = "MISMATCH"
            continue
        if got is None:
            status[name] = "absent"
            continue
        bad = [
            a for a, table in sums.items() if name in table and table[name] != got[a]
        ]
        if bad:
            problems.append(f"{name} ({'/'.join(bad)})")
            status[name] = "MISMATCH"
        else:
            status[name] = "ok"
    if problems:
        raise InputDataError(
            f"{len(problems)} file(s) in {release_dir} do not match their listed "
            f"hashes: {', '.join(problems)}; re-download or rebuild them"
        )
    return status


def check_dataset_matches_release(
    dataset_dir: Path, release_dir: Path, *, buffer_size: int = BUFFER_SIZE
) -> dict[str, str]:
    """Does ``dataset_dir`` still hold exactly what the release archives hold?

    Each tree's normalised tar stream is rebuilt from the dataset (never
    written, not compressed) and its digests compared with the ``<tree>.tar``
    entries of the release's hash lists; each metadata parquet with its
    entry.  Returns ``{"<item> = <listed name>": "ok"}``; raises
    :class:`InputDataError` naming every item that differs or is not listed.
    """
    sums = _listed_sums(release_dir)
    status: dict[str, str] = {}
    problems: list[str] = []

    def compare(item: str, listed_name: str, got: dict[str, str]) -> None:
        key = f"{item} = {listed_name}"
        listed = {a: t[listed_name] for a, t in sums.items() if listed_name in t}
        if not listed:
            status[key] = "not listed"
            problems.append(f"{listed_name} is in no hash list of {release_dir}")
            return
        bad = [a for a, digest in listed.items() if got[a] != digest]
        status[key] = "MISMATCH" if bad else "ok"
        if bad:
            problems.append(f"{item} differs from {listed_name} ({'/'.join(bad)})")

    for tree in TREES:
        digests = write_tar_zst(
            dataset_dir, tree, None, compress=False, buffer_size=buffer_size
        )
        compare(
            f"{dataset_dir / tree}",
            f"{tree}.tar",
            {"md5": digests.tar_md5, "sha256": digests.tar_sha256},
        )
    for name in METADATA_FILES:
        if not (dataset_dir / name).is_file():
            raise InputDataError(f"{dataset_dir / name} is missing")
        hashes = file_hashes(dataset_dir / name)
        compare(
            f"{dataset_dir / name}", name, {"md5": hashes.md5, "sha256": hashes.sha256}
        )
    if problems:
        raise InputDataError(
            f"the dataset {dataset_dir} does not match the release {release_dir}: "
            f"{'; '.join(problems)}. The dataset changed after packaging, or the "
            "release was built from another dataset; `benpipe check-dataset "
            f"{dataset_dir} --hashes <hash lists>` names the files"
        )
    return status
