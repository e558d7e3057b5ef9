"""Ingest the static inputs into the run's schema: CORINE, countries, v1 footprints.

Each ingest replaces its table's contents in one transaction (``TRUNCATE`` +
``COPY``), so a rerun gives identical rows, records the sha256 of its source
in ``input_sources`` and returns/writes a receipt with row counts and that
sha256.  Ingests of one kind into one schema are serialised by an advisory
lock.  Steps that read an input name the sha256 of the ingest they depend on
(:func:`check_inputs`), so they never read an input they did not ingest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from benpipe.clc import CLC_TO_BEN19, NO_COVERAGE_CODE
from benpipe.db import sql
from benpipe.db.copy import copy_rows
from benpipe.db.lifecycle import DbSettings, connect
from benpipe.errors import DatabaseError, InputDataError, LabelCoverageError
from benpipe.fileio import sha256_file, write_json_atomic
from benpipe.grid import season_of
from benpipe.names import BEN_COUNTRIES

log = logging.getLogger(__name__)

#: 2: whole CLC polygons + subdivided prefilter; input_sources; run schemas.
ALGORITHM_VERSION = 2

CLC_EPSG = 3035
#: Max vertices per CLC polygon piece after ST_Subdivide.
SUBDIVIDE_MAX_VERTICES = 256
_V1_FILE_RE = re.compile(r"^bigearthnet_v1_spatial_(?P<epsg>\d{4,5})\.parquet$")


# ---------------------------------------------------------------- input sources
#: The input tables, by the ``kind`` that input_sources and receipts use.
INPUT_KINDS: tuple[str, ...] = ("clc", "countries", "v1_footprints")


def _lock_input(conn: Any, settings: DbSettings, kind: str) -> None:
    """Serialise ingests of ``kind`` into the run's schema (until commit)."""
    conn.execute(sql.INGEST_LOCK, (f"benpipe ingest {settings.schema}.{kind}",))


def _record_input(
    conn: Any,
    kind: str,
    *,
    sha256: str,
    source: str,
    rows: int,
    detail: Mapping[str, Any],
) -> None:
    conn.execute(
        sql.RECORD_INPUT,
        (kind, sha256, source, rows, json.dumps(dict(detail), sort_keys=True)),
    )


def _replace_rows(
    settings: DbSettings,
    kind: str,
    rows: Iterable[Sequence[Any]],
    *,
    statements: tuple[str, str, str],
    sha256: str,
    source: str,
    detail: Mapping[str, Any],
) -> int:
    """Replace an input table's rows with ``rows`` and record the input.

    ``statements`` are the table's TRUNCATE, COPY and ANALYZE.  Lock, TRUNCATE,
    COPY and the input_sources row commit as one transaction; ANALYZE follows
    outside it.  Returns the number of rows copied.
    """
    truncate, copy, analyze = statements
    with connect(settings) as conn, conn.transaction():
        _lock_input(conn, settings, kind)
        conn.execute(truncate)
        count = copy_rows(conn, copy, rows)
        _record_input(
            conn, kind, sha256=sha256, source=source, rows=count, detail=detail
        )
    with connect(settings, autocommit=True) as conn:
        conn.execute(analyze)
    return count


def folder_sha256(files: Mapping[str, str]) -> str:
    """One sha256 for a folder input: of its ``name<TAB>sha256`` lines, sorted."""
    lines = "".join(f"{name}\t{files[name]}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def ingested_sha256(receipt: Path) -> str:
    """The sha256 an ingest receipt records (what its table holds)."""
    try:
        return str(json.loads(receipt.read_text(encoding="utf-8"))["sha256"])
    except (OSError, ValueError, KeyError) as exc:
        raise DatabaseError(
            f"ingest receipt {receipt} cannot be read or has no sha256 ({exc}); "
            "delete it and rerun, so that its ingest runs again"
        ) from exc


def check_inputs(
    conn: Any, settings: DbSettings, expected: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Check that the run's input tables hold what its ingests loaded.

    ``expected`` maps a kind (:data:`INPUT_KINDS`) to the sha256 of its
    ingest's receipt.  The rows are locked (``FOR SHARE``) until the caller's
    transaction ends, so no ingest can replace the input while it is read.
    Returns {kind: {sha256, source, rows}}; DatabaseError names the table, the
    two hashes and what to rerun.
    """
    found: dict[str, dict[str, Any]] = {}
    for kind in sorted(expected):
        row = conn.execute(sql.INPUT_SOURCE_FOR_SHARE, (kind,)).fetchone()
        if row is None:
            raise DatabaseError(
                f"{settings.redacted_schema_target()} holds no {kind} input: this "
                f"run's receipt says it was loaded (sha256 {expected[kind]}), so the "
                "schema was emptied or replaced since; delete "
                f"results/db/receipts/{kind}.json and rerun, so that its ingest "
                "loads it again"
            )
        sha256, source, rows = str(row[0]), str(row[1]), int(row[2])
        if sha256 != expected[kind]:
            raise DatabaseError(
                f"{settings.redacted_schema_target()} holds the {kind} input "
                f"{source} (sha256 {sha256}), but this run ingested sha256 "
                f"{expected[kind]}: another run or a manual ingest replaced it. "
                "Give each run its own database.schema (null = one per working "
                f"directory), then delete results/db/receipts/{kind}.json and rerun"
            )
        found[kind] = {"sha256": sha256, "source": source, "rows": rows}
    return found


# ---------------------------------------------------------------- helpers
def _read_vector(
    path: Path, *, layer: str | None, what: str, error: type[Exception]
) -> Any:
    if not path.is_file():
        raise error(
            f"{what} {path} does not exist; check the inputs section of the config"
        )
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        raise error(
            f"{what} {path} cannot be opened as a vector dataset ({exc}); is it a "
            "complete, uncorrupted file of a supported format (GeoPackage, GeoJSON)?"
        ) from exc
    if layer is not None and layer not in layers:
        raise error(
            f"{what} {path} has no layer {layer!r}; it has {', '.join(layers) or 'none'}; "
            "set inputs.clc_layer to the right layer name"
        )
    try:
        return pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:
        raise error(f"{what} {path}: reading layer {layer!r} failed ({exc})") from exc


def _epsg_of(frame: Any) -> int | None:
    if frame.crs is None:
        return None
    return CRS.from_user_input(frame.crs).to_epsg()


# ---------------------------------------------------------------- CLC
def read_clc(path: Path, *, layer: str) -> Any:
    """Read and validate the CLC GeoPackage layer (EPSG:3035, ``Code_18``)."""
    frame = _read_vector(
        path, layer=layer, what="CLC GeoPackage", error=LabelCoverageError
    )
    columns = {str(c).lower(): str(c) for c in frame.columns}
    if "code_18" not in columns:
        raise LabelCoverageError(
            f"CLC GeoPackage {path}, layer {layer}: column Code_18 is missing; found "
            f"{', '.join(sorted(map(str, frame.columns)))}"
        )
    if len(frame) == 0:
        raise LabelCoverageError(
            f"CLC GeoPackage {path}, layer {layer} has no features: an empty or "
            "truncated export. Download the CLC 2018 vector GeoPackage "
            "(U2018_CLC2018_V2020_20u1.gpkg, about 2.4 M polygons) again and "
            "check its sha256"
        )
    epsg = _epsg_of(frame)
    if epsg != CLC_EPSG:
        raise LabelCoverageError(
            f"CLC GeoPackage {path}, layer {layer}: CRS is "
            f"{'EPSG:' + str(epsg) if epsg else frame.crs}, expected EPSG:3035 "
            "(the CLC 2018 vector release)"
        )
    raw = frame[columns["code_18"]].astype(str).str.strip()
    codes = pd.to_numeric(raw, errors="coerce")
    bad = ~codes.isin(list(CLC_TO_BEN19))
    if bad.any():
        examples = sorted(set(raw[bad].tolist()))[:10]
        raise LabelCoverageError(
            f"CLC GeoPackage {path}, layer {layer}: {int(bad.sum())} features have a "
            f"Code_18 outside the 44 CLC codes + 999, e.g. {examples}"
        )
    if (codes == NO_COVERAGE_CODE).all():
        raise LabelCoverageError(
            f"CLC GeoPackage {path}, layer {layer}: all {len(frame)} features have "
            f"Code_18 {NO_COVERAGE_CODE} (NODATA), so no patch could get a label; "
            "this is not the CLC 2018 land-cover layer. Use "
            "U2018_CLC2018_V2020_20u1.gpkg"
        )
    out = pd.DataFrame(
        {
            "clc_id": (
                frame[columns["id"]].astype(str)
                if "id" in columns
                else pd.Series(np.arange(1, len(frame) + 1), index=frame.index).astype(
                    str
                )
            ),
            "code_18": codes.astype("int16"),
            "remark": frame[columns["remark"]] if "remark" in columns else None,
            "area_ha": frame[columns["area_ha"]] if "area_ha" in columns else None,
        }
    )
    geoms = frame.geometry.values
    if pd.isna(np.asarray(geoms, dtype=object)).any():
        raise LabelCoverageError(
            f"CLC GeoPackage {path}: some features have no geometry"
        )
    out["wkb"] = shapely.to_wkb(np.asarray(geoms, dtype=object), hex=True)
    if out["clc_id"].duplicated().any():
        dup = out["clc_id"][out["clc_id"].duplicated()].iloc[0]
        raise LabelCoverageError(f"CLC GeoPackage {path}: duplicate ID {dup!r}")
    return out


def ingest_clc(
    settings: DbSettings, path: Path, *, layer: str, receipt: Path | None = None
) -> dict[str, Any]:
    """Replace the CLC tables: whole dumped polygons and their subdivided pieces."""
    frame = read_clc(path, layer=layer)
    sha256 = sha256_file(path)
    log.info("CLC %s: %d features read, loading", path, len(frame))
    rows = (
        (
            r.clc_id,
            int(r.code_18),
            None if pd.isna(r.remark) else str(r.remark),
            None if pd.isna(r.area_ha) else float(r.area_ha),
            r.wkb,
        )
        for r in frame.itertuples(index=False)
    )
    with connect(settings) as conn, conn.transaction():
        _lock_input(conn, settings, "clc")
        conn.execute(sql.CREATE_CLC_STAGING)
        copy_rows(conn, sql.COPY_CLC_STAGING, rows)
        conn.execute(sql.TRUNCATE_CLC)
        polygons = conn.execute(sql.INSERT_CLC_POLYGONS).rowcount
        pieces = conn.execute(
            sql.INSERT_CLC_SUBDIVIDED, (SUBDIVIDE_MAX_VERTICES,)
        ).rowcount
        _record_input(
            conn,
            "clc",
            sha256=sha256,
            source=str(path),
            rows=polygons,
            detail={"layer": layer, "features": len(frame), "pieces": pieces},
        )
    with connect(settings, autocommit=True) as conn:
        for statement in sql.ANALYZE_CLC:
            conn.execute(statement)
    info = {
        "table": "clc_polygons",
        "schema": settings.schema,
        "source": str(path),
        "sha256": sha256,
        "layer": layer,
        "features": len(frame),
        "rows": polygons,
        "subdivided_pieces": pieces,
        "algorithm_version": ALGORITHM_VERSION,
    }
    log.info(
        "CLC loaded: %d features -> %d polygons (%d subdivided pieces)",
        len(frame),
        polygons,
        pieces,
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info


# ---------------------------------------------------------------- countries
def ingest_countries(
    settings: DbSettings, path: Path, *, receipt: Path | None = None
) -> dict[str, Any]:
    """Replace ``countries`` with the 10 BEN countries (by NAME_LONG)."""
    frame = _read_vector(path, layer=None, what="countries file", error=InputDataError)
    columns = {str(c).lower(): str(c) for c in frame.columns}
    if "name_long" not in columns:
        raise InputDataError(
            f"countries file {path} has no NAME_LONG/name_long column; use the Natural "
            "Earth admin-0 countries"
        )
    epsg = _epsg_of(frame)
    if epsg is None:
        raise InputDataError(f"countries file {path} has no CRS")
    if epsg != 4326:
        frame = frame.to_crs(4326)
    names = frame[columns["name_long"]].astype(str)
    chosen = frame[names.isin(BEN_COUNTRIES)].copy()
    chosen["name"] = names[names.isin(BEN_COUNTRIES)]
    missing = sorted(set(BEN_COUNTRIES) - set(chosen["name"]))
    if len(chosen) == 0:
        raise InputDataError(
            f"countries file {path} contains none of the BEN countries {BEN_COUNTRIES}"
        )
    if missing:
        log.warning("countries file %s lacks %s", path, ", ".join(missing))
    merged = chosen.dissolve(by="name").sort_index()
    geoms = shapely.force_2d(np.asarray(merged.geometry.values, dtype=object))
    multi = [
        g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geoms
    ]
    ewkb = shapely.to_wkb(
        shapely.set_srid(np.asarray(multi, dtype=object), 4326),
        hex=True,
        include_srid=True,
    )
    rows = [(str(name), g) for name, g in zip(merged.index, ewkb, strict=True)]
    sha256 = sha256_file(path)
    count = _replace_rows(
        settings,
        "countries",
        rows,
        statements=(sql.TRUNCATE_COUNTRIES, sql.COPY_COUNTRIES, sql.ANALYZE_COUNTRIES),
        sha256=sha256,
        source=str(path),
        detail={"missing": missing},
    )
    info = {
        "table": "countries",
        "schema": settings.schema,
        "source": str(path),
        "sha256": sha256,
        "rows": count,
        "countries": sorted(str(n) for n in merged.index),
        "missing": missing,
        "algorithm_version": ALGORITHM_VERSION,
    }
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info


# ---------------------------------------------------------------- v1 footprints
def _as_polygons(geoms: np.ndarray, path: Path) -> np.ndarray:
    """Single-part MultiPolygons become Polygons; anything else is refused."""
    types = shapely.get_type_id(geoms)
    multi = types == 6
    if multi.any():
        parts = shapely.get_num_geometries(geoms[multi])
        if (parts != 1).any():
            raise InputDataError(
                f"v1 footprints {path}: {int((parts != 1).sum())} footprints are "
                "multi-part; expected one 1200 m square per patch"
            )
        geoms = geoms.copy()
        geoms[multi] = shapely.get_geometry(geoms[multi], 0)
        types = shapely.get_type_id(geoms)
    if (types != 3).any():
        raise InputDataError(
            f"v1 footprints {path}: {int((types != 3).sum())} geometries are not polygons"
        )
    return geoms


def ingest_v1_footprints(
    settings: DbSettings,
    folder: Path,
    *,
    reference_season_quirk: bool = True,
    receipt: Path | None = None,
) -> dict[str, Any]:
    """Replace ``v1_footprints`` with every ``bigearthnet_v1_spatial_<EPSG>.parquet``."""
    import geopandas as gpd

    files = sorted(p for p in folder.glob("*.parquet") if _V1_FILE_RE.match(p.name))
    if not files:
        raise InputDataError(
            f"no bigearthnet_v1_spatial_<EPSG>.parquet in {folder}; set "
            "inputs.v1_metadata_dir to the folder of the v1 footprints"
        )
    rows: list[tuple[Any, ...]] = []
    sources: dict[str, dict[str, Any]] = {}
    for path in files:
        epsg = int(_V1_FILE_RE.match(path.name)["epsg"])  # type: ignore[index]
        try:
            frame = gpd.read_parquet(path)
        except Exception as exc:
            raise InputDataError(
                f"v1 footprints {path} cannot be read ({exc})"
            ) from exc
        for column in ("patch_name", "sensing_time"):
            if column not in frame.columns:
                raise InputDataError(f"v1 footprints {path} lack column {column!r}")
        found = _epsg_of(frame)
        if found != epsg:
            raise InputDataError(
                f"v1 footprints {path} have CRS EPSG:{found}, expected EPSG:{epsg} "
                "from the file name"
            )
        times = pd.to_datetime(frame["sensing_time"], utc=True)
        geoms = _as_polygons(np.asarray(frame.geometry.values, dtype=object), path)
        geoms = shapely.set_srid(geoms, epsg)
        wkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
        for name, ts, geom in zip(frame["patch_name"], times, wkb, strict=True):
            when = ts.to_pydatetime()
            rows.append(
                (
                    str(name),
                    epsg,
                    when,
                    season_of(when, reference_quirk=reference_season_quirk),
                    geom,
                )
            )
        sources[path.name] = {"rows": len(frame), "sha256": sha256_file(path)}
    rows.sort(key=lambda r: r[0])
    sha256 = folder_sha256({name: s["sha256"] for name, s in sources.items()})
    count = _replace_rows(
        settings,
        "v1_footprints",
        rows,
        statements=(
            sql.TRUNCATE_V1_FOOTPRINTS,
            sql.COPY_V1_FOOTPRINTS,
            sql.ANALYZE_V1_FOOTPRINTS,
        ),
        sha256=sha256,
        source=str(folder),
        detail={
            "files": sources,
            "reference_season_quirk": reference_season_quirk,
        },
    )
    info = {
        "table": "v1_footprints",
        "schema": settings.schema,
        "source": str(folder),
        "sha256": sha256,
        "files": sources,
        "rows": count,
        "reference_season_quirk": reference_season_quirk,
        "algorithm_version": ALGORITHM_VERSION,
    }
    log.info("v1 footprints loaded: %d rows from %d files", count, len(files))
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info
