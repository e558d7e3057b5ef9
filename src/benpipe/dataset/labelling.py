"""CORINE labelling of one product: burn, reference maps, class counts, labels.

Strategy (docs/labelling.md): PostGIS returns the CLC polygons that intersect
the tile, transformed to the tile's UTM; they are burnt once onto the tile's
10 m grid with GDAL's pixel-centre rule (``all_touched=False``) in a fixed
order, sorted by (CLC code, CLC id, part) so that on overlaps the polygon that
sorts **last** wins.  Pixels no polygon covers become 999.  The 120x120 windows
of the valid patches are the reference maps; pixel counts per code give the
labels (a BEN-19 class with >= 1 pixel, UNLABELED excluded) and the unlabeled
fraction (kept iff strictly below ``unlabeled_max_fraction``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from benpipe.dataset.labels import (
    ClcShape,
    PatchLabels,
    burn_clc,
    counts_by_code,
    labels_from_counts,
    reference_map,
    window_counts,
)
from benpipe.errors import DatabaseError
from benpipe.geotiff import write_geotiff
from benpipe.grid import patch_corner
from benpipe.log import Progress

log = logging.getLogger(__name__)

ALGORITHM_VERSION = 1


def write_reference_map(
    path: Path,
    data: np.ndarray,
    *,
    epsg: int,
    left: float,
    top: float,
    res_m: float = 10,
) -> None:
    """Write one reference map GeoTIFF (UInt16, DEFLATE + predictor 2, nodata 0).

    Uses :mod:`benpipe.geotiff` (fixed layout, deterministic bytes): GDAL's
    per-file overhead would dominate the labelling of a product otherwise.
    """
    write_geotiff(path, data, epsg=epsg, left=left, top=top, res_m=res_m, nodata=0)


# ---------------------------------------------------------------- DB side
_CLC_QUERY = """
WITH tile AS (
    SELECT ST_Buffer(
        ST_Transform(ST_Segmentize(ST_MakeEnvelope(%(left)s, %(bottom)s, %(right)s,
                                                   %(top)s, %(epsg)s), 1000), 3035),
        100) AS g
)
SELECT c.code_18, c.clc_id, c.part, ST_AsBinary(ST_Transform(c.geom, %(epsg)s))
FROM clc_polygons c, tile
WHERE ST_Intersects(c.geom, tile.g)
ORDER BY c.code_18, c.clc_id COLLATE "C", c.part
"""


def query_clc_shapes(
    conn: Any, *, epsg: int, left: float, bottom: float, right: float, top: float
) -> list[ClcShape]:
    """CLC polygons intersecting a UTM box, transformed to its EPSG."""
    import shapely

    rows = conn.execute(
        _CLC_QUERY,
        {"left": left, "bottom": bottom, "right": right, "top": top, "epsg": epsg},
    ).fetchall()
    if not rows:
        return []
    geoms = shapely.from_wkb([bytes(r[3]) for r in rows])
    return [
        ClcShape(code_18=int(r[0]), clc_id=str(r[1]), part=int(r[2]), geometry=g)
        for r, g in zip(rows, geoms, strict=True)
    ]


def _copy(conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def label_patches(
    settings: Any,
    product_id: str,
    *,
    out_dir: Path,
    unlabeled_max_fraction: float = 0.25,
    patch_side_m: float = 1200,
    res_m: float = 10,
    receipt: Path | None = None,
) -> dict[str, Any]:
    """Burn CLC for one product, write its reference maps and store its labels.

    ``out_dir`` (``results/export/reference_maps/<product>``) receives
    ``<tile_dir>/<patch>/<patch>_reference_map.tif`` for every valid patch
    with CLC coverage; it is built in a temporary folder and renamed into
    place.  DB rows of the product are replaced in one transaction.
    """
    from benpipe.db.lifecycle import connect
    from benpipe.fileio import write_json_atomic

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT epsg, ulx, uly, tile_side_m, fails_quality, tile_dir FROM products"
            " WHERE product_id = %s",
            (product_id,),
        ).fetchone()
        if row is None:
            raise DatabaseError(
                f"product {product_id} has no patch grid in the database; run the "
                "build_patch_grid rule for it first"
            )
        epsg, ulx, uly, tile_side_m, fails_quality, tile_dir = row
        clc_rows = conn.execute("SELECT count(*) FROM clc_polygons").fetchone()
        if not clc_rows or not clc_rows[0]:
            raise DatabaseError(
                "table clc_polygons is empty: the CORINE data is not in this database "
                "(a fresh cluster?); delete results/db/receipts/clc.json and rerun so "
                "that ingest_clc loads it"
            )
        patches = conn.execute(
            'SELECT patch_id, col, "row" FROM patches WHERE product_id = %s AND valid'
            ' ORDER BY "row", col',
            (product_id,),
        ).fetchall()
        n = int(tile_side_m // patch_side_m)
        window_px = int(round(patch_side_m / res_m))
        extent_m = n * patch_side_m
        shapes = query_clc_shapes(
            conn,
            epsg=epsg,
            left=ulx,
            bottom=uly - extent_m,
            right=ulx + extent_m,
            top=uly,
        )
    timings["query_s"] = time.monotonic() - t0
    has_clc = bool(shapes)
    records: list[tuple[str, PatchLabels, bool]] = []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.parent.glob(f".{out_dir.name}.*"):
        log.info("removing %s left by an interrupted run", stale)
        shutil.rmtree(stale, ignore_errors=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if not has_clc:
            log.warning(
                "%s: no CLC polygon intersects the tile; the product gets no reference "
                "maps and no labels",
                product_id,
            )
        else:
            t1 = time.monotonic()
            transform = Affine(res_m, 0.0, ulx, 0.0, -res_m, uly)
            burned = burn_clc(
                shapes, transform=transform, height=n * window_px, width=n * window_px
            )
            timings["burn_s"] = time.monotonic() - t1
            t1 = time.monotonic()
            counts = window_counts(burned, n=n, window_px=window_px)
            timings["count_s"] = time.monotonic() - t1
            t1 = time.monotonic()
            progress = Progress(
                f"{product_id}: reference maps", total=len(patches), logger=log
            )
            for done, (patch_id, col, prow) in enumerate(patches, start=1):
                vector = counts[prow * n + col]
                covered = int(vector[1:].sum()) > 0
                result = labels_from_counts(
                    counts_by_code(vector) if covered else {},
                    unlabeled_max_fraction=unlabeled_max_fraction,
                )
                if fails_quality:
                    result = PatchLabels(
                        counts=result.counts,
                        unlabeled_fraction=result.unlabeled_fraction,
                        kept=False,
                    )
                if covered:
                    folder = tmp_dir / tile_dir / patch_id
                    folder.mkdir(parents=True, exist_ok=True)
                    window = burned[
                        prow * window_px : (prow + 1) * window_px,
                        col * window_px : (col + 1) * window_px,
                    ]
                    left, top = patch_corner(
                        ulx, uly, col=col, row=prow, side_m=patch_side_m
                    )
                    write_reference_map(
                        folder / f"{patch_id}_reference_map.tif",
                        reference_map(window),
                        epsg=epsg,
                        left=left,
                        top=top,
                        res_m=res_m,
                    )
                records.append((patch_id, result, covered))
                progress(done, len(patches))
            progress.close()
            timings["maps_s"] = time.monotonic() - t1
        t1 = time.monotonic()
        _store(
            settings,
            product_id,
            records,
            has_clc=has_clc,
            n_shapes=len(shapes),
            fails_quality=bool(fails_quality),
        )
        timings["db_s"] = time.monotonic() - t1
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp_dir.chmod(0o755)
        os.replace(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    maps = sum(1 for _, _, covered in records if covered)
    kept = sum(1 for _, r, _ in records if r.kept)
    info: dict[str, Any] = {
        "product": product_id,
        "has_clc": has_clc,
        "clc_polygons": len(shapes),
        "fails_quality": bool(fails_quality),
        "valid_patches": len(patches),
        "reference_maps": maps,
        "kept": kept,
        "label_rows": sum(len(r.labels) for _, r, _ in records),
        "unlabeled_max_fraction": unlabeled_max_fraction,
        "tables": [
            "patch_labelling",
            "patch_class_counts",
            "patch_labels",
            "product_labelling",
        ],
        "algorithm_version": ALGORITHM_VERSION,
    }
    log.info(
        "%s: %d CLC polygons, %d valid patches, %d maps, %d kept (%s)",
        product_id,
        len(shapes),
        len(patches),
        maps,
        kept,
        ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return {**info, "timings_s": timings}


def _store(
    settings: Any,
    product_id: str,
    records: Sequence[tuple[str, PatchLabels, bool]],
    *,
    has_clc: bool,
    n_shapes: int,
    fails_quality: bool,
) -> None:
    from benpipe.db.lifecycle import connect

    with connect(settings) as conn, conn.transaction():
        for table in ("patch_labels", "patch_class_counts", "patch_labelling"):
            conn.execute(
                f"DELETE FROM {table} WHERE patch_id IN"  # noqa: S608 (fixed names)
                " (SELECT patch_id FROM patches WHERE product_id = %s)",
                (product_id,),
            )
        conn.execute(
            "DELETE FROM product_labelling WHERE product_id = %s", (product_id,)
        )
        _copy(
            conn,
            "COPY patch_labelling (patch_id, unlabeled_fraction, kept, has_reference_map)"
            " FROM STDIN",
            [
                (pid, r.unlabeled_fraction, r.kept, covered)
                for pid, r, covered in records
            ],
        )
        _copy(
            conn,
            "COPY patch_class_counts (patch_id, code_18, pixels) FROM STDIN",
            [(pid, code, px) for pid, r, _ in records for code, px in r.counts.items()],
        )
        _copy(
            conn,
            "COPY patch_labels (patch_id, label) FROM STDIN",
            [(pid, label) for pid, r, _ in records for label in r.labels],
        )
        conn.execute(
            "INSERT INTO product_labelling (product_id, has_clc, clc_polygons,"
            " fails_quality, maps, kept) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                product_id,
                has_clc,
                n_shapes,
                fails_quality,
                sum(1 for _, _, covered in records if covered),
                sum(1 for _, r, _ in records if r.kept),
            ),
        )
