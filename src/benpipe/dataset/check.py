"""``benpipe check-dataset``: validate a dataset directory against the contract.

The contract is the published reBEN layout (REFERENCE-PIPELINE §6.1, §6.2,
§8.1): two metadata parquets and three trees.  Every GeoTIFF is decoded
fully (all patches, or a seeded sample; in worker processes), so a truncated
or corrupt file is one finding naming it, and the check goes on.  With hash
lists in the tiff-hasher format (published or tracked ``*_hashes.csv``),
every checked file's sha256 is compared too; without them the contents are
checked for decodability and properties only, which the summary says.  Only
the directory itself is read (no benpipe manifests), so a downloaded and
extracted published dataset can be checked too::

    <root>/metadata.parquet
    <root>/metadata_for_patches_with_snow_cloud_or_shadow.parquet
    <root>/BigEarthNet-S2/<tile>/<patch>/<patch>_<band>.tif        12 per patch
    <root>/Reference_Maps/<tile>/<patch>/<patch>_reference_map.tif
    <root>/BigEarthNet-S1/<s1 group>/<s1 name>/<s1 name>_{VV,VH}.tif
"""

from __future__ import annotations

import csv
import logging
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from benpipe.clc import BEN19_CLASSES
from benpipe.dataset import sql
from benpipe.dataset.finalize import METADATA_SCHEMA
from benpipe.dataset.layout import (
    FLAGGED_METADATA_FILE,
    HASH_CSV_HEADER,
    MAP_SUFFIXES,
    MAPS_TREE,
    METADATA_FILE,
    METADATA_FILES,
    S1_SUFFIXES,
    S1_TREE,
    S2_SUFFIXES,
    S2_TREE,
    SPLITS,
    TREES,
)
from benpipe.errors import InputDataError, NamingError
from benpipe.fileio import sha256_file
from benpipe.grid import PATCH_SIDE_M, patch_corner
from benpipe.log import ProgressCallback
from benpipe.names import (
    BAND_RESOLUTION_M,
    BANDS,
    BEN_COUNTRIES,
    PatchName,
    parse_patch_name,
    parse_s1_name,
    parse_v1_patch_name,
)

logger = logging.getLogger(__name__)

_BEN_COUNTRY_SET = frozenset(BEN_COUNTRIES)
_BEN19_SET = frozenset(BEN19_CLASSES)
_KEEP_PROBLEMS = 1000


@dataclass
class CheckReport:
    """Problems found (the first 1000) and a summary of the dataset."""

    root: Path
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < _KEEP_PROBLEMS:
            self.problems.append(message)


@dataclass(frozen=True, slots=True)
class _Row:
    patch_id: str
    s1_name: str
    tile_dir: str
    col: int
    row: int


# --------------------------------------------------------------------- metadata
def _check_parquet(path: Path, *, flagged: bool, report: CheckReport) -> list[_Row]:
    """Check one metadata parquet; return its rows for the tree checks."""
    table = _read_metadata(path, report)
    if table is None:
        return []
    rows: list[_Row] = []
    tiles: dict[str, str] = {}  # one string per tile folder name
    previous: str | None = None
    offset = 0
    # batch by batch: Python objects of all columns for all rows at once would
    # take about 1 kB per patch (0.5 GB for a full rebuild)
    for batch in table.to_batches(max_chunksize=_PARQUET_BATCH):
        data: dict[str, list[Any]] = batch.to_pydict()
        for i, pid in enumerate(data["patch_id"]):
            where = f"{path.name} row {offset + i} ({pid})"
            if pid is None:
                continue
            if previous is not None and pid <= previous:
                report.add(f"{where}: not sorted by patch_id (after {previous})")
            previous = pid
            try:
                patch = parse_patch_name(pid)
            except NamingError as exc:
                report.add(f"{where}: {exc}")
                continue
            record = {column: values[i] for column, values in data.items()}
            _check_labels_split_country(where, record, report)
            _check_s1_and_v1_names(where, record, patch, report)
            _check_flags(where, record, flagged=flagged, report=report)
            s1_name = record["s1_name"] or ""
            tile_dir = tiles.setdefault(patch.tile_dir, patch.tile_dir)
            rows.append(_Row(pid, s1_name, tile_dir, patch.col, patch.row))
        offset += batch.num_rows
    return rows


#: Parquet rows turned into Python objects at a time.
_PARQUET_BATCH = 16_384


def _read_metadata(path: Path, report: CheckReport) -> pa.Table | None:
    """The parquet's table, or None (problems reported) if its schema is off."""
    import pyarrow.parquet as pq

    name = path.name
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        report.add(f"{name}: cannot be read as parquet: {exc}")
        return None
    schema = table.schema
    if schema.names != METADATA_SCHEMA.names:
        report.add(f"{name}: columns {schema.names}, expected {METADATA_SCHEMA.names}")
        return None
    wrong_types = [
        f"{name}: column {fld.name} has type {fld.type}, expected {want.type}"
        for fld, want in zip(schema, METADATA_SCHEMA, strict=True)
        if str(fld.type) != str(want.type)
    ]
    for problem in wrong_types:
        report.add(problem)
    if wrong_types:
        return None
    for column_name in schema.names:
        nulls = table.column(column_name).null_count
        if nulls:
            report.add(f"{name}: column {column_name} holds {nulls} null(s)")
    return table


def _check_labels_split_country(
    where: str, record: dict[str, Any], report: CheckReport
) -> None:
    labels = record["labels"] or []
    if not labels:
        report.add(f"{where}: no labels")
    if labels != sorted(set(labels)):
        report.add(f"{where}: labels {labels} are not sorted and unique")
    unknown = [label for label in labels if label not in _BEN19_SET]
    if unknown:
        report.add(f"{where}: labels {unknown} are not BEN-19 class names")
    if record["split"] not in SPLITS:
        report.add(
            f"{where}: split {record['split']!r} is not one of {', '.join(SPLITS)}"
        )
    if record["country"] not in _BEN_COUNTRY_SET:
        report.add(f"{where}: country {record['country']!r} is not a BEN country")


def _check_s1_and_v1_names(
    where: str, record: dict[str, Any], patch: PatchName, report: CheckReport
) -> None:
    s1_name = record["s1_name"] or ""
    try:
        s1 = parse_s1_name(s1_name)
        if (s1.col, s1.row) != (patch.col, patch.row):
            report.add(
                f"{where}: s1_name {s1_name} has x,y {s1.col},{s1.row}, expected {patch.col},{patch.row}"
            )
        if not patch.tile_dir.endswith(f"_T{s1.mgrs}"):
            report.add(
                f"{where}: s1_name {s1_name} is on tile {s1.mgrs}, not on the patch's tile"
            )
    except NamingError as exc:
        report.add(f"{where}: {exc}")
    try:
        v1 = parse_v1_patch_name(record["s2v1_name"] or "")
        if (v1.col, v1.row) != (patch.col, patch.row):
            report.add(
                f"{where}: s2v1_name {v1.name} has x,y {v1.col},{v1.row}, expected {patch.col},{patch.row}"
            )
    except NamingError as exc:
        report.add(f"{where}: {exc}")


def _check_flags(
    where: str, record: dict[str, Any], *, flagged: bool, report: CheckReport
) -> None:
    snow = record["contains_seasonal_snow"]
    cloud = record["contains_cloud_or_shadow"]
    if flagged and not (snow or cloud):
        report.add(
            f"{where}: neither contains_seasonal_snow nor contains_cloud_or_shadow is set"
        )
    if not flagged and (snow or cloud):
        report.add(f"{where}: flagged patch in {METADATA_FILE}")


# --------------------------------------------------------------------- trees
def _scan_tree(tree: Path, report: CheckReport) -> Iterator[tuple[str, str, list[str]]]:
    """(level-1 dir, level-2 dir, file names) of a 3-level tree; other entries are problems."""
    rel = tree.name
    for first in sorted(os.scandir(tree), key=lambda e: e.name):
        if not first.is_dir():
            report.add(f"{rel}/{first.name}: file at depth 1, expected a folder")
            continue
        for second in sorted(os.scandir(first.path), key=lambda e: e.name):
            if not second.is_dir():
                report.add(
                    f"{rel}/{first.name}/{second.name}: file at depth 2, expected a folder"
                )
                continue
            files = []
            for leaf in sorted(os.scandir(second.path), key=lambda e: e.name):
                if leaf.is_dir():
                    report.add(
                        f"{rel}/{first.name}/{second.name}/{leaf.name}: folder at depth 3, expected files only"
                    )
                else:
                    files.append(leaf.name)
            yield first.name, second.name, files


def _check_files(
    where: str, stem: str, suffixes: list[str], files: list[str], report: CheckReport
) -> None:
    """Report the files of one patch folder that are missing or unexpected."""
    wanted = {f"{stem}{suffix}" for suffix in suffixes}
    for missing in sorted(wanted - set(files)):
        report.add(f"{where}: missing {missing}")
    for extra in sorted(set(files) - wanted):
        report.add(f"{where}: unexpected file {extra}")


def _check_s2_like(
    tree: Path, expected: dict[str, _Row], suffixes: list[str], report: CheckReport
) -> set[str]:
    rel = tree.name
    seen: set[str] = set()
    for tile, patch, files in _scan_tree(tree, report):
        where = f"{rel}/{tile}/{patch}"
        if not patch.startswith(f"{tile}_"):
            report.add(f"{where}: patch folder does not contain its tile folder name")
        if patch not in expected:
            report.add(f"{where}: patch is in neither parquet (extra patch folder)")
        elif expected[patch].tile_dir != tile:
            report.add(
                f"{where}: patch belongs in tile folder {expected[patch].tile_dir}"
            )
        seen.add(patch)
        _check_files(where, patch, suffixes, files, report)
    for pid in sorted(set(expected) - seen):
        report.add(f"{rel}: no folder for patch {pid} of the metadata")
    return seen


def _check_s1(tree: Path, expected: dict[str, _Row], report: CheckReport) -> set[str]:
    wanted_names = {row.s1_name: row for row in expected.values()}
    seen: set[str] = set()
    suffixes = list(S1_SUFFIXES)
    for group, name, files in _scan_tree(tree, report):
        where = f"{tree.name}/{group}/{name}"
        try:
            if parse_s1_name(name).group != group:
                report.add(
                    f"{where}: S1 folder is not in its group {parse_s1_name(name).group}"
                )
        except NamingError as exc:
            report.add(f"{where}: {exc}")
        if name not in wanted_names:
            report.add(f"{where}: S1 patch is in neither parquet (extra S1 folder)")
        seen.add(name)
        _check_files(where, name, suffixes, files, report)
    for name in sorted(set(wanted_names) - seen):
        report.add(f"{tree.name}: no folder for S1 patch {name} of the metadata")
    return seen


# --------------------------------------------------------------------- GeoTIFFs
@dataclass(frozen=True, slots=True)
class _PatchCheck:
    """What one worker found in the files of one patch."""

    problems: list[str]
    decoded: int
    origin: tuple[float, float] | None
    #: file key (GeoTIFF stem) -> sha256, when hashes are compared
    digests: dict[str, str]


def _open_decoded(
    path: Path, rel: str, report: CheckReport, digests: dict[str, str] | None
) -> Any:
    """``path`` opened after decoding every pixel, or None (one finding).

    A truncated, corrupt or unreadable file is one finding naming it, whatever
    fails: the read, the TIFF structure or a strip's decompression.
    """
    import rasterio

    try:
        if digests is not None:
            digests[path.stem] = sha256_file(path)
        src = rasterio.open(path)
    except Exception as exc:  # one finding per broken file, never a traceback
        report.add(f"{rel}: cannot be read as a GeoTIFF: {_one_line(exc)}")
        return None
    try:
        src.read()
    except Exception as exc:
        src.close()
        report.add(f"{rel}: cannot be decoded fully: {_one_line(exc)}")
        return None
    return src


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_patch(root: Path, row: _Row, with_digests: bool) -> _PatchCheck:
    """Decode and check the 12 bands, the reference map and the S1 pair of a patch."""
    import rasterio

    report = CheckReport(root=root)
    digests: dict[str, str] | None = {} if with_digests else None
    with rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        origin, n = _check_s2_bands(root, row, report, digests)
        n += _check_reference_map(root, row, origin, report, digests)
        n += _check_s1_pair(root, row, report, digests)
    return _PatchCheck(report.problems, n, origin, digests or {})


def _check_patches(
    root: Path, rows: list[_Row], with_digests: bool
) -> list[_PatchCheck]:
    """Worker entry point: a batch of patches."""
    return [_check_patch(root, row, with_digests) for row in rows]


def _check_s2_bands(
    root: Path, row: _Row, report: CheckReport, digests: dict[str, str] | None
) -> tuple[tuple[float, float] | None, int]:
    """Check the 12 band files of a patch; return their common origin and count."""
    patch_dir = root / S2_TREE / row.tile_dir / row.patch_id
    origin: tuple[float, float] | None = None
    epsg: int | None = None
    zone = row.tile_dir[-5:-3]
    checked = 0
    for band in BANDS:
        path = patch_dir / f"{row.patch_id}_{band}.tif"
        where = f"{S2_TREE}/{row.tile_dir}/{row.patch_id}/{path.name}"
        if not path.exists():
            continue
        src = _open_decoded(path, where, report, digests)
        if src is None:
            continue
        res = BAND_RESOLUTION_M[band]
        with src:
            checked += 1
            problems = _raster_problems(src, side=PATCH_SIDE_M // res, res=res)
            if src.compression is not None:
                problems.append(f"compression {src.compression.value}, expected none")
            if src.block_shapes[0][1] != src.width:
                problems.append("tiled, expected strips")
            here = (src.transform.c, src.transform.f)
            crs_epsg = src.crs.to_epsg() if src.crs else None
            if crs_epsg != 32600 + int(zone):
                problems.append(f"CRS EPSG:{crs_epsg}, expected EPSG:326{zone} (UTM)")
            if origin is None:
                origin, epsg = here, crs_epsg
            elif here != origin or crs_epsg != epsg:
                problems.append(f"origin {here} differs from the other bands' {origin}")
        for problem in problems:
            report.add(f"{where}: {problem}")
    return origin, checked


def _check_tile_corner(
    row: _Row,
    origin: tuple[float, float],
    tile_origins: dict[str, tuple[float, float, str]],
    report: CheckReport,
) -> None:
    """Every patch of a tile must sit col·1200/row·1200 from one tile corner."""
    dx, dy = patch_corner(0.0, 0.0, col=row.col, row=row.row, side_m=PATCH_SIDE_M)
    ul = (origin[0] - dx, origin[1] - dy)
    known = tile_origins.setdefault(row.tile_dir, (*ul, row.patch_id))
    if known[:2] != ul:
        report.add(
            f"{S2_TREE}/{row.tile_dir}/{row.patch_id}: origin {origin} is not "
            f"col·1200/row·1200 from the tile corner implied by {known[2]}"
        )


def _check_reference_map(
    root: Path,
    row: _Row,
    origin: tuple[float, float] | None,
    report: CheckReport,
    digests: dict[str, str] | None,
) -> int:
    name = f"{row.patch_id}{MAP_SUFFIXES[0]}"
    path = root / MAPS_TREE / row.tile_dir / row.patch_id / name
    where = f"{MAPS_TREE}/{row.tile_dir}/{row.patch_id}/{name}"
    if not path.exists():
        return 0
    src = _open_decoded(path, where, report, digests)
    if src is None:
        return 0
    with src:
        problems = _raster_problems(src, side=120, res=10)
        structure = src.tags(ns="IMAGE_STRUCTURE")
        if (
            structure.get("COMPRESSION") != "DEFLATE"
            or structure.get("PREDICTOR") != "2"
        ):
            problems.append(
                f"compression {structure.get('COMPRESSION')} predictor "
                f"{structure.get('PREDICTOR')}, expected DEFLATE predictor 2"
            )
        if origin is not None and (src.transform.c, src.transform.f) != origin:
            problems.append("grid differs from the patch's 10 m bands")
    for problem in problems:
        report.add(f"{where}: {problem}")
    return 1


def _check_s1_pair(
    root: Path, row: _Row, report: CheckReport, digests: dict[str, str] | None
) -> int:
    if not row.s1_name:
        return 0
    try:
        s1 = parse_s1_name(row.s1_name)
    except NamingError:
        return 0  # reported with the metadata
    where = f"{S1_TREE}/{s1.group}/{s1.name}"
    checked = 0
    shapes = set()
    for suffix in S1_SUFFIXES:
        path = root / S1_TREE / s1.group / s1.name / f"{s1.name}{suffix}"
        if not path.exists():
            continue
        src = _open_decoded(path, f"{where}/{path.name}", report, digests)
        if src is None:
            continue
        with src:
            checked += 1
            shapes.add((src.count, src.width, src.height))
    if len(shapes) > 1:
        report.add(f"{where}: VV and VH differ in shape {sorted(shapes)}")
    return checked


def _raster_problems(src: Any, *, side: int, res: int) -> list[str]:
    problems = []
    if src.count != 1 or src.dtypes[0] != "uint16":
        problems.append(
            f"{src.count} band(s) of {src.dtypes[0]}, expected 1 band of uint16"
        )
    if (src.width, src.height) != (side, side):
        problems.append(f"size {src.width}x{src.height}, expected {side}x{side}")
    if src.nodata != 0:
        problems.append(f"nodata {src.nodata}, expected 0")
    if (src.transform.a, -src.transform.e) != (res, res):
        problems.append(
            f"pixel size {src.transform.a}x{-src.transform.e}, expected {res} m"
        )
    return problems


@dataclass(frozen=True, slots=True)
class _RasterTally:
    decoded: int
    seconds: float
    workers: int


def _check_rasters(
    root: Path,
    rows: list[_Row],
    report: CheckReport,
    *,
    hashes: _HashComparison | None,
    workers: int,
    progress: ProgressCallback | None,
) -> _RasterTally:
    """Decode and check every file of ``rows``' patches, in worker processes;
    with ``hashes``, each patch's digests are compared as they arrive (no
    whole-dataset digest table is kept)."""
    started = time.perf_counter()
    batches = [rows[i : i + _BATCH] for i in range(0, len(rows), _BATCH)]
    tile_origins: dict[str, tuple[float, float, str]] = {}
    decoded = done = 0
    with_digests = hashes is not None
    for batch, results in zip(
        batches, _map_batches(root, batches, with_digests, workers), strict=True
    ):
        for row, result in zip(batch, results, strict=True):
            for problem in result.problems:
                report.add(problem)
            if result.origin is not None:
                _check_tile_corner(row, result.origin, tile_origins, report)
            decoded += result.decoded
            if hashes is not None:
                for key, digest in sorted(result.digests.items()):
                    hashes.compare(key, digest)
        done += len(batch)
        if progress is not None:
            progress(done, len(rows))
    return _RasterTally(decoded, time.perf_counter() - started, workers)


#: Patches per worker task (about 15 files each).
_BATCH = 32


def _map_batches(
    root: Path, batches: list[list[_Row]], with_digests: bool, workers: int
) -> Iterator[list[_PatchCheck]]:
    """Results of :func:`_check_patches` per batch, in order."""
    if workers <= 1 or len(batches) <= 1:
        for batch in batches:
            yield _check_patches(root, batch, with_digests)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: workers inherit the imports; they only run rasterio and hashlib.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(
            _check_patches,
            [root] * len(batches),
            batches,
            [with_digests] * len(batches),
        )


# --------------------------------------------------------------------- hashes
class HashList:
    """Published or tracked sha256 per file key, from one or more hash CSVs.

    Held in a private temporary SQLite database (SQLite deletes it on
    :meth:`close`; its file lives in ``SQLITE_TMPDIR``, else ``TMPDIR``, else
    ``/var/tmp``), not in Python objects: the lists of a full rebuild name
    7.7 M files, about 1.7 GB as a dict, here a fixed 64 MB page cache and
    about 50 bytes per file on disk.  A key is kept once, with the first list
    that names it; digests are 32 raw bytes.  The comparison runs in one
    transaction that is never committed.
    """

    def __init__(self) -> None:
        self.files: tuple[Path, ...] = ()
        self._db = sqlite3.connect("")
        for pragma in (
            f"cache_size = -{_HASH_CACHE_KIB}",
            "journal_mode = OFF",
            "synchronous = OFF",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(sql.HASH_LIST_CREATE)

    def __enter__(self) -> HashList:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def add(self, path: Path, rows: Iterable[tuple[str, bytes]]) -> None:
        """Add the (key, sha256) rows of the hash CSV ``path``.

        Raises :class:`InputDataError` when a key already has another hash.
        """
        index = len(self.files)
        self.files = (*self.files, path)
        batch: list[tuple[str, bytes, int]] = []
        for key, digest in rows:
            batch.append((key, digest, index))
            if len(batch) == 10_000:
                self._db.executemany(sql.HASH_LIST_INSERT, batch)
                batch.clear()
        self._db.executemany(sql.HASH_LIST_INSERT, batch)
        clash = self._db.execute(sql.HASH_LIST_CLASH, (index,)).fetchone()
        if clash is not None:
            raise InputDataError(
                f"{clash[0]} has different hashes in {self.files[clash[1]].name} "
                f"and {path.name}"
            )

    def find(self, key: str) -> tuple[bytes, str] | None:
        """(sha256, CSV file name) of ``key``, or None when no list has it."""
        row = self._db.execute(sql.HASH_LIST_FIND, (key,)).fetchone()
        return None if row is None else (row[0], self.files[row[1]].name)

    def take(self, key: str) -> tuple[bytes, str] | None:
        """Like :meth:`find`, and remove ``key``."""
        row = self._db.execute(sql.HASH_LIST_TAKE, (key,)).fetchone()
        return None if row is None else (row[0], self.files[row[1]].name)

    def names_any_ending(self, endings: Sequence[str]) -> bool:
        """Whether some listed key ends with one of ``endings``."""
        params = [value for end in endings for value in (len(end), end)]
        query = sql.hash_list_any_ending(len(endings))
        return bool(self._db.execute(query, params).fetchone()[0])

    def entries(self) -> Iterator[tuple[str, str]]:
        """(key, CSV file name) of every listed file, in key order."""
        cursor = self._db.execute(sql.HASH_LIST_ENTRIES)
        try:
            for key, index in cursor:
                yield key, self.files[index].name
        finally:
            cursor.close()


#: SQLite page cache of a HashList, KiB (its memory bound).
_HASH_CACHE_KIB = 65_536


def load_hash_lists(paths: Sequence[Path]) -> HashList:
    """Read ``name,hash-sha256`` CSVs (tiff-hasher format; extra columns ignored).

    Keys are GeoTIFF stems, or parquet file names (``metadata_hashes.csv``).
    Raises :class:`InputDataError` naming a file of another format, a hash
    that is not 64 hex digits, or a key listed twice with different hashes.
    The caller closes the returned list.
    """
    loaded = HashList()
    try:
        for path in paths:
            try:
                with path.open(newline="", encoding="utf-8") as handle:
                    loaded.add(path, _read_hash_csv(path, csv.reader(handle)))
            except OSError as exc:
                raise InputDataError(f"cannot read hash list {path}: {exc}") from exc
    except BaseException:
        loaded.close()
        raise
    return loaded


def _read_hash_csv(
    path: Path, rows: Iterator[list[str]]
) -> Iterator[tuple[str, bytes]]:
    header = next(rows, None)
    if header is None or tuple(header[:2]) != HASH_CSV_HEADER:
        raise InputDataError(
            f"hash list {path}: header {','.join(header or [])!r}, expected "
            f"{','.join(HASH_CSV_HEADER)!r} (the tiff-hasher format of "
            "patch_hashes.csv, reference_maps_hashes.csv, s1_hashes.csv, "
            "metadata_hashes.csv)"
        )
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        key, text = row[0], row[1] if len(row) > 1 else ""
        try:
            digest = bytes.fromhex(text)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise InputDataError(
                f"hash list {path} line {line}: {text!r} for {key} is not a "
                "sha256 (64 hex digits); regenerate the list with `benpipe "
                "hash-tree` or fix that line"
            )
        yield key, digest


def _key_endings(tree: str) -> tuple[str, ...]:
    """How the hash-list keys of the files of ``tree`` end (stem suffixes)."""
    suffixes = {S2_TREE: S2_SUFFIXES, MAPS_TREE: MAP_SUFFIXES, S1_TREE: S1_SUFFIXES}[
        tree
    ]
    return tuple(s.removesuffix(".tif") for s in suffixes)


class _HashComparison:
    """Compares the dataset's digests with the hash lists, one file at a time.

    Each compared key is taken out of the lists (:class:`HashList`), so no
    second per-file table grows; what is left at the end is what the dataset
    lacks.  Files of a tree the lists cover but do not name, and (with
    ``complete``) listed files of such a tree that the dataset lacks, are
    findings too.
    """

    def __init__(self, hashes: HashList, report: CheckReport) -> None:
        self.hashes = hashes
        self.report = report
        #: the trees some list names files of, with their keys' endings
        self.covered = [
            (tree, endings)
            for tree in TREES
            if hashes.names_any_ending(endings := _key_endings(tree))
        ]
        self.compared = self.differ = self.unlisted = 0

    def compare(self, key: str, digest: str) -> None:
        found = self.hashes.take(key)
        if found is None:
            for tree, endings in self.covered:
                if key.endswith(endings):
                    self.unlisted += 1
                    self.report.add(
                        f"{_relative_name(key)}: not in the hash lists of {tree}"
                    )
            return
        expected, source = found
        self.compared += 1
        if bytes.fromhex(digest) != expected:
            self.differ += 1
            self.report.add(
                f"{_relative_name(key)}: sha256 {digest} differs from "
                f"{expected.hex()} in {source}"
            )

    def finish(self, root: Path, *, complete: bool) -> dict[str, Any]:
        """Hash and compare the parquets; the counts for the summary."""
        for name in METADATA_FILES:
            if self.hashes.find(name) is not None and (root / name).is_file():
                self.compare(name, sha256_file(root / name))
        missing = 0
        if complete:
            for _tree, endings in self.covered:
                left = [(k, n) for k, n in self.hashes.entries() if k.endswith(endings)]
                for key, source in left:
                    missing += 1
                    self.report.add(
                        f"{key}: listed in {source} but absent from the dataset"
                    )
        return {
            "lists": [p.name for p in self.hashes.files],
            "compared": self.compared,
            "differ": self.differ,
            "unlisted": self.unlisted,
            "missing": missing,
        }


def _relative_name(key: str) -> str:
    return key if key.endswith(".parquet") else f"{key}.tif"


# --------------------------------------------------------------------- driver
def check_dataset(
    root: Path,
    *,
    sample: int | None = None,
    seed: int = 0,
    hashes: Sequence[Path] = (),
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> CheckReport:
    """Validate ``root``: layout, metadata, every file decoded, hashes.

    GeoTIFFs are decoded fully (and checked) for all patches or a seeded
    ``sample``, in ``workers`` processes (default: the usable cores).  With
    ``hashes`` (tiff-hasher CSVs), each decoded file's sha256 is compared too.
    """
    root = Path(root)
    report = CheckReport(root=root)
    hash_list = load_hash_lists(hashes) if hashes else None
    try:
        if not root.is_dir():
            report.add(f"{root} is not a directory")
            return report
        per_file, rows = _check_layout(root, report)
        expected = {row.patch_id: row for row in rows}
        chosen = sorted(expected.values(), key=lambda r: r.patch_id)
        if sample is not None and sample < len(chosen):
            chosen = sorted(
                random.Random(seed).sample(chosen, sample), key=lambda r: r.patch_id
            )
        n_workers = workers if workers is not None else len(os.sched_getaffinity(0))
        comparison = (
            _HashComparison(hash_list, report) if hash_list is not None else None
        )
        tally = _check_rasters(
            root,
            chosen,
            report,
            hashes=comparison,
            workers=max(1, n_workers),
            progress=progress,
        )
        hash_summary: dict[str, Any] | None = None
        if comparison is not None:
            hash_summary = comparison.finish(
                root, complete=len(chosen) == len(expected)
            )
        report.summary = _summary(root, per_file, rows, chosen, tally) | {
            "hashes": hash_summary
        }
        return report
    finally:
        if hash_list is not None:
            hash_list.close()


def _check_layout(
    root: Path, report: CheckReport
) -> tuple[dict[str, list[_Row]], list[_Row]]:
    """The entries, both parquets and the three trees; the parquets' rows."""
    for entry in (METADATA_FILE, FLAGGED_METADATA_FILE):
        if not (root / entry).is_file():
            report.add(f"{entry} is missing")
    for tree in (S2_TREE, S1_TREE, MAPS_TREE):
        if not (root / tree).is_dir():
            report.add(f"{tree}/ is missing")
    rows: list[_Row] = []
    per_file: dict[str, list[_Row]] = {}
    for entry, flagged in ((METADATA_FILE, False), (FLAGGED_METADATA_FILE, True)):
        if (root / entry).is_file():
            per_file[entry] = _check_parquet(
                root / entry, flagged=flagged, report=report
            )
            rows += per_file[entry]
    expected: dict[str, _Row] = {}
    for row in rows:
        if row.patch_id in expected:
            report.add(f"patch {row.patch_id} is listed twice in the parquets")
        expected[row.patch_id] = row
    s1_counts = Counter(row.s1_name for row in rows)
    for name, count in sorted(s1_counts.items()):
        if count > 1:
            report.add(f"S1 patch {name} is paired with {count} S2 patches")
    if (root / S2_TREE).is_dir():
        _check_s2_like(root / S2_TREE, expected, list(S2_SUFFIXES), report)
    if (root / MAPS_TREE).is_dir():
        _check_s2_like(root / MAPS_TREE, expected, list(MAP_SUFFIXES), report)
    if (root / S1_TREE).is_dir():
        _check_s1(root / S1_TREE, expected, report)
    return per_file, list(expected.values())


def _summary(
    root: Path,
    per_file: dict[str, list[_Row]],
    rows: list[_Row],
    chosen: list[_Row],
    tally: _RasterTally,
) -> dict[str, Any]:
    import pyarrow.parquet as pq

    splits: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    for entry in per_file:
        try:
            table = pq.read_table(root / entry, columns=["split", "country"])
        except (OSError, ValueError, KeyError):
            continue
        splits.update(table.column("split").to_pylist())
        countries.update(table.column("country").to_pylist())
    return {
        "patches": {entry: len(r) for entry, r in per_file.items()},
        "tiles": len({r.tile_dir for r in rows}),
        "s1_groups": len({r.s1_name.rsplit("_", 3)[0] for r in rows}),
        "split": dict(sorted((str(k), v) for k, v in splits.items())),
        "country": dict(sorted((str(k), v) for k, v in countries.items())),
        "patches_raster_checked": len(chosen),
        "geotiffs_checked": tally.decoded,
        "decode_seconds": round(tally.seconds, 3),
        "decode_workers": tally.workers,
    }
