"""Cross-product steps: v1 alignment, country, overlaps, and the metadata CSVs.

``align_v1`` (one job after every grid and the v1 ingest) replaces
``patch_alignment``, ``patch_country`` and ``patch_overlaps`` in one
transaction.  ``export_metadata_tables`` writes the four reference CSVs.

Rules (docs/labelling.md):

* **alignment**: a patch and a v1 footprint align when they are the same
  1200 m square (``ST_Equals``, same SRID, GiST ``&&`` prefilter) and have the
  same season.  Names of v1 patches are never parsed for times.  If several v1
  footprints match (not expected), the byte-smallest name wins.
* **country**: the nearest of the BEN countries, by distance in the tile's UTM
  (0 inside).  ``country_rule`` breaks zero-distance ties (a patch on a
  border): ``reference`` (default) takes the first name in byte order, as the
  published dataset does; ``largest_share`` the country with the larger
  intersection area, then the name.
* **overlaps**: same season, different product, and
  area(p1 ∩ p2) / (area(p1) + area(p2)) > 0.5 × ``overlap_threshold``, in
  EPSG:3035 (§5.2 D4).  Stored in both directions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benpipe.dataset import sql
from benpipe.db.ingest import check_inputs
from benpipe.db.lifecycle import DbSettings, connect
from benpipe.errors import ConfigError
from benpipe.fileio import write_csv_atomic, write_json_atomic

log = logging.getLogger(__name__)

#: 2: country rule (patching.country_rule); same rows otherwise.
ALGORITHM_VERSION = 2


def align_v1(
    settings: DbSettings,
    *,
    overlap_threshold: float = 0.01,
    country_rule: str = "reference",
    inputs: Mapping[str, str] | None = None,
    receipt: Path | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Replace alignment, country and overlap tables from all grids in the DB.

    ``country_rule`` is one of :data:`benpipe.dataset.sql.COUNTRY_RULES`.
    ``inputs`` ({"v1_footprints": sha256, "countries": sha256}, from the
    run's ingest receipts) must be what the database holds (DatabaseError
    otherwise); the receipt records the inputs used.

    Each step is logged with its duration; ``timings`` (if given) receives
    ``{step: seconds}`` (bench/bench_align.py).
    """
    if country_rule not in sql.COUNTRY_RULES:
        raise ConfigError(
            f"patching.country_rule is {country_rule!r}; expected one of "
            f"{', '.join(sql.COUNTRY_RULES)}"
        )
    steps = {} if timings is None else timings
    foreign_keys = sql.cross_product_foreign_keys()
    with connect(settings) as conn, conn.transaction():
        used = check_inputs(conn, settings, inputs or {})
        conn.execute(sql.TRUNCATE_CROSS_PRODUCT_TABLES)
        for drop, _ in foreign_keys:
            conn.execute(drop)
        # The grids were bulk-loaded product by product and never analysed:
        # without statistics the planner joins 1 M patches by (epsg, season)
        # instead of by the GiST index (30 s instead of 0.7 s for one tile).
        _timed(conn, steps, "analyze", sql.ANALYZE_PATCHES)
        _timed(conn, steps, "alignment", sql.ALIGN_V1)
        for statement in (
            sql.CREATE_COUNTRIES_UTM,
            sql.INDEX_COUNTRIES_UTM,
            sql.ANALYZE_COUNTRIES_UTM,
            sql.CREATE_COUNTRY_CANDIDATES,
            sql.INDEX_COUNTRY_CANDIDATES,
            sql.ANALYZE_COUNTRY_CANDIDATES,
        ):
            conn.execute(statement)
        start = time.monotonic()
        _touching_countries(conn, country_rule)
        steps["country"] = time.monotonic() - start
        log.info("align_v1: country done in %.1f s", steps["country"])
        _timed(conn, steps, "country_nearest", sql.COUNTRY_NEAREST)
        conn.execute(sql.CREATE_OVERLAP_ZONES)
        _timed(conn, steps, "overlaps", sql.OVERLAPS, {"threshold": overlap_threshold})
        start = time.monotonic()
        for _, add in foreign_keys:
            conn.execute(add)
        steps["foreign_keys"] = time.monotonic() - start
        stats = conn.execute(sql.ALIGN_V1_STATS).fetchone()
    info: dict[str, Any] = dict(
        zip(sql.ALIGN_V1_STATS_KEYS, (int(v) for v in stats or ()), strict=True)
    )
    if info.get("countries", 0) and info["with_country"] != info["patches"]:
        log.warning("%d patches got no country", info["patches"] - info["with_country"])
    info.update(
        overlap_threshold=overlap_threshold,
        country_rule=country_rule,
        inputs=used,
        schema=settings.schema,
        tables=list(sql.CROSS_PRODUCT_TABLES),
        algorithm_version=ALGORITHM_VERSION,
    )
    log.info(
        "alignment: %d of %d valid patches aligned with v1; %d overlap pairs",
        info["valid_aligned"],
        info["valid"],
        info["overlap_pairs"],
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info


def _touching_countries(conn: sql.Connection, rule: str) -> None:
    """Country of every patch that touches a BEN country (distance 0)."""
    if rule == "largest_share":
        conn.execute(sql.COUNTRY_LARGEST_SHARE)
        return
    conn.execute(sql.CREATE_COUNTRY_TOUCHING)
    conn.execute(sql.COUNTRY_ONE_TOUCHED)
    zones = [int(r[0]) for r in conn.execute(sql.SELECT_COUNTRY_TIE_ZONES)]
    for epsg in zones:
        conn.execute(sql.CREATE_COUNTRIES_KNN, {"epsg": epsg})
        conn.execute(sql.INDEX_COUNTRIES_KNN)
        conn.execute(sql.FORCE_INDEX_SCAN)
        conn.execute(sql.COUNTRY_TIES_KNN, {"epsg": epsg})
        conn.execute(sql.ALLOW_SEQ_SCAN)
        conn.execute(sql.DROP_COUNTRIES_KNN)


def _timed(
    conn: sql.Connection,
    steps: dict[str, float],
    name: str,
    statement: str,
    params: Mapping[str, Any] | None = None,
) -> None:
    start = time.monotonic()
    conn.execute(statement, params)
    steps[name] = time.monotonic() - start
    log.info("align_v1: %s done in %.1f s", name, steps[name])


def export_metadata_tables(
    settings: DbSettings, outputs: Path | Mapping[str, Path]
) -> dict[str, int]:
    """Write the four metadata CSVs; return their row counts.

    ``outputs`` is a folder (files get their reference names) or a mapping
    from each reference file name in :data:`benpipe.dataset.sql.METADATA_TABLES`
    to its path.  Rows are sorted by patch_id, then the second column, in byte
    order, as the reference's text sort.
    """
    if isinstance(outputs, Path):
        targets = {name: outputs / name for name in sql.METADATA_TABLES}
    else:
        targets = dict(outputs)
        if set(targets) != set(sql.METADATA_TABLES):
            raise ValueError(f"outputs must name exactly {sorted(sql.METADATA_TABLES)}")
    counts: dict[str, int] = {}
    with connect(settings) as conn:
        for name, (header, query) in sql.METADATA_TABLES.items():
            rows = [tuple(r) for r in conn.execute(query).fetchall()]
            write_csv_atomic(targets[name], header, rows)
            counts[name] = len(rows)
            log.info("%s: %d rows", name, len(rows))
    return counts
