"""The label rule (pure: NumPy and an in-memory burn, no I/O).

CLC polygons (whole, already in the tile's UTM) are burnt once onto the
tile's 10 m grid with GDAL's pixel-centre rule (``all_touched=False``) in a
fixed order, sorted by (CLC id in byte order, part) so that on overlaps the
polygon that sorts **last** wins, which is what the reference's overlay
shows (its per-patch ``ST_Union`` runs in ascending ``clc_id``).  Pixels no polygon covers become 999 in the reference maps.
Pixel counts per code and window give the labels (a BEN-19 class with >= 1
pixel, UNLABELED excluded) and the unlabeled fraction (kept iff strictly below
``unlabeled_max_fraction``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import shape

from benpipe.clc import (
    BEN19_CLASSES,
    CLC_TO_BEN19,
    NO_COVERAGE_CODE,
    UNLABELED,
    UNLABELED_CODES,
)
from benpipe.errors import LabelCoverageError

#: Burn value of pixels that no CLC polygon covers (replaced by 999 in maps).
UNCOVERED = 0
#: Codes in a fixed order; index 0 of a count vector is "uncovered".
CODES: tuple[int, ...] = tuple(sorted(CLC_TO_BEN19))
_LUT = np.zeros(1 << 16, dtype=np.uint8)
for _index, _code in enumerate(CODES, start=1):
    _LUT[_code] = _index
_BEN19_ORDER = {name: i for i, name in enumerate(BEN19_CLASSES)}


@dataclass(frozen=True, slots=True)
class ClcShape:
    """A CLC polygon (``part`` of feature ``clc_id``) in the tile's CRS."""

    code_18: int
    clc_id: str
    part: int
    geometry: Any  # shapely geometry or a __geo_interface__ mapping

    @property
    def sort_key(self) -> tuple[bytes, int]:
        """Burn order: the id in byte order (PostgreSQL's ``COLLATE "C"``), part."""
        return (self.clc_id.encode("utf-8"), self.part)


@dataclass(frozen=True, slots=True)
class PatchLabels:
    """Label result of one patch."""

    counts: dict[int, int]
    unlabeled_fraction: float
    kept: bool
    labels: tuple[str, ...] = field(default=())


#: Polygons with more vertices than this are burnt strip by strip.
LARGE_POLYGON_VERTICES = 1024
#: Rows per strip (a patch row at 10 m).
STRIP_ROWS = 120


def burn_clc(
    shapes: Iterable[ClcShape], *, transform: Affine, height: int, width: int
) -> np.ndarray:
    """Burn CLC codes onto a grid (uint16, 0 where no polygon covers a pixel centre).

    Shapes are burnt in ascending (id, part) order, so the last one wins
    where polygons overlap: the highest id (byte order).

    GDAL's polygon fill visits every edge on every row the polygon spans, so
    a whole sea polygon of 100,000 vertices over a 10,980-row tile costs
    10^9 steps.  When a polygon has more than :data:`LARGE_POLYGON_VERTICES`
    vertices, the grid is burnt in strips of :data:`STRIP_ROWS` rows and
    such polygons are clipped to each strip (plus two pixels) first.  The
    clip cuts edges at points on the same straight lines, so every pixel
    centre of the strip gets the value of the whole-polygon burn; nothing is
    subdivided before the transformation to the tile's CRS (cracks).
    """
    ordered = sorted(shapes, key=lambda s: s.sort_key)
    out = np.zeros((height, width), dtype=np.uint16)
    if not ordered:
        return out
    for item in ordered:
        if item.code_18 not in CLC_TO_BEN19:
            raise LabelCoverageError(
                f"CLC polygon {item.clc_id} has code {item.code_18}, which is not "
                "one of the 44 CLC codes or 999"
            )
    geoms = np.array([_as_shapely(s.geometry) for s in ordered], dtype=object)
    codes = np.array([s.code_18 for s in ordered], dtype=np.uint16)
    large = shapely.get_num_coordinates(geoms) > LARGE_POLYGON_VERTICES
    if not large.any() or height <= STRIP_ROWS:
        _rasterize(geoms, codes, out, transform)
        return out
    bounds = shapely.bounds(geoms)  # xmin, ymin, xmax, ymax
    margin = 2 * max(abs(transform.a), abs(transform.e))
    left = transform.c - margin
    right = transform.c + width * transform.a + margin
    for r0 in range(0, height, STRIP_ROWS):
        r1 = min(height, r0 + STRIP_ROWS)
        top = transform.f + r0 * transform.e + margin
        bottom = transform.f + r1 * transform.e - margin
        meets = np.nonzero((bounds[:, 1] <= top) & (bounds[:, 3] >= bottom))[0]
        strip = geoms[meets].copy()
        cut = large[meets]
        strip[cut] = shapely.clip_by_rect(strip[cut], left, bottom, right, top)
        keep = ~shapely.is_empty(strip)
        _rasterize(
            strip[keep],
            codes[meets][keep],
            out[r0:r1],
            transform @ Affine.translation(0, r0),
        )
    return out


def _as_shapely(geometry: Any) -> Any:
    return geometry if isinstance(geometry, shapely.Geometry) else shape(geometry)


def _rasterize(
    geoms: np.ndarray, codes: np.ndarray, out: np.ndarray, transform: Affine
) -> None:
    """Burn ``geoms`` with ``codes`` in order (the last wins) into ``out``."""
    if len(geoms) == 0:
        return
    rasterize(
        zip(geoms, codes.tolist(), strict=True),
        out=out,
        transform=transform,
        all_touched=False,
        dtype="uint16",
    )


def window_counts(burned: np.ndarray, *, n: int, window_px: int) -> np.ndarray:
    """Pixel counts per window: (n*n, 1+len(CODES)) int64, row-major windows.

    Column 0 counts uncovered pixels, column i the pixels of ``CODES[i-1]``.
    """
    k = len(CODES) + 1
    counts = np.zeros((n * n, k), dtype=np.int64)
    offsets = (np.arange(n, dtype=np.int64) * k)[:, None]
    for row in range(n):
        strip = burned[row * window_px : (row + 1) * window_px, : n * window_px]
        idx = _LUT[strip].reshape(window_px, n, window_px).transpose(1, 0, 2)
        flat = (idx.reshape(n, -1).astype(np.int64) + offsets).ravel()
        counts[row * n : (row + 1) * n] = np.bincount(flat, minlength=n * k).reshape(
            n, k
        )
    return counts


def counts_by_code(vector: np.ndarray) -> dict[int, int]:
    """{code: pixels} of a count vector; uncovered pixels count as 999."""
    result: dict[int, int] = {}
    uncovered = int(vector[0])
    for i, code in enumerate(CODES, start=1):
        if vector[i]:
            result[code] = int(vector[i])
    if uncovered:
        result[NO_COVERAGE_CODE] = result.get(NO_COVERAGE_CODE, 0) + uncovered
    return result


def labels_from_counts(
    counts: Mapping[int, int], *, unlabeled_max_fraction: float
) -> PatchLabels:
    """BEN-19 labels, unlabeled fraction and kept flag of one patch."""
    total = sum(counts.values())
    if total <= 0:
        return PatchLabels(counts=dict(counts), unlabeled_fraction=1.0, kept=False)
    unlabeled = sum(v for c, v in counts.items() if c in UNLABELED_CODES)
    fraction = unlabeled / total
    kept = fraction < unlabeled_max_fraction
    names = {CLC_TO_BEN19[c] for c, v in counts.items() if v > 0} - {UNLABELED}
    labels = tuple(sorted(names, key=_BEN19_ORDER.__getitem__)) if kept else ()
    return PatchLabels(
        counts=dict(sorted(counts.items())),
        unlabeled_fraction=fraction,
        kept=kept,
        labels=labels,
    )


def reference_map(window: np.ndarray) -> np.ndarray:
    """A burnt window as a reference map: uncovered pixels become 999."""
    out = window.astype(np.uint16, copy=True)
    out[out == UNCOVERED] = NO_COVERAGE_CODE
    return out


def label_window(
    vector: np.ndarray, *, unlabeled_max_fraction: float, fails_quality: bool
) -> tuple[PatchLabels, bool]:
    """Labels of one patch from its count vector, and whether CLC covers it.

    A patch without any CLC pixel gets no labels; a patch of a product that
    fails the quality checks is never kept (its counts are still recorded).
    """
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
    return result, covered
