"""Hash lists of the dataset trees in the reference ``tiff-hasher`` format.

REFERENCE-PIPELINE.md §7.2: every ``.tif``/``.tiff`` file under a root is
keyed by its *stem* (basename without extension; directories are ignored), the
rows ``name,hash-sha256`` are sorted by name and written as a CSV with a header
and LF line ends, and ``<csv>.sha256`` holds the sha256 hex of the CSV bytes
(64 characters, no newline, no file name).  Duplicate stems are an error.

Hashing is streaming (a fixed read buffer per worker, so memory stays flat
whatever the file sizes) and parallel: batches of paths go to a pool of
worker processes (forked), because for the dataset's small files (1–30 kB)
the per-file Python work, not sha256, dominates, and threads would serialise
on the GIL.  The tree is walked in sorted order and rows are
written as they arrive; for the reference layout the stems come out sorted,
so even 6.6 M rows never sit in memory.  Any other layout falls back to an
in-memory sort.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from benpipe.csvdiff import read_keyed_csv
from benpipe.dataset.layout import (
    HASH_CSV_HEADER,
    MAPS_TREE,
    METADATA_FILES,
    S1_TREE,
    S2_TREE,
)
from benpipe.errors import InputDataError
from benpipe.fileio import (
    FileHashes,
    atomic_write_bytes,
    digest_file,
    file_hashes,
    iter_sorted_tree,
    open_temp_sibling,
    sha256_file,
    write_csv_atomic,
)
from benpipe.log import ProgressCallback

logger = logging.getLogger(__name__)

#: Bump when the bytes of any hash file change for the same inputs.
ALGORITHM_VERSION = 1

#: Directories this deep under a hashed root (the patch folders of
#: ``<tree>/<tile or S1 group>/<patch>/``) are listed and hashed whole by one
#: worker, so the main process walks only the levels above.
UNIT_DEPTH = 2
#: Weight of one pool task: work units (patch folders, or single files above
#: them, weighted 1 + size in MiB) are batched up to this weight.
BATCH_UNITS = 16
#: Suffixes the reference hasher picks up (case-sensitive, as ``fd``).
TIFF_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")
#: The header of the metadata hash CSV.
METADATA_CSV_HEADER = (*HASH_CSV_HEADER, "md5")
#: The header of a file-stats sidecar (:func:`file_stats_path`).
FILE_STATS_HEADER = ("path", "size", "mtime_ns")


@dataclass(frozen=True, slots=True)
class HashListResult:
    """One written hash list: where it is, its digest, rows and bytes hashed."""

    csv_path: Path
    digest_path: Path
    digest: str
    rows: int
    bytes_hashed: int


# ---------------------------------------------------------------- helpers
def iter_sorted_files(
    root: Path, *, suffixes: Sequence[str] | None = None
) -> Iterator[Path]:
    """Yield the files under ``root`` in bytewise order of their full paths.

    Symlinks to files and directories are followed (the reference's ``fd
    --follow``).  With ``suffixes``, only names ending in one of them.
    """
    wanted = tuple(suffixes) if suffixes is not None else None
    for _, entry in iter_sorted_tree(root):
        if entry.is_file() and (wanted is None or entry.name.endswith(wanted)):
            yield Path(entry.path)


#: A work unit: a path and whether it is a directory to walk (else one file).
Unit = tuple[str, bool]


def _sorted_units(root: Path, suffixes: tuple[str, ...]) -> Iterator[tuple[Unit, int]]:
    """Work units in walk order, each with a weight (directories 1, files by MiB)."""
    for _, entry in iter_sorted_tree(root, max_depth=UNIT_DEPTH):
        if entry.is_dir():
            yield (entry.path, True), 1
        elif entry.is_file() and entry.name.endswith(suffixes):
            yield (entry.path, False), 1 + (entry.stat().st_size >> 20)


#: One hashed file: path, sha256 hex, size and mtime (ns) as stat'ed before reading.
Hashed = tuple[str, str, int, int]


def _hash_units(units: Sequence[Unit], suffixes: tuple[str, ...]) -> list[Hashed]:
    """``(path, sha256 hex, size, mtime_ns)`` of every matching file of ``units``.

    In walk order.  Runs in a worker process or thread: a directory unit is
    walked here (bytewise order, the same as the full walk), so per-file work
    stays off the main process.  Size and mtime are taken *before* the bytes
    are read, so a file modified while it is hashed shows a newer mtime than
    the one recorded (and ``verify`` re-hashes it).
    """
    out = []
    for path, is_dir in units:
        if is_dir:
            files = [
                e.path
                for _, e in iter_sorted_tree(path)
                if e.is_file() and e.name.endswith(suffixes)
            ]
        else:
            files = [path]
        for file in files:
            st = os.stat(file)
            (digest,), _ = digest_file(file)
            out.append((file, digest, st.st_size, st.st_mtime_ns))
    return out


def _batched(items: Iterable[tuple[Unit, int]], size: int) -> Iterator[list[Unit]]:
    """Consecutive units of total weight about ``size``; a heavy file goes alone."""
    batch: list[Unit] = []
    weight = 0
    for unit, unit_weight in items:
        if batch and weight + unit_weight > size:
            yield batch
            batch, weight = [], 0
        batch.append(unit)
        weight += unit_weight
    if batch:
        yield batch


def _make_pool(workers: int, kind: str) -> Executor:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash")
    if kind == "process":
        # fork: spawn/forkserver would re-import __main__, which for a
        # Snakemake script means running the rule again.
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork")
        )
    raise ValueError(f"pool must be 'process' or 'thread', got {kind!r}")


def hash_tree_files(
    root: Path,
    suffixes: Sequence[str] = TIFF_SUFFIXES,
    *,
    workers: int = 2,
    batch_units: int = BATCH_UNITS,
    pool: str = "process",
) -> Iterator[Hashed]:
    """Yield ``(path, sha256 hex, size, mtime_ns)`` for the matching files under ``root``.

    Files come in bytewise order of their full paths.  With ``workers > 1``,
    batches of ``batch_units`` work units (folders at depth
    :data:`UNIT_DEPTH`, or single files above that depth) are walked and
    hashed by a pool of ``workers`` processes (default: per-file Python work
    would serialise threads on the GIL for small files) or threads.  At most
    ``4 × workers`` batches are in flight, so memory is bounded by the number
    of files in that many units: small for dataset trees (12 files per patch
    folder), large only for trees with huge folders at that depth.
    """
    wanted = tuple(suffixes)
    batches = _batched(_sorted_units(root, wanted), batch_units)
    if max(1, workers) == 1:
        for batch in batches:
            yield from _hash_units(batch, wanted)
        return
    window = 4 * workers
    pending: deque[Future[list[Hashed]]] = deque()
    with _make_pool(workers, pool) as executor:
        for batch in batches:
            pending.append(executor.submit(_hash_units, batch, wanted))
            if len(pending) >= window:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


# ---------------------------------------------------------------- hash lists
def render_hash_csv(rows: Iterable[tuple[str, str]]) -> bytes:
    """The CSV bytes of ``name,hash-sha256`` rows (caller sorts), LF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HASH_CSV_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _csv_field(value: str) -> str:
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_line(name: str, digest: str) -> str:
    return f"{_csv_field(name)},{digest}\n"


def file_stats_path(hash_csv: Path) -> Path:
    """The file-stats sidecar of a hash list: ``x.csv`` -> ``x.filestat.csv``.

    Not part of the reference format: ``path,size,mtime_ns`` of every hashed
    file (path relative to the hashed root, in walk order), as stat'ed just
    before the file was read, so ``verify`` can re-hash exactly the files
    that changed since.
    """
    return hash_csv.with_name(hash_csv.name.removesuffix(".csv") + ".filestat.csv")


def _flush_lines(lines: list[str], handle: BinaryIO, digest: Any) -> None:
    data = "".join(lines).encode("utf-8")
    handle.write(data)
    digest.update(data)
    lines.clear()


def _duplicates_error(csv_path: Path, root: Path, dups: list[str], n: int) -> None:
    shown = ", ".join(dups[:10])
    more = f" and {n - 10} more" if n > 10 else ""
    raise InputDataError(
        f"{n} file stem(s) occur more than once under {root}: {shown}{more}. "
        f"The hash list {csv_path.name} is keyed by stem (as the reference "
        "tiff-hasher); remove or rename the duplicated files and rerun"
    )


def write_tree_hashes(
    root: Path,
    out_csv: Path,
    *,
    workers: int = 2,
    suffixes: Sequence[str] = TIFF_SUFFIXES,
    batch_units: int = BATCH_UNITS,
    file_stats: bool = False,
    progress: ProgressCallback | None = None,
) -> HashListResult:
    """Hash every matching file under ``root`` into ``out_csv`` and its digest.

    Writes ``out_csv`` and ``out_csv + '.sha256'`` atomically, and with
    ``file_stats`` the :func:`file_stats_path` sidecar (after the CSV, so a
    sidecar is never newer than its hash list).  Raises
    :class:`InputDataError` naming the duplicated stems if a stem occurs
    twice (no CSV is written then), or if ``root`` is not a directory.
    """
    if not root.is_dir():
        raise InputDataError(
            f"cannot hash {root}: not a directory; build the dataset "
            "(rule finalize_dataset) first"
        )
    digest_path = out_csv.with_name(out_csv.name + ".sha256")
    stats_tmp: Path | None = None
    stats_handle: BinaryIO | None = None
    if file_stats:
        stats_tmp, stats_handle = open_temp_sibling(file_stats_path(out_csv))
    tmp, raw = open_temp_sibling(out_csv)
    try:
        with raw as handle:
            hashed = hash_tree_files(
                root, suffixes, workers=workers, batch_units=batch_units
            )
            tally = _stream_rows(
                hashed, handle, progress, stats=stats_handle, root=str(root)
            )
        if stats_handle is not None:
            stats_handle.close()
        if not tally.in_order:
            # Unusual layout: stems do not follow path order; sort in memory.
            _sort_rows(tmp, tally)
        if tally.n_dups:
            _duplicates_error(out_csv, root, tally.dups, tally.n_dups)
        digest = tally.csv_hash.hexdigest()
        os.replace(tmp, out_csv)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if stats_tmp is not None and stats_handle is not None:
            stats_handle.close()
            stats_tmp.unlink(missing_ok=True)
        raise
    atomic_write_bytes(digest_path, digest.encode("ascii"))
    if stats_tmp is not None:
        os.replace(stats_tmp, file_stats_path(out_csv))
    if progress is not None:
        progress(tally.total_bytes, None)
    logger.info(
        "hashed %d files (%.1f MB) under %s -> %s (sha256 %s)",
        tally.rows,
        tally.total_bytes / 1e6,
        root,
        out_csv,
        digest,
    )
    if tally.rows == 0:
        logger.warning("no %s files under %s", "/".join(suffixes), root)
    return HashListResult(out_csv, digest_path, digest, tally.rows, tally.total_bytes)


@dataclass(slots=True)
class _Tally:
    """What writing a hash list has seen: counts, order, duplicate stems."""

    csv_hash: Any = field(default_factory=hashlib.sha256)
    rows: int = 0
    total_bytes: int = 0
    in_order: bool = True
    last: str | None = None
    dups: list[str] = field(default_factory=list)
    n_dups: int = 0

    def add(self, name: str, size: int) -> None:
        if self.last is not None:
            if name == self.last:
                self.n_dups += 1
                if len(self.dups) < 10:
                    self.dups.append(name)
            elif name < self.last:
                self.in_order = False
        if self.last is None or name > self.last:
            self.last = name
        self.rows += 1
        self.total_bytes += size


def _stream_rows(
    hashed: Iterable[Hashed],
    handle: BinaryIO,
    progress: ProgressCallback | None,
    *,
    stats: BinaryIO | None = None,
    root: str = "",
) -> _Tally:
    """Write the header and a ``stem,sha256`` row per file, as they arrive.

    With ``stats``, also a ``path,size,mtime_ns`` row per file (path relative
    to ``root``).
    """
    tally = _Tally()
    lines = [",".join(HASH_CSV_HEADER) + "\n"]
    stat_lines = [",".join(FILE_STATS_HEADER) + "\n"]
    cut = len(os.path.join(root, ""))
    for path, digest, size, mtime_ns in hashed:
        name = os.path.basename(path).rsplit(".", 1)[0]
        tally.add(name, size)
        lines.append(_csv_line(name, digest))
        if stats is not None:
            stat_lines.append(f"{_csv_field(path[cut:])},{size},{mtime_ns}\n")
        if len(lines) >= 4096:
            _flush_lines(lines, handle, tally.csv_hash)
            if stats is not None:
                stats.write("".join(stat_lines).encode("utf-8", "surrogateescape"))
            stat_lines.clear()
            if progress is not None:
                progress(tally.total_bytes, None)
    _flush_lines(lines, handle, tally.csv_hash)
    if stats is not None:
        stats.write("".join(stat_lines).encode("utf-8", "surrogateescape"))
    return tally


def _sort_rows(tmp: Path, tally: _Tally) -> None:
    """Rewrite ``tmp`` sorted by stem; recount the duplicates and the digest."""
    with tmp.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        all_rows = sorted((r[0], r[1]) for r in reader)
    names = [r[0] for r in all_rows]
    pairs = list(zip(names, names[1:], strict=False))
    tally.dups = sorted({a for a, b in pairs if a == b})
    tally.n_dups = sum(1 for a, b in pairs if a == b)
    data = render_hash_csv(all_rows)
    tmp.write_bytes(data)
    tally.csv_hash = hashlib.sha256(data)


def write_metadata_hashes(
    paths: Sequence[Path],
    out_csv: Path,
    *,
    relative_to: Path | None = None,
    file_stats: bool = False,
) -> list[FileHashes]:
    """Write ``name,hash-sha256,md5`` rows (by name, sorted) to ``out_csv``.

    The name is the file name, or with ``relative_to`` the POSIX path
    relative to that folder.  With ``file_stats``, also the
    :func:`file_stats_path` sidecar (``path`` = the name), after the CSV.
    """
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputDataError(
            f"metadata file(s) missing: {', '.join(missing)}; build the dataset "
            "(rule finalize_dataset) first"
        )

    def name_of(path: Path) -> str:
        if relative_to is None:
            return Path(path).name
        return Path(path).relative_to(relative_to).as_posix()

    def hashed(path: Path) -> FileHashes:
        row = file_hashes(path)
        return FileHashes(
            name=name_of(path), sha256=row.sha256, md5=row.md5, size=row.size
        )

    stats = {name_of(p): os.stat(p) for p in paths}  # before the bytes are read
    rows = sorted((hashed(p) for p in paths), key=lambda r: r.name.encode("utf-8"))
    write_csv_atomic(
        out_csv, METADATA_CSV_HEADER, ((r.name, r.sha256, r.md5) for r in rows)
    )
    if file_stats:
        write_csv_atomic(
            file_stats_path(out_csv),
            FILE_STATS_HEADER,
            ((r.name, stats[r.name].st_size, stats[r.name].st_mtime_ns) for r in rows),
        )
    return rows


def write_catalogue_hashes(catalogue_dir: Path, out_csv: Path) -> list[FileHashes]:
    """Hash every file of a catalogue folder (``patches.parquet``, ``stac/``).

    Rows are ``name,hash-sha256,md5`` keyed by the path relative to
    ``catalogue_dir``; hidden files (Snakemake's ``.snakemake_timestamp``)
    are skipped.
    """
    if not catalogue_dir.is_dir():
        raise InputDataError(
            f"cannot hash {catalogue_dir}: not a directory; build the catalogue "
            "(rule build_catalogue) first"
        )
    paths = [
        Path(entry.path)
        for rel, entry in iter_sorted_tree(catalogue_dir)
        if entry.is_file() and not any(p.startswith(".") for p in rel.split("/"))
    ]
    rows = write_metadata_hashes(paths, out_csv, relative_to=catalogue_dir)
    logger.info(
        "hashed %d catalogue files under %s -> %s", len(rows), catalogue_dir, out_csv
    )
    return rows


# ---------------------------------------------------------------- re-checking
@dataclass(frozen=True, slots=True)
class Refresh:
    """A hash list checked against the files it describes, as they are now.

    ``current_csv`` is the hash list of the files as they are now: the hash
    list itself when nothing changed, else a new list in ``scratch``.
    ``basis``: ``file stats`` (only files whose size or mtime changed since
    the list was written were re-hashed), ``rehash`` (every file was), or
    ``no file stats`` (the sidecar is missing: nothing was re-checked).
    """

    hash_csv: Path
    current_csv: Path
    basis: str
    checked: int
    rehashed: int

    @property
    def changed(self) -> bool:
        return self.current_csv != self.hash_csv


def _read_file_stats(path: Path) -> Iterator[tuple[str, int, int]]:
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != FILE_STATS_HEADER:
            raise InputDataError(
                f"{path} is not a file-stats sidecar (header {header}, expected "
                f"{','.join(FILE_STATS_HEADER)}); rerun hash_outputs"
            )
        for row in reader:
            yield row[0], int(row[1]), int(row[2])


def changed_files(
    root: Path, stats_csv: Path, suffixes: Sequence[str] = TIFF_SUFFIXES
) -> tuple[int, list[tuple[str, str]]]:
    """``(files checked, [(path, "changed" | "new" | "removed")])`` under ``root``.

    Compares each matching file's size and mtime with the sidecar
    ``stats_csv``, merging the two bytewise-sorted path lists (constant
    memory but for the changes).  Paths are relative to ``root``.
    """
    wanted = tuple(suffixes)
    current = (
        (rel, entry.stat())
        for rel, entry in iter_sorted_tree(root)
        if entry.is_file() and entry.name.endswith(wanted)
    )
    recorded = _read_file_stats(stats_csv)
    out: list[tuple[str, str]] = []
    checked = 0
    a, b = next(current, None), next(recorded, None)
    while a is not None or b is not None:
        if a is not None and (b is None or os.fsencode(a[0]) < os.fsencode(b[0])):
            out.append((a[0], "new"))
            checked += 1
            a = next(current, None)
        elif b is not None and (a is None or os.fsencode(b[0]) < os.fsencode(a[0])):
            out.append((b[0], "removed"))
            b = next(recorded, None)
        else:
            assert a is not None and b is not None
            checked += 1
            if (a[1].st_size, a[1].st_mtime_ns) != (b[1], b[2]):
                out.append((a[0], "changed"))
            a, b = next(current, None), next(recorded, None)
    return checked, out


def _stem(path: str) -> str:
    return os.path.basename(path).rsplit(".", 1)[0]


def _patched_hash_list(
    hash_csv: Path, out_csv: Path, new: dict[str, str], removed: set[str]
) -> str:
    """Write ``hash_csv`` with rows replaced/added (``new``) and ``removed``; digest.

    Both files sorted by name (stem); streaming but for the changes.
    """
    pending = sorted(new.items())
    digest = hashlib.sha256()
    tmp, raw = open_temp_sibling(out_csv)
    lines = [",".join(HASH_CSV_HEADER) + "\n"]
    try:
        with raw as handle, hash_csv.open(newline="", encoding="utf-8") as src:
            reader = csv.reader(src)
            next(reader, None)
            i = 0
            for row in reader:
                if not row:
                    continue
                name = row[0]
                while i < len(pending) and pending[i][0] < name:
                    lines.append(_csv_line(*pending[i]))
                    i += 1
                if i < len(pending) and pending[i][0] == name:
                    lines.append(_csv_line(*pending[i]))
                    i += 1
                elif name not in removed:
                    lines.append(_csv_line(name, row[1]))
                if len(lines) >= 4096:
                    _flush_lines(lines, handle, digest)
            lines.extend(_csv_line(*item) for item in pending[i:])
            _flush_lines(lines, handle, digest)
        os.replace(tmp, out_csv)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def refresh_tree_hashes(
    root: Path,
    hash_csv: Path,
    scratch: Path,
    *,
    rehash_all: bool = False,
    workers: int = 1,
    rehash_all_above: int = 20_000,
) -> Refresh:
    """The hash list of ``root`` as it is now, compared with ``hash_csv``.

    Re-hashes the files whose size or mtime differ from the
    :func:`file_stats_path` sidecar of ``hash_csv`` (new and removed files
    too), or every file with ``rehash_all`` (also when more than
    ``rehash_all_above`` files changed).  Touched files with unchanged bytes
    leave the hash list as it is.
    """
    stats_csv = file_stats_path(hash_csv)
    recorded = hash_csv.with_name(hash_csv.name + ".sha256")
    old_digest = (
        recorded.read_text(encoding="ascii").strip() if recorded.is_file() else ""
    )
    out = scratch / hash_csv.name
    scratch.mkdir(parents=True, exist_ok=True)
    if not rehash_all:
        if not stats_csv.is_file():
            return Refresh(hash_csv, hash_csv, "no file stats", 0, 0)
        checked, changes = changed_files(root, stats_csv)
        if len(changes) <= rehash_all_above:
            new = {
                _stem(rel): sha256_file(root / rel)
                for rel, kind in changes
                if kind != "removed"
            }
            removed = {_stem(rel) for rel, kind in changes if kind == "removed"}
            if not changes:
                return Refresh(hash_csv, hash_csv, "file stats", checked, 0)
            digest = _patched_hash_list(hash_csv, out, new, removed - set(new))
            current = hash_csv if digest == old_digest else out
            logger.info(
                "%s: %d of %d file(s) changed size or mtime since %s was written; "
                "re-hashed %d",
                root,
                len(changes),
                checked,
                hash_csv.name,
                len(new),
            )
            return Refresh(hash_csv, current, "file stats", checked, len(new))
        logger.info(
            "%s: %d files changed size or mtime; re-hashing all", root, len(changes)
        )
    result = write_tree_hashes(root, out, workers=workers)
    current = hash_csv if result.digest == old_digest else out
    return Refresh(hash_csv, current, "rehash", result.rows, result.rows)


def refresh_metadata_hashes(
    dataset_dir: Path, metadata_csv: Path, *, rehash_all: bool = False
) -> tuple[str, dict[str, tuple[str, ...]]]:
    """``(basis, {name: (sha256, md5)})`` of the metadata files as they are now.

    Re-hashes a parquet whose size or mtime differ from the sidecar (or every
    one with ``rehash_all``); the others keep their listed hashes.  A listed
    file that is gone is left out.
    """
    _, listed = read_keyed_csv(metadata_csv)
    stats_csv = file_stats_path(metadata_csv)
    if not rehash_all and not stats_csv.is_file():
        return "no file stats", dict(listed)
    recorded = (
        {} if rehash_all else {r[0]: (r[1], r[2]) for r in _read_file_stats(stats_csv)}
    )
    rows: dict[str, tuple[str, ...]] = {}
    for name, values in listed.items():
        path = dataset_dir / name
        if not path.is_file():
            continue
        st = path.stat()
        if recorded.get(name) == (st.st_size, st.st_mtime_ns):
            rows[name] = values
        else:
            hashes = file_hashes(path)
            rows[name] = (hashes.sha256, hashes.md5)
    return ("rehash" if rehash_all else "file stats"), rows


@dataclass(frozen=True, slots=True)
class HashOutputsResult:
    """The hash lists written by :func:`hash_outputs`."""

    patches: HashListResult
    reference_maps: HashListResult
    s1: HashListResult
    metadata: list[FileHashes]


def hash_outputs(
    dataset_dir: Path,
    *,
    patch_csv: Path,
    reference_maps_csv: Path,
    s1_csv: Path,
    metadata_csv: Path,
    workers: int = 2,
    progress_factory: Callable[[str], ProgressCallback] | None = None,
) -> HashOutputsResult:
    """Hash the S2 patches, reference maps, S1 patches and metadata parquets.

    ``dataset_dir`` has the reference layout (``BigEarthNet-S2/``,
    ``Reference_Maps/``, ``BigEarthNet-S1/``, the two parquets).
    """

    logger.info(
        "hash_outputs (ALGORITHM_VERSION %d) of %s with %d worker(s)",
        ALGORITHM_VERSION,
        dataset_dir,
        workers,
    )

    def progress(what: str) -> ProgressCallback | None:
        return progress_factory(what) if progress_factory else None

    patches, maps, s1 = (
        write_tree_hashes(
            dataset_dir / tree,
            out_csv,
            workers=workers,
            file_stats=True,
            progress=progress(what),
        )
        for tree, out_csv, what in (
            (S2_TREE, patch_csv, "S2 bytes hashed"),
            (MAPS_TREE, reference_maps_csv, "reference-map bytes hashed"),
            (S1_TREE, s1_csv, "S1 bytes hashed"),
        )
    )
    metadata = write_metadata_hashes(
        [dataset_dir / name for name in METADATA_FILES], metadata_csv, file_stats=True
    )
    return HashOutputsResult(patches, maps, s1, metadata)
