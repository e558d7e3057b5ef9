"""The demo CLC 2018 GeoPackage: a clean partition of the zone-33 products.

Polygons are Voronoi cells in the tile UTM (plus the designed patches, built
along pixel borders), noded together into one planar partition, densified
every :data:`DENSIFY_M` metres and only then transformed to EPSG:3035.  Shared
edges therefore have identical vertices on both sides (no gaps, no overlaps),
and designed boundaries come back onto the 10 m grid within millimetres when
transformed back to UTM.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyogrio
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, box

from benpipe.clc import CLC_TO_BEN19, NO_COVERAGE_CODE, UNLABELED, ben19_labels
from benpipe.demo.spec import DesignedPatch, ProductLayout, Strip
from benpipe.names import patch_name

logger = logging.getLogger(__name__)

LAYER = "U2018_CLC2018_V2020_20u1"
GEOMETRY_COLUMN = "Shape"
CLC_EPSG = 3035
#: vertex spacing of the densified partition, metres (UTM).
DENSIFY_M = 50.0
#: average Voronoi cell area in km² (a full-size tile gets ~4 000 polygons).
DEFAULT_CELL_KM2 = 3.0
#: margin of CLC coverage around the products, metres.
MARGIN_M = 1_000.0
#: OGR_CURRENT_DATE keeps the GeoPackage free of wall-clock times.
FIXED_OGR_DATE = "2024-01-01T00:00:00.000Z"

#: Random-cell code mix (code, weight): mostly labelled, some UNLABELED codes.
CODE_WEIGHTS: tuple[tuple[int, float], ...] = (
    (111, 0.01), (112, 0.06), (121, 0.02), (122, 0.02), (124, 0.01),
    (131, 0.01), (141, 0.01), (142, 0.01), (211, 0.18), (222, 0.01),
    (231, 0.12), (242, 0.07), (243, 0.06), (311, 0.09), (312, 0.12),
    (313, 0.08), (321, 0.01), (324, 0.04), (332, 0.005), (411, 0.01),
    (412, 0.005), (423, 0.005), (511, 0.01), (512, 0.025), (999, 0.005),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DesignedExpectation:
    """What labelling must find for a designed patch (10 m pixel counts)."""

    patch: str
    product_key: str
    col: int
    row: int
    role: str
    what: str
    pixel_counts: dict[int, int]
    unlabeled_fraction: float
    kept: bool
    labels: list[str]


def strip_boxes(
    design: DesignedPatch, layout: ProductLayout
) -> list[tuple[Strip, Polygon]]:
    left, bottom, _, top = layout.patch_box(design.col, design.row)
    return [
        (strip, box(left + strip.x0_m, bottom, left + strip.x1_m, top))
        for strip in design.strips
    ]


def expectation_for(
    design: DesignedPatch, layout: ProductLayout, *, max_unlabeled: float = 0.25
) -> DesignedExpectation:
    counts: dict[int, int] = defaultdict(int)
    for strip in design.strips:
        code = NO_COVERAGE_CODE if strip.code is None else strip.code
        counts[code] += (strip.x1_m - strip.x0_m) // 10 * 120
    total = sum(counts.values())
    unlabeled = sum(n for c, n in counts.items() if CLC_TO_BEN19[c] == UNLABELED)
    fraction = unlabeled / total
    kept = fraction < max_unlabeled
    return DesignedExpectation(
        patch=patch_name(layout.spec.name, col=design.col, row=design.row),
        product_key=design.product_key,
        col=design.col,
        row=design.row,
        role=design.role,
        what=design.what,
        pixel_counts=dict(sorted(counts.items())),
        unlabeled_fraction=fraction,
        kept=kept,
        labels=ben19_labels(frozenset(counts)) if kept else [],
    )


def build_clc(
    rng: np.random.Generator,
    *,
    layouts: list[ProductLayout],
    designs: list[tuple[DesignedPatch, ProductLayout]],
    epsg: int,
    cell_km2: float = DEFAULT_CELL_KM2,
    taken_ids: frozenset[str] = frozenset(),
) -> gpd.GeoDataFrame:
    """The CLC polygons (EPSG:3035) covering ``layouts`` (one UTM zone).

    Polygon ``ID`` values avoid ``taken_ids`` (the other clusters' polygons).
    """
    left = min(lo.ulx for lo in layouts) - MARGIN_M
    right = max(lo.ulx + lo.tile_side_m for lo in layouts) + MARGIN_M
    top = max(lo.uly for lo in layouts) + MARGIN_M
    bottom = min(lo.uly - lo.tile_side_m for lo in layouts) - MARGIN_M
    extent = box(left, bottom, right, top)
    n_cells = max(8, int(round(extent.area / 1e6 / cell_km2)))
    xy = np.column_stack(
        [rng.uniform(left, right, n_cells), rng.uniform(bottom, top, n_cells)]
    )
    codes_all = np.array([c for c, _ in CODE_WEIGHTS])
    weights = np.array([w for _, w in CODE_WEIGHTS])
    cell_codes = rng.choice(codes_all, size=n_cells, p=weights / weights.sum())
    cells = shapely.voronoi_polygons(
        shapely.multipoints(xy), extend_to=extent, ordered=True
    )
    cell_geoms = shapely.intersection(shapely.get_parts(cells), extent)

    pieces: list[shapely.Geometry] = []
    piece_codes: list[int] = []
    designed_area: list[shapely.Geometry] = []
    for design, layout in designs:
        for strip, geom in strip_boxes(design, layout):
            designed_area.append(geom)
            if strip.code is not None:  # an uncovered strip stays a hole
                pieces.append(geom)
                piece_codes.append(strip.code)
    carved = shapely.union_all(designed_area)
    for geom, code in zip(cell_geoms, cell_codes, strict=True):
        rest = shapely.difference(geom, carved)
        if not rest.is_empty and rest.area > 0:
            pieces.append(rest)
            piece_codes.append(int(code))

    faces_by_piece = _node_and_densify(pieces)
    to_3035 = Transformer.from_crs(epsg, CLC_EPSG, always_xy=True)
    rows_geom: list[MultiPolygon] = []
    rows_code: list[int] = []
    for idx in sorted(faces_by_piece):
        faces = faces_by_piece[idx]
        utm = MultiPolygon(faces)
        rows_geom.append(shapely.transform(utm, _transformer_func(to_3035)))
        rows_code.append(piece_codes[idx])
    pool = np.arange(100_000, 999_999)
    if taken_ids:
        pool = np.setdiff1d(pool, [int(i.removeprefix("EU_")) for i in taken_ids])
    ids = rng.choice(pool, size=len(rows_geom), replace=False)
    areas_ha = [round(g.area / 1e4, 5) for g in rows_geom]
    remarks: list[str | None] = [
        "Pre-tested" if i % 17 == 5 else None for i in range(len(rows_geom))
    ]
    frame = gpd.GeoDataFrame(
        {
            "Code_18": [str(c) for c in rows_code],
            "Remark": remarks,
            "Area_Ha": areas_ha,
            "ID": [f"EU_{i}" for i in ids],
        },
        geometry=gpd.GeoSeries(rows_geom, crs=f"EPSG:{CLC_EPSG}"),
    )
    frame = frame.rename_geometry(GEOMETRY_COLUMN)
    logger.info("CLC: %d polygons over %.0f km²", len(frame), extent.area / 1e6)
    return frame


def _transformer_func(
    transformer: Transformer,
) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    def func(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return func


def _node_and_densify(
    pieces: list[shapely.Geometry],
) -> dict[int, list[Polygon]]:
    """Faces of the noded, densified partition, grouped by the piece they fill."""
    boundaries = shapely.union_all(shapely.boundary(np.array(pieces, dtype=object)))
    edges = shapely.segmentize(boundaries, DENSIFY_M)
    faces = list(shapely.get_parts(shapely.polygonize(list(shapely.get_parts(edges)))))
    tree = shapely.STRtree(pieces)
    points = shapely.point_on_surface(np.array(faces, dtype=object))
    face_idx, piece_idx = tree.query(points, predicate="within")
    grouped: dict[int, list[Polygon]] = defaultdict(list)
    for f, p in sorted(zip(face_idx.tolist(), piece_idx.tolist(), strict=True)):
        grouped[p].append(faces[f])
    return grouped


def write_gpkg(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Write the layer with fixed GeoPackage timestamps."""
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_OGR_DATE})
    try:
        pyogrio.write_dataframe(
            frame,
            path,
            layer=LAYER,
            driver="GPKG",
            geometry_type="MultiPolygon",
            layer_options={"GEOMETRY_NAME": GEOMETRY_COLUMN},
        )
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
