"""Dataset assembly: metadata parquets and the published tree (§6 of the spec).

Reproduces the reference finalizer (REFERENCE-PIPELINE §6.1, §6.2, §8.1) with
pyarrow instead of DuckDB:

1. load the four metadata CSVs of the dataset stage and the three v1 lists
   with the reference's constraints (primary keys unique, values non-empty,
   split domain); errors name the file and the line;
2. group labels per patch as a sorted list (byte order) and inner-join split,
   s2v1 name, country and the v1 S1 name; flag ``contains_seasonal_snow`` and
   ``contains_cloud_or_shadow`` from the v1 lists;
3. check that every labelled patch survived the joins (the error names the
   patches and the table they are missing from);
4. write ``metadata.parquet`` (neither flag) and
   ``metadata_for_patches_with_snow_cloud_or_shadow.parquet`` (either flag),
   sorted by patch_id, with the reference's Arrow schema and fixed writer
   settings (deterministic bytes);
5. assemble ``BigEarthNet-S2``, ``Reference_Maps`` and ``BigEarthNet-S1`` for
   exactly the patches of both parquets, in ``.<out>.tmp`` renamed to
   ``<out>`` at the end.  The S2 patches and reference maps are benpipe's own
   staging files: hard links (copies across filesystems), write-protected, so
   an edit of the dataset fails instead of changing the staging trees.  The S1
   patches are the user's v1 input: copied (reflinks where the filesystem
   supports them), never linked, so nothing done to the dataset reaches
   ``inputs.s1_root``.  Every file of the dataset is read-only.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benpipe.dataset.layout import (
    FLAGGED_METADATA_FILE,
    MAP_SUFFIXES,
    MAPS_TREE,
    METADATA_FILE,
    S1_POLARISATIONS,
    S1_SUFFIXES,
    S1_TREE,
    S2_SUFFIXES,
    S2_TREE,
    SPLITS,
)
from benpipe.errors import InputDataError, NamingError
from benpipe.fileio import (
    FileCopier,
    make_read_only,
    staged_directory,
    write_json_atomic,
)
from benpipe.log import ProgressCallback
from benpipe.names import (
    BANDS,
    parse_patch_name,
    parse_s1_name,
    parse_v1_patch_name,
)

logger = logging.getLogger(__name__)

#: Bump when the parquet bytes or the assembled tree change.  2: S1 files are
#: copied from inputs.s1_root instead of hard-linked, and every dataset file is
#: read-only (a dataset of version 1 shares inodes with the user's S1 input).
ALGORITHM_VERSION = 2

#: The reference's Arrow schema (both parquets; every field nullable).
METADATA_SCHEMA = pa.schema(
    [
        pa.field("patch_id", pa.string()),
        pa.field("labels", pa.list_(pa.field("element", pa.string()))),
        pa.field("split", pa.string()),
        pa.field("country", pa.string()),
        pa.field("s1_name", pa.string()),
        pa.field("s2v1_name", pa.string()),
        pa.field("contains_seasonal_snow", pa.bool_()),
        pa.field("contains_cloud_or_shadow", pa.bool_()),
    ]
)
#: Fixed parquet writer settings (the reference's row-group size and codec).
PARQUET_OPTIONS: dict[str, Any] = {
    "row_group_size": 122_880,
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": ["split", "country"],
    "version": "1.0",
    "data_page_version": "1.0",
    "write_statistics": True,
    "store_schema": False,
}


@dataclass(frozen=True, slots=True)
class FinalizeInputs:
    """The seven metadata inputs of the finalizer (REFERENCE-PIPELINE §6)."""

    label_mapping: Path
    s2v1_mapping: Path
    split_mapping: Path
    country_mapping: Path
    s1s2_mapping: Path
    seasonal_snow_list: Path
    cloud_shadow_list: Path


@dataclass(frozen=True, slots=True)
class ListCoverage:
    """How many names of a v1 list (snow, cloud, s1s2) describe this run.

    A name is a *patch of this run* when the run's s2v1 mapping holds it.  Its
    product is (v1 datatake, MGRS tile): the name without ``_<x>_<y>``, and
    the tile of its S1 partner in the s1s2 mapping (v1 names carry no tile).
    ``missed`` names lie on a product of the run but are no (valid, aligned)
    patch of it; ``elsewhere`` names lie on other products (expected when the
    run covers only some products); ``unknown`` names are not in the s1s2
    mapping, so no v1 patch has that name.
    """

    names: int
    matched: int
    missed: int
    elsewhere: int
    unknown: int

    def to_json(self) -> dict[str, int]:
        return {
            "names": self.names,
            "patches_of_this_run": self.matched,
            "on_this_runs_products_but_no_patch": self.missed,
            "on_other_products": self.elsewhere,
            "unknown_v1_names": self.unknown,
        }


@dataclass(frozen=True, slots=True)
class MetadataTables:
    """The two result tables, each sorted by patch_id, and the lists' coverage."""

    clean: pa.Table
    flagged: pa.Table
    lists: dict[str, ListCoverage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FinalizeResult:
    out_dir: Path
    manifest: dict[str, Any]


# --------------------------------------------------------------------- loading
# The inputs are read row by row into the tables the join needs, with no
# list of all rows beside them, and each patch id and value string is kept
# once across the tables (``strings``): at a full rebuild's 549 k patches
# the tables are finalize's largest structure.


def _iter_rows(
    path: Path, *, header: Sequence[str] | None, width: int
) -> Iterator[tuple[int, list[str]]]:
    """(line, row) of a CSV (LF or CRLF), each with ``width`` non-empty fields.

    Lines count the non-empty rows.  Raises :class:`InputDataError` naming
    the file (and the line) for an unreadable file, another header, a row of
    another width or with an empty field, and a file without data rows.
    """
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputDataError(f"cannot read metadata input {path}: {exc}") from exc
    with handle:
        rows = (row for row in csv.reader(handle) if row)
        first_line = 1
        if header is not None:
            found = next(rows, None)
            if found != list(header):
                raise InputDataError(
                    f"{path}: expected the header {','.join(header)!r}, found "
                    f"{found if found else 'an empty file'!r}"
                )
            first_line = 2
        line = first_line - 1
        for line, row in enumerate(rows, start=first_line):
            if len(row) != width or any(not value for value in row):
                raise InputDataError(
                    f"{path} line {line}: expected {width} non-empty field(s), "
                    f"found {row!r}"
                )
            yield line, row
        if line < first_line:
            raise InputDataError(
                f"{path}: no data rows; the finalizer needs a non-empty table"
            )


def _duplicate(
    path: Path,
    line: int,
    row: list[str],
    *,
    columns: tuple[int, ...],
    what: str,
    header: Sequence[str] | None,
    width: int,
) -> InputDataError:
    """The error for ``row``'s value in ``columns`` repeated on ``line``;
    finds the line where it first appeared (a second pass, on error only)."""
    key = [row[i] for i in columns]
    first = next(
        n
        for n, other in _iter_rows(path, header=header, width=width)
        if [other[i] for i in columns] == key
    )
    shown = key[0] if len(key) == 1 else tuple(key)
    return InputDataError(
        f"{path} line {line}: duplicate {what} {shown!r} (first on line {first})"
    )


def _load_mapping(
    path: Path,
    *,
    header: Sequence[str] | None,
    strings: dict[str, str] | None = None,
    unique_value: bool = False,
) -> dict[str, str]:
    """``key -> value`` of a two-column CSV, keys unique (and values with
    ``unique_value``); key and value strings shared through ``strings``."""
    mapping: dict[str, str] = {}
    values: set[str] = set()
    names = header or ("first column", "second column")
    for line, row in _iter_rows(path, header=header, width=2):
        key, value = row
        column = (
            0 if key in mapping else 1 if unique_value and value in values else None
        )
        if column is not None:
            raise _duplicate(
                path,
                line,
                row,
                columns=(column,),
                what=names[column],
                header=header,
                width=2,
            )
        if unique_value:
            values.add(value)
        if strings is not None:
            key, value = strings.setdefault(key, key), strings.setdefault(value, value)
        mapping[key] = value
    return mapping


def _load_name_list(path: Path) -> set[str]:
    names: set[str] = set()
    for line, row in _iter_rows(path, header=None, width=1):
        name = row[0]
        if name in names:
            raise _duplicate(
                path, line, row, columns=(0,), what="s2v1_name", header=None, width=1
            )
        _check_name(path, line, name, parse_v1_patch_name)
        names.add(name)
    return names


def _load_s1s2_mapping(path: Path) -> dict[str, str]:
    """The v1 ``s2v1_name,s1_name`` mapping; both names checked for their form."""
    mapping = _load_mapping(path, header=None, unique_value=True)
    for line, (s2v1, s1) in enumerate(mapping.items(), start=1):
        _check_name(path, line, s2v1, parse_v1_patch_name)
        _check_name(path, line, s1, parse_s1_name)
    return mapping


def _load_labels(path: Path, strings: dict[str, str]) -> dict[str, list[str]]:
    """Labels per patch id, in file order; a (patch_id, label) pair once."""
    labels: dict[str, list[str]] = {}
    header = ("patch_id", "label")
    for line, row in _iter_rows(path, header=header, width=2):
        pid, label = row
        have = labels.setdefault(strings.setdefault(pid, pid), [])
        if label in have:
            raise _duplicate(
                path,
                line,
                row,
                columns=(0, 1),
                what="(patch_id, label)",
                header=header,
                width=2,
            )
        have.append(strings.setdefault(label, label))
    return labels


def _check_name(path: Path, line: int, name: str, parse: Callable[[str], Any]) -> None:
    try:
        parse(name)
    except NamingError as exc:
        raise InputDataError(
            f"{path} line {line}: {exc}; is this the right v1 file for this config "
            "key (config/README.md, inputs)?"
        ) from exc


@dataclass(frozen=True, slots=True)
class _Loaded:
    """The seven inputs, validated: labels per patch, mappings, v1 lists."""

    labels: dict[str, list[str]]
    split: dict[str, str]
    s2v1: dict[str, str]
    country: dict[str, str]
    s1s2: dict[str, str]
    snow: set[str]
    cloud: set[str]


def build_metadata(inputs: FinalizeInputs) -> MetadataTables:
    """Load, validate and join the inputs into the two metadata tables."""
    loaded = _load_inputs(inputs)
    lists = check_list_coverage(inputs, loaded)
    columns, missing = _join(loaded)
    del loaded  # the columns hold what the tables need
    if missing:
        raise _join_gaps_error(inputs, missing)
    if not columns[0]:
        raise InputDataError(f"no labelled patches in {inputs.label_mapping}")
    table = pa.table(
        [
            pa.array(values, type=fld.type)
            for values, fld in zip(columns, METADATA_SCHEMA, strict=True)
        ],
        schema=METADATA_SCHEMA,
    )
    del columns
    flagged = pc.or_(table["contains_seasonal_snow"], table["contains_cloud_or_shadow"])
    return MetadataTables(
        clean=table.filter(pc.invert(flagged)),
        flagged=table.filter(flagged),
        lists=lists,
    )


def _load_inputs(inputs: FinalizeInputs) -> _Loaded:
    strings: dict[str, str] = {}
    labels = _load_labels(inputs.label_mapping, strings)
    s2v1 = _load_mapping(
        inputs.s2v1_mapping,
        header=("patch_id", "s2v1_name"),
        strings=strings,
        unique_value=True,
    )
    split = _load_mapping(
        inputs.split_mapping, header=("patch_id", "split"), strings=strings
    )
    for line, (pid, value) in enumerate(split.items(), start=2):
        if value not in SPLITS:
            raise InputDataError(
                f"{inputs.split_mapping} line {line}: split {value!r} of {pid} is "
                f"not one of {', '.join(SPLITS)}"
            )
    country = _load_mapping(
        inputs.country_mapping, header=("patch_id", "country"), strings=strings
    )
    del strings  # (its strings live on in the tables)
    return _Loaded(
        labels=labels,
        split=split,
        s2v1=s2v1,
        country=country,
        s1s2=_load_s1s2_mapping(inputs.s1s2_mapping),
        snow=_load_name_list(inputs.seasonal_snow_list),
        cloud=_load_name_list(inputs.cloud_shadow_list),
    )


def _v1_product(v1_name: str, s1_name: str) -> tuple[str, str]:
    """(v1 datatake part of the name, MGRS tile of its S1 partner)."""
    return v1_name.rsplit("_", 2)[0], parse_s1_name(s1_name).mgrs


def list_coverage(
    names: Iterable[str],
    *,
    run_v1: dict[str, str],
    s1s2: dict[str, str],
) -> ListCoverage:
    """Classify ``names`` against the run's v1 patches (``run_v1``: name → MGRS).

    Pure; see :class:`ListCoverage` for the classes.
    """
    run_products = {(v1.rsplit("_", 2)[0], mgrs) for v1, mgrs in run_v1.items()}
    matched = missed = elsewhere = unknown = total = 0
    for name in names:
        total += 1
        if name in run_v1:
            matched += 1
        elif name not in s1s2:
            unknown += 1
        elif _v1_product(name, s1s2[name]) in run_products:
            missed += 1
        else:
            elsewhere += 1
    return ListCoverage(total, matched, missed, elsewhere, unknown)


def check_list_coverage(
    inputs: FinalizeInputs, loaded: _Loaded
) -> dict[str, ListCoverage]:
    """Every v1 list must describe this run's patches; see docs/dataset.md.

    Error (naming the file): the run has v1 patches, but no name of the list
    is one of them, although some lie on the run's products (``missed``) or
    none is a v1 patch of the s1s2 mapping at all.  Warning: names that are
    no v1 patch of the s1s2 mapping (``unknown``).  Counted only (log and
    manifest): names on other products (a run of some products), and names on
    the run's products without a patch of it (v1 patches whose v2 patch is
    invalid: about 1.5 % of the snow list in the published dataset).
    """
    run_v1 = {
        v1: parse_patch_name(pid).tile_dir[-5:] for pid, v1 in loaded.s2v1.items()
    }
    lists = {
        "seasonal_snow_list": (inputs.seasonal_snow_list, loaded.snow),
        "cloud_shadow_list": (inputs.cloud_shadow_list, loaded.cloud),
        "s1s2_mapping": (inputs.s1s2_mapping, set(loaded.s1s2)),
    }
    result: dict[str, ListCoverage] = {}
    for key, (path, names) in lists.items():
        cover = list_coverage(names, run_v1=run_v1, s1s2=loaded.s1s2)
        result[key] = cover
        examples = sorted(n for n in names if n not in run_v1)[:3]
        if cover.matched == 0 and run_v1 and (cover.missed or not cover.elsewhere):
            raise InputDataError(
                f"{path} (inputs.{key}): none of its {cover.names} names is a v1 "
                f"patch of this run ({cover.missed} lie on the run's products, "
                f"{cover.unknown} are not in {inputs.s1s2_mapping}; e.g. "
                f"{examples}); the list does not describe these patches. Check "
                f"that inputs.{key} is the BigEarthNet v1 file (config/README.md)"
            )
        log = logger.warning if cover.unknown else logger.info
        log(
            "%s (inputs.%s): %d names, %d patches of this run, %d on the run's "
            "products but no patch of it, %d unknown v1 names (not in %s), %d on "
            "other products%s",
            path,
            key,
            cover.names,
            cover.matched,
            cover.missed,
            cover.unknown,
            inputs.s1s2_mapping.name,
            cover.elsewhere,
            f"; e.g. {examples}" if cover.unknown else "",
        )
    return result


def _join(loaded: _Loaded) -> tuple[list[list[Any]], dict[str, list[str]]]:
    """The columns of METADATA_SCHEMA, one value per labelled patch in byte
    order of patch_id, and the patches missing from each table."""
    missing: dict[str, list[str]] = {}
    columns: list[list[Any]] = [[] for _ in METADATA_SCHEMA]
    ids, labels, split, country, s1_name, s2v1, snow, cloud = columns
    for pid in sorted(loaded.labels, key=lambda s: s.encode("utf-8")):
        lacks = [
            what
            for what, table in (
                ("split", loaded.split),
                ("s2v1", loaded.s2v1),
                ("country", loaded.country),
            )
            if pid not in table
        ]
        s2v1_name = loaded.s2v1.get(pid)
        if s2v1_name is not None and s2v1_name not in loaded.s1s2:
            lacks.append("s1s2")
        for what in lacks:
            missing.setdefault(what, []).append(pid)
        if lacks or s2v1_name is None:
            continue
        ids.append(pid)
        labels.append(_sorted_in_place(loaded.labels[pid]))
        split.append(loaded.split[pid])
        country.append(loaded.country[pid])
        s1_name.append(loaded.s1s2[s2v1_name])
        s2v1.append(s2v1_name)
        snow.append(s2v1_name in loaded.snow)
        cloud.append(s2v1_name in loaded.cloud)
    return columns, missing


def _sorted_in_place(labels: list[str]) -> list[str]:
    """``labels`` sorted in byte order (UTF-8), the list itself (no copy)."""
    labels.sort(key=lambda s: s.encode("utf-8"))
    return labels


def _join_gaps_error(
    inputs: FinalizeInputs, missing: dict[str, list[str]]
) -> InputDataError:
    sources = {
        "split": inputs.split_mapping,
        "s2v1": inputs.s2v1_mapping,
        "country": inputs.country_mapping,
        "s1s2": inputs.s1s2_mapping,
    }
    details = "; ".join(
        f"{len(pids)} without an entry in {sources[what]} (first: {pids[:3]})"
        for what, pids in missing.items()
    )
    return InputDataError(
        f"{sum(map(len, missing.values()))} join gap(s) for labelled patches: "
        f"{details}. Every labelled patch needs a split, an s2v1 name, a country "
        "and an S1 name; regenerate the metadata CSVs or fix the v1 inputs"
    )


def write_metadata_parquet(table: pa.Table, path: Path) -> None:
    """Write with the fixed settings, through a temporary sibling."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table.cast(METADATA_SCHEMA), tmp, **PARQUET_OPTIONS)
    os.replace(tmp, path)


# --------------------------------------------------------------------- tree
def _index_tile_dirs(roots: Iterable[Path], what: str) -> dict[str, Path]:
    """tile_dir → the staging root that holds it."""
    index: dict[str, Path] = {}
    for root in sorted(Path(r) for r in roots):
        if not root.is_dir():
            raise InputDataError(f"{what} staging directory {root} does not exist")
        for child in sorted(root.iterdir()):
            if child.is_dir():
                if child.name in index:
                    raise InputDataError(
                        f"tile folder {child.name} is in both {index[child.name]} and "
                        f"{root}; each product must be exported once"
                    )
                index[child.name] = root
    return index


def finalize_dataset(
    inputs: FinalizeInputs,
    *,
    s2_roots: Sequence[Path],
    reference_map_roots: Sequence[Path],
    s1_root: Path,
    out_dir: Path,
    manifest_path: Path | None = None,
    progress: ProgressCallback | None = None,
) -> FinalizeResult:
    """Write the two parquets and the three trees of the published layout.

    The recipe: join the metadata → write both parquets into the staging
    folder → link the kept patches' files from the staging trees and copy
    their S1 pairs from ``s1_root`` → manifest.
    """
    tables = build_metadata(inputs)
    out_dir = Path(out_dir)
    s2_index = _index_tile_dirs(s2_roots, "S2 export")
    map_index = _index_tile_dirs(reference_map_roots, "reference-map")
    copier = FileCopier()
    with staged_directory(out_dir, "dataset directory") as staging:
        for table, name in (
            (tables.clean, METADATA_FILE),
            (tables.flagged, FLAGGED_METADATA_FILE),
        ):
            write_metadata_parquet(table, staging.path / name)
            make_read_only(staging.path / name)
        _assemble_trees(
            staging.path,
            _kept_patches(tables),
            s2_index=s2_index,
            map_index=map_index,
            s1_root=Path(s1_root),
            copier=copier,
            progress=progress,
        )
    exported = sum(
        1 for tile_dir, root in s2_index.items() for _ in (root / tile_dir).iterdir()
    )
    manifest = _manifest(tables, exported=exported, files=copier.counts)
    if manifest_path is not None:
        write_json_atomic(manifest_path, manifest, ensure_ascii=True)
    logger.info(
        "dataset %s: %d clean + %d flagged patches; files: %d hard-linked from "
        "the staging trees, %d reflinked, %d copied; %d exported patches not "
        "kept; algorithm version %d",
        out_dir,
        tables.clean.num_rows,
        tables.flagged.num_rows,
        copier.counts["hardlink"],
        copier.counts["reflink"],
        copier.counts["copy"],
        manifest["skipped"]["exported_not_in_metadata"],
        ALGORITHM_VERSION,
    )
    return FinalizeResult(out_dir=out_dir, manifest=manifest)


def _kept_patches(tables: MetadataTables) -> list[tuple[str, str]]:
    """Sorted (patch_id, s1_name) of both parquets: the patches of the trees."""
    return sorted(
        (pid, s1)
        for table in (tables.clean, tables.flagged)
        for pid, s1 in zip(
            table.column("patch_id").to_pylist(),
            table.column("s1_name").to_pylist(),
            strict=True,
        )
    )


def _assemble_trees(
    root: Path,
    keep: Sequence[tuple[str, str]],
    *,
    s2_index: dict[str, Path],
    map_index: dict[str, Path],
    s1_root: Path,
    copier: FileCopier,
    progress: ProgressCallback | None,
) -> None:
    """Put the files of each kept patch into the three trees under ``root``.

    Staging files (S2, maps) are hard-linked read-only; S1 input files copied.
    """
    problems: list[str] = []
    total = len(keep)
    for done, (pid, s1_name) in enumerate(keep, start=1):
        tile_dir = parse_patch_name(pid).tile_dir
        s2_root, map_root = s2_index.get(tile_dir), map_index.get(tile_dir)
        group = parse_s1_name(s1_name).group
        sources = (
            (
                S2_TREE,
                s2_root and s2_root / tile_dir / pid,
                tile_dir,
                pid,
                S2_SUFFIXES,
                copier.link,
            ),
            (
                MAPS_TREE,
                map_root and map_root / tile_dir / pid,
                tile_dir,
                pid,
                MAP_SUFFIXES,
                copier.link,
            ),
            (S1_TREE, s1_root / s1_name, group, s1_name, S1_SUFFIXES, copier.copy),
        )
        for tree, src_dir, dst_sub, leaf, suffixes, put in sources:
            if src_dir is None:
                problems.append(
                    f"{tree}: no staging folder for tile {tile_dir} ({pid})"
                )
                continue
            dst_dir = root / tree / dst_sub / leaf
            dst_dir.mkdir(parents=True, exist_ok=True)
            for file in (f"{leaf}{suffix}" for suffix in suffixes):
                try:
                    put(src_dir / file, dst_dir / file)
                except FileNotFoundError:
                    problems.append(f"{tree}: missing {src_dir / file}")
        if progress is not None and (done % 1000 == 0 or done == total):
            progress(done, total)
    if problems:
        shown = "\n  ".join(problems[:20])
        raise InputDataError(
            f"{len(problems)} file(s) of the kept patches are missing from the staging "
            f"trees or the S1 root {s1_root}:\n  {shown}\nRe-run the export rules or "
            "check inputs.s1_root (the extracted BigEarthNet-S1 v1.0 archive)"
        )


def _manifest(
    tables: MetadataTables, *, exported: int, files: dict[str, int]
) -> dict[str, Any]:
    both = pa.concat_tables([tables.clean, tables.flagged])
    patches = both.num_rows
    s1_groups = {parse_s1_name(n).group for n in both.column("s1_name").to_pylist()}
    tiles = {parse_patch_name(p).tile_dir for p in both.column("patch_id").to_pylist()}
    return {
        "algorithm_version": ALGORITHM_VERSION,
        "parquets": {
            METADATA_FILE: tables.clean.num_rows,
            FLAGGED_METADATA_FILE: tables.flagged.num_rows,
        },
        "trees": {
            S2_TREE: {
                "tiles": len(tiles),
                "patches": patches,
                "files": patches * len(BANDS),
            },
            MAPS_TREE: {"tiles": len(tiles), "patches": patches, "files": patches},
            S1_TREE: {
                "groups": len(s1_groups),
                "patches": patches,
                "files": patches * len(S1_POLARISATIONS),
            },
        },
        "split": dict(sorted(Counter(both.column("split").to_pylist()).items())),
        "country": dict(sorted(Counter(both.column("country").to_pylist()).items())),
        "flags": {
            "contains_seasonal_snow": sum(
                both.column("contains_seasonal_snow").to_pylist()
            ),
            "contains_cloud_or_shadow": sum(
                both.column("contains_cloud_or_shadow").to_pylist()
            ),
        },
        "skipped": {"exported_not_in_metadata": exported - patches},
        "input_lists": {k: v.to_json() for k, v in sorted(tables.lists.items())},
        # How the tree files were made: hard links into benpipe's staging
        # trees (read-only), reflinks or copies (S1 inputs; staging files
        # across filesystems). Never a link into an input.
        "files_by_mode": dict(sorted(files.items())),
    }
