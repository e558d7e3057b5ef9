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


def _hash_units(
    units: Sequence[Unit], suffixes: tuple[str, ...]
) -> list[tuple[str, str, int]]:
    """``(path, sha256 hex, size)`` of every matching file of ``units``, in order.

    Runs in a worker process or thread: a directory unit is walked here
    (bytewise order, the same as the full walk), so per-file work stays off
    the main process.
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
            (digest,), size = digest_file(file)
            out.append((file, digest, size))
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
) -> Iterator[tuple[str, str, int]]:
    """Yield ``(path, sha256 hex, size)`` for the matching files under ``root``.

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
    pending: deque[Future[list[tuple[str, str, int]]]] = deque()
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


def _csv_line(name: str, digest: str) -> str:
    if "," in name or '"' in name or "\n" in name or "\r" in name:
        name = '"' + name.replace('"', '""') + '"'
    return f"{name},{digest}\n"


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
    progress: ProgressCallback | None = None,
) -> HashListResult:
    """Hash every matching file under ``root`` into ``out_csv`` and its digest.

    Writes ``out_csv`` and ``out_csv + '.sha256'`` atomically.  Raises
    :class:`InputDataError` naming the duplicated stems if a stem occurs
    twice (no CSV is written then), or if ``root`` is not a directory.
    """
    if not root.is_dir():
        raise InputDataError(
            f"cannot hash {root}: not a directory; build the dataset "
            "(rule finalize_dataset) first"
        )
    digest_path = out_csv.with_name(out_csv.name + ".sha256")
    tmp, raw = open_temp_sibling(out_csv)
    try:
        with raw as handle:
            hashed = hash_tree_files(
                root, suffixes, workers=workers, batch_units=batch_units
            )
            tally = _stream_rows(hashed, handle, progress)
        if not tally.in_order:
            # Unusual layout: stems do not follow path order; sort in memory.
            _sort_rows(tmp, tally)
        if tally.n_dups:
            _duplicates_error(out_csv, root, tally.dups, tally.n_dups)
        digest = tally.csv_hash.hexdigest()
        os.replace(tmp, out_csv)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    atomic_write_bytes(digest_path, digest.encode("ascii"))
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
    hashed: Iterable[tuple[str, str, int]],
    handle: BinaryIO,
    progress: ProgressCallback | None,
) -> _Tally:
    """Write the header and a ``stem,sha256`` row per file, as they arrive."""
    tally = _Tally()
    lines = [",".join(HASH_CSV_HEADER) + "\n"]
    for path, digest, size in hashed:
        name = os.path.basename(path).rsplit(".", 1)[0]
        tally.add(name, size)
        lines.append(_csv_line(name, digest))
        if len(lines) >= 4096:
            _flush_lines(lines, handle, tally.csv_hash)
            if progress is not None:
                progress(tally.total_bytes, None)
    _flush_lines(lines, handle, tally.csv_hash)
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


def write_metadata_hashes(paths: Sequence[Path], out_csv: Path) -> list[FileHashes]:
    """Write ``name,hash-sha256,md5`` rows (by file name, sorted) to ``out_csv``."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputDataError(
            f"metadata file(s) missing: {', '.join(missing)}; build the dataset "
            "(rule finalize_dataset) first"
        )
    rows = sorted((file_hashes(p) for p in paths), key=lambda r: r.name)
    write_csv_atomic(
        out_csv, METADATA_CSV_HEADER, ((r.name, r.sha256, r.md5) for r in rows)
    )
    return rows


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
            dataset_dir / tree, out_csv, workers=workers, progress=progress(what)
        )
        for tree, out_csv, what in (
            (S2_TREE, patch_csv, "S2 bytes hashed"),
            (MAPS_TREE, reference_maps_csv, "reference-map bytes hashed"),
            (S1_TREE, s1_csv, "S1 bytes hashed"),
        )
    )
    metadata = write_metadata_hashes(
        [dataset_dir / name for name in METADATA_FILES], metadata_csv
    )
    return HashOutputsResult(patches, maps, s1, metadata)
