"""The content state of a directory input: every file's path, size and sha256.

Snakemake sees a directory input only through the directory's own mtime, so a
file replaced or edited deep inside ``inputs.s1_root`` or
``inputs.v1_metadata_dir`` would go unnoticed.  :func:`directory_state` walks
the tree in sorted order and returns a digest of its content (relative path,
size and sha256 of every file).  The rule ``record_input_tree`` takes the
digest as a param (it reruns when the content changes, never when only the
stamps or the path's spelling do) and writes a manifest, which the rules that
read the tree take as an input.

Hashing a big tree (the v1 S1 archive: 1.1 M files, 63 GB) on every DAG
build is out of the question, so each file's sha256 is cached by its
identity and change stamps ``(device, inode, size, mtime_ns, ctime_ns)``: a
file whose stamps are unchanged is not read again.  ``ctime`` cannot be set
from user space, so an edit that restores the mtime (``touch -d``,
``os.utime``) is still seen.  After the first run the cost is one ``stat``
per file.  The cache is a TSV next to the manifest, written atomically; a
missing or unreadable cache only costs a re-hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benpipe.errors import InputDataError
from benpipe.fileio import (
    atomic_write_text,
    iter_sorted_tree,
    sha256_file,
    write_csv_atomic,
)

logger = logging.getLogger(__name__)

#: Bump when the manifest bytes or the digest change for the same tree.
ALGORITHM_VERSION = 1
#: The manifest's columns: the content of a tree, nothing machine-specific.
MANIFEST_HEADER = ("path", "size", "sha256")
#: The cache's columns (tab-separated, one line per file, sorted by path).
_CACHE_FIELDS = ("path", "dev", "ino", "size", "mtime_ns", "ctime_ns", "sha256")
#: The digest of a directory that does not exist (Snakemake then reports the
#: missing input itself).
MISSING = "missing"

#: (device, inode, size, mtime_ns, ctime_ns)
Stamp = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class FileState:
    """One file of a tree: its path relative to the root, size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class DirectoryState:
    """The files of a tree (sorted by path) and the digest of their content."""

    root: Path
    files: tuple[FileState, ...]
    digest: str
    hashed: int
    hashed_bytes: int
    seconds: float

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """``(relative path, stat)`` of every file under ``root``, bytewise sorted."""
    for rel, entry in iter_sorted_tree(root):
        try:
            st = entry.stat()  # follows symlinks, as the walk does
        except FileNotFoundError as exc:
            raise InputDataError(
                f"{entry.path} disappeared while {root} was being read; do not "
                "change an input directory during a run"
            ) from exc
        if not entry.is_file():
            raise InputDataError(
                f"{entry.path} is neither a file nor a folder; an input directory "
                "may hold only files and folders"
            )
        yield rel, st


def _read_cache(path: Path | None) -> dict[str, tuple[Stamp, str]]:
    if path is None or not path.is_file():
        return {}
    cache: dict[str, tuple[Stamp, str]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter="\t")
            if tuple(next(reader, ())) != _CACHE_FIELDS:
                return {}
            for row in reader:
                rel, *numbers, sha = row
                stamp = tuple(int(n) for n in numbers)
                cache[rel] = (stamp, sha)  # type: ignore[assignment]
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        logger.warning("ignoring the unreadable hash cache %s (%s)", path, exc)
        return {}
    return cache


def _write_cache(path: Path, rows: list[tuple[str, Stamp, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(_CACHE_FIELDS)
    writer.writerows((rel, *stamp, sha) for rel, stamp, sha in rows)
    atomic_write_text(path, buffer.getvalue())


def content_digest(files: tuple[FileState, ...]) -> str:
    """sha256 over ``path<TAB>size<TAB>sha256<LF>`` of every file, in order."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path}\t{f.size}\t{f.sha256}\n".encode())
    return digest.hexdigest()


def directory_state(
    root: Path,
    *,
    cache: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DirectoryState:
    """Walk ``root``; hash the files whose stamps differ from ``cache``.

    The cache is rewritten (atomically) when anything was hashed or a file
    disappeared.  ``progress(files done, bytes hashed)`` is called every
    thousand files.  Raises :class:`InputDataError` when ``root`` is not a
    directory or changes during the walk.
    """
    started = time.monotonic()
    root = Path(root)
    if not root.is_dir():
        raise InputDataError(f"input directory {root} does not exist")
    known = _read_cache(cache)
    rows: list[tuple[str, Stamp, str]] = []
    files: list[FileState] = []
    hashed = hashed_bytes = 0
    for done, (rel, st) in enumerate(_walk(root), start=1):
        stamp = _stamp(st)
        cached = known.get(rel)
        if cached is not None and cached[0] == stamp:
            sha = cached[1]
        else:
            sha = sha256_file(root / rel)
            hashed += 1
            hashed_bytes += st.st_size
        rows.append((rel, stamp, sha))
        files.append(FileState(rel, st.st_size, sha))
        if progress is not None and done % 1000 == 0:
            progress(done, hashed_bytes)
    if cache is not None and (hashed or len(known) != len(rows)):
        _write_cache(cache, rows)
    frozen = tuple(files)
    return DirectoryState(
        root=root,
        files=frozen,
        digest=content_digest(frozen),
        hashed=hashed,
        hashed_bytes=hashed_bytes,
        seconds=time.monotonic() - started,
    )


def directory_digest(
    root: Path,
    *,
    cache: Path | None = None,
    report: Callable[[str], None] | None = None,
) -> str:
    """The content digest of ``root`` (:data:`MISSING` when it does not exist).

    For Snakemake params, evaluated when the DAG is built.  ``report`` gets a
    line when files had to be hashed, and every 10 s during a long first hash.
    """
    root = Path(root)
    if not root.is_dir():
        return MISSING
    last = [time.monotonic()]

    def progress(done: int, hashed_bytes: int) -> None:
        if report is not None and time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            report(
                f"{root}: {done:,} files walked, {hashed_bytes / 1e9:.1f} GB hashed "
                "(the first time only; later runs read the hash cache)"
            )

    state = directory_state(root, cache=cache, progress=progress)
    if state.hashed and report is not None:
        report(
            f"{root}: {len(state.files):,} files, {state.hashed:,} new or changed "
            f"hashed ({state.hashed_bytes / 1e6:,.1f} MB) in {state.seconds:.1f} s"
        )
    return state.digest


def cache_for(manifest: Path) -> Path:
    """The hash cache of the tree a manifest describes: ``.cache/<key>.tsv``
    next to ``<key>.manifest.csv``."""
    manifest = Path(manifest)
    key = manifest.name.removesuffix(".csv").removesuffix(".manifest")
    return manifest.parent / ".cache" / f"{key}.tsv"


def write_manifest(state: DirectoryState, path: Path) -> None:
    """Write ``path,size,sha256`` (sorted by path) atomically."""
    write_csv_atomic(
        path, MANIFEST_HEADER, ((f.path, f.size, f.sha256) for f in state.files)
    )
