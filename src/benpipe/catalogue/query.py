"""Query the patch catalogue: filters, counts, id lists (pyarrow only).

Spatial and temporal filters first prune whole row groups with the parquet
statistics of the ``bbox`` covering columns and ``datetime`` (the rows are
stored in Hilbert order, so a small area touches few row groups); the other
filters run as Arrow compute kernels over the few columns they need; spatial
filters end with an exact shapely test on the patch polygons.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from benpipe.catalogue.core import FRACTION_CLASSES, fraction_column, resolve_class
from benpipe.clc import BEN19_CLASSES
from benpipe.dataset.layout import SPLITS
from benpipe.errors import InputDataError
from benpipe.fileio import atomic_write_bytes, open_temp_sibling
from benpipe.names import BEN_COUNTRIES

SEASONS: tuple[str, ...] = ("spring", "summer", "fall", "winter")
#: Columns every query reads (the ids and what the summary counts).
_BASE_COLUMNS: tuple[str, ...] = ("id", "split", "country", "labels")


@dataclass(frozen=True, slots=True)
class Query:
    """Filters; every given one must hold (AND).  Empty tuples mean "any"."""

    bbox: tuple[float, float, float, float] | None = None
    intersects: Any = None  # a shapely geometry in lon/lat (EPSG:4326)
    start: datetime | None = None
    end: datetime | None = None
    seasons: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    tiles: tuple[str, ...] = ()
    labels_any: tuple[str, ...] = ()
    labels_all: tuple[str, ...] = ()
    min_fractions: tuple[tuple[str, float], ...] = ()
    no_snow_cloud: bool = False
    ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_values("--season", self.seasons, SEASONS)
        _check_values("--split", self.splits, SPLITS)
        _check_values("--country", self.countries, BEN_COUNTRIES)
        for name in (*self.labels_any, *self.labels_all):
            if name not in BEN19_CLASSES:
                raise InputDataError(
                    f"label {name!r} is not a BEN-19 class; expected one of "
                    f"{', '.join(BEN19_CLASSES)}"
                )
        for cls, value in self.min_fractions:
            if cls not in FRACTION_CLASSES:
                raise InputDataError(f"--min-fraction: unknown class {cls!r}")
            if not 0.0 <= value <= 1.0:
                raise InputDataError(
                    f"--min-fraction {cls}={value}: the fraction must be within 0..1"
                )
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
                raise InputDataError(
                    f"--bbox {self.bbox}: expected WEST,SOUTH,EAST,NORTH in degrees "
                    "with west <= east and south <= north"
                )
        if self.start and self.end and self.start > self.end:
            raise InputDataError(f"--start {self.start} is after --end {self.end}")

    @property
    def area(self) -> Any:
        """The spatial filter as one shapely geometry (or None)."""
        shapes = []
        if self.bbox is not None:
            shapes.append(shapely.box(*self.bbox))
        if self.intersects is not None:
            shapes.append(self.intersects)
        if not shapes:
            return None
        return shapes[0] if len(shapes) == 1 else shapely.intersection(*shapes)


def _check_values(option: str, values: Sequence[str], allowed: Sequence[str]) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InputDataError(
            f"{option}: {', '.join(map(repr, bad))} not allowed; expected one of "
            f"{', '.join(allowed)}"
        )


def parse_time(text: str, *, end: bool = False) -> datetime:
    """An ISO date or date-time in UTC; a bare ``--end`` date includes that day."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            value = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return value + timedelta(days=1, microseconds=-1) if end else value
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputDataError(
            f"{text!r} is not an ISO date (2017-06-01) or date-time "
            "(2017-06-01T10:00:00Z)"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_min_fraction(text: str) -> tuple[str, float]:
    """``CLASS=F`` (class name or slug) -> (class name, fraction)."""
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise InputDataError(f"--min-fraction {text!r}: expected CLASS=FRACTION")
    try:
        fraction = float(value)
    except ValueError as exc:
        raise InputDataError(
            f"--min-fraction {text!r}: {value!r} is no number"
        ) from exc
    return resolve_class(name), fraction


def read_area(path: Path) -> Any:
    """The union of the features of a GeoJSON/GPKG file, in lon/lat."""
    import geopandas as gpd

    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InputDataError(
            f"--intersects {path}: cannot read features: {exc}"
        ) from exc
    if frame.empty:
        raise InputDataError(f"--intersects {path}: the file holds no features")
    if frame.crs is None:
        raise InputDataError(
            f"--intersects {path}: the layer has no CRS; expected one (GeoJSON is "
            "lon/lat by definition, a GPKG layer declares its CRS)"
        )
    union = frame.to_crs(4326).geometry.union_all()
    if union.is_empty:
        raise InputDataError(f"--intersects {path}: the features are empty")
    return union


# ---------------------------------------------------------------- execution
def _column_index(meta: pq.FileMetaData) -> dict[str, int]:
    rg = meta.row_group(0)
    return {rg.column(j).path_in_schema: j for j in range(rg.num_columns)}


def _stat(meta: pq.FileMetaData, rg: int, col: int) -> tuple[Any, Any] | None:
    stats = meta.row_group(rg).column(col).statistics
    if stats is None or not stats.has_min_max:
        return None
    return stats.min, stats.max


def candidate_row_groups(pf: pq.ParquetFile, query: Query) -> list[int]:
    """Row groups whose statistics do not rule the query out."""
    meta = pf.metadata
    if meta.num_row_groups == 0:
        return []
    index = _column_index(meta)
    area = query.area
    keep = []
    for rg in range(meta.num_row_groups):
        if area is not None:
            west, south, east, north = shapely.bounds(area).tolist()
            xmin = _stat(meta, rg, index["bbox.xmin"])
            ymin = _stat(meta, rg, index["bbox.ymin"])
            xmax = _stat(meta, rg, index["bbox.xmax"])
            ymax = _stat(meta, rg, index["bbox.ymax"])
            if xmin and xmin[0] > east or ymin and ymin[0] > north:
                continue
            if xmax and xmax[1] < west or ymax and ymax[1] < south:
                continue
        if query.start is not None or query.end is not None:
            span = _stat(meta, rg, index["datetime"])
            if span is not None:
                low, high = (v if v.tzinfo else v.replace(tzinfo=UTC) for v in span)
                if query.start is not None and high < query.start:
                    continue
                if query.end is not None and low > query.end:
                    continue
        keep.append(rg)
    return keep


def _needed_columns(query: Query, extra: Sequence[str]) -> list[str]:
    cols = list(_BASE_COLUMNS)
    if query.area is not None:
        cols += ["bbox", "geometry"]
    if query.start is not None or query.end is not None:
        cols.append("datetime")
    if query.seasons:
        cols.append("season")
    if query.tiles:
        cols += ["tile", "collection"]
    if query.no_snow_cloud:
        cols += ["contains_seasonal_snow", "contains_cloud_or_shadow"]
    cols += [fraction_column(cls) for cls, _ in query.min_fractions]
    cols += list(extra)
    return list(dict.fromkeys(cols))


def _labels_mask(labels: pa.ChunkedArray, wanted: Sequence[str], *, every: bool) -> Any:
    flat = labels.combine_chunks()
    parents = pc.list_parent_indices(flat).to_numpy()
    hits = pc.is_in(pc.list_flatten(flat), value_set=pa.array(list(wanted))).to_numpy(
        zero_copy_only=False
    )
    counts = np.bincount(parents[hits], minlength=len(flat))
    return pa.array(counts >= len(set(wanted)) if every else counts > 0)


def filter_table(table: pa.Table, query: Query) -> pa.Table:
    """Rows of ``table`` matching every filter of ``query``."""
    mask = pa.array(np.ones(table.num_rows, dtype=bool))
    if query.ids is not None:
        mask = pc.and_(mask, pc.is_in(table["id"], value_set=pa.array(query.ids)))
    area = query.area
    if area is not None:
        west, south, east, north = shapely.bounds(area).tolist()
        bbox = table["bbox"]
        mask = pc.and_(
            mask,
            pc.and_(
                pc.and_(
                    pc.less_equal(pc.struct_field(bbox, "xmin"), east),
                    pc.greater_equal(pc.struct_field(bbox, "xmax"), west),
                ),
                pc.and_(
                    pc.less_equal(pc.struct_field(bbox, "ymin"), north),
                    pc.greater_equal(pc.struct_field(bbox, "ymax"), south),
                ),
            ),
        )
    if query.start is not None:
        mask = pc.and_(
            mask, pc.greater_equal(table["datetime"], pa.scalar(query.start))
        )
    if query.end is not None:
        mask = pc.and_(mask, pc.less_equal(table["datetime"], pa.scalar(query.end)))
    for column, values in (
        ("season", query.seasons),
        ("split", query.splits),
        ("country", query.countries),
    ):
        if values:
            mask = pc.and_(mask, pc.is_in(table[column], value_set=pa.array(values)))
    if query.tiles:
        wanted = pa.array([t.removeprefix("T") for t in query.tiles])
        by_tile = pc.or_(
            pc.is_in(table["tile"], value_set=wanted),
            pc.is_in(table["collection"], value_set=pa.array(query.tiles)),
        )
        mask = pc.and_(mask, by_tile)
    if query.labels_any:
        mask = pc.and_(
            mask, _labels_mask(table["labels"], query.labels_any, every=False)
        )
    if query.labels_all:
        mask = pc.and_(
            mask, _labels_mask(table["labels"], query.labels_all, every=True)
        )
    for cls, value in query.min_fractions:
        mask = pc.and_(mask, pc.greater_equal(table[fraction_column(cls)], value))
    if query.no_snow_cloud:
        mask = pc.and_(
            mask,
            pc.and_(
                pc.invert(table["contains_seasonal_snow"]),
                pc.invert(table["contains_cloud_or_shadow"]),
            ),
        )
    result = table.filter(mask)
    if area is not None and result.num_rows:
        shapes = shapely.from_wkb(result["geometry"].to_numpy(zero_copy_only=False))
        shapely.prepare(area)
        result = result.filter(pa.array(shapely.intersects(area, shapes)))
    return result


def run_query(
    catalogue: Path, query: Query, *, columns: Sequence[str] = ()
) -> pa.Table:
    """The matching rows (the query's columns plus ``columns``), in file order."""
    try:
        pf = pq.ParquetFile(catalogue)
    except (OSError, ValueError) as exc:
        raise InputDataError(
            f"cannot read the catalogue {catalogue}: {exc}; build it with "
            "`benpipe catalogue build DATASET_DIR`"
        ) from exc
    wanted = _needed_columns(query, columns)
    missing = [c for c in wanted if c not in pf.schema_arrow.names]
    if missing:
        raise InputDataError(
            f"{catalogue} lacks the column(s) {missing}; is it a benpipe catalogue "
            "(patches.parquet)?"
        )
    groups = candidate_row_groups(pf, query)
    if groups:
        table = pf.read_row_groups(groups, columns=wanted, use_threads=True)
    else:
        table = pf.schema_arrow.empty_table().select(wanted)
    return filter_table(table, query)


@dataclass(frozen=True, slots=True)
class QuerySummary:
    """Counts of a query result."""

    patches: int
    split: dict[str, int] = field(default_factory=dict)
    country: dict[str, int] = field(default_factory=dict)
    label: dict[str, int] = field(default_factory=dict)


def _value_counts(values: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    counts = pc.value_counts(values)
    return {
        str(v): int(n)
        for v, n in zip(
            counts.field("values").to_pylist(),
            counts.field("counts").to_pylist(),
            strict=True,
        )
    }


def summarize(table: pa.Table) -> QuerySummary:
    """Patches per split, country and class (a patch counts once per label)."""
    if table.num_rows == 0:
        return QuerySummary(patches=0)
    label_counts = _value_counts(pc.list_flatten(table["labels"]))
    return QuerySummary(
        patches=table.num_rows,
        split=dict(sorted(_value_counts(table["split"]).items())),
        country=dict(sorted(_value_counts(table["country"]).items())),
        label={c: label_counts[c] for c in BEN19_CLASSES if label_counts.get(c)},
    )


def write_ids(table: pa.Table, path: Path) -> None:
    """Write the matching patch ids, sorted: ``.parquet`` or CSV (header ``patch_id``)."""
    ids = pc.array_sort_indices(table["id"])
    ids = pc.take(table["id"], ids)
    if path.suffix == ".parquet":
        tmp, handle = open_temp_sibling(path)
        try:
            with handle:
                pq.write_table(pa.table({"patch_id": ids}), handle, compression="zstd")
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["patch_id"])
    writer.writerows([pid] for pid in ids.to_pylist())
    atomic_write_bytes(path, out.getvalue().encode("utf-8"))


def read_ids(path: Path) -> tuple[str, ...]:
    """Patch ids from a file written by :func:`write_ids` (CSV or parquet)."""
    try:
        if path.suffix == ".parquet":
            return tuple(
                pq.read_table(path, columns=["patch_id"])["patch_id"].to_pylist()
            )
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, KeyError, ValueError) as exc:
        raise InputDataError(f"cannot read patch ids from {path}: {exc}") from exc
    if not rows or rows[0] != ["patch_id"]:
        raise InputDataError(f"{path}: expected a CSV with the header 'patch_id'")
    return tuple(r[0] for r in rows[1:] if r)
