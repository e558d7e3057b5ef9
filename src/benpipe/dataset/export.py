"""S2 patch export: one L2A product → 12 single-band GeoTIFFs per valid patch.

Reproduces REFERENCE-PIPELINE §5.2 D12 without a database:

* every band is read **once** (whole band, decoded once) and cut into
  1 200 m windows in NumPy (120/60/20 px at 10/20/60 m);
* a patch is **valid** when none of its 12 band windows holds a 0 pixel
  (the reference's D8 rule; the arrays are in memory anyway), and only valid
  patches are written; an optional explicit patch list restricts the set
  further (e.g. to the v1-aligned patches of a grid receipt);
* each file is ``<tile_dir>/<patch>/<patch>_<band>.tif``: UInt16, one band,
  uncompressed, striped (GDAL GTiff defaults), nodata 0, georeferenced to the
  patch's upper-left corner in the tile CRS.

Writing ~100 000 small files per product is dominated by per-file writer
overhead, so files are rendered from a byte template
(:class:`benpipe.geotiff.GeoTiffTemplate`): for each (CRS, size, resolution)
one file is written with rasterio/GDAL, its header is kept, and every patch
file is that header with the tie point replaced, followed by the pixel bytes.
The template is verified at run time: a second probe with a different origin
and pixel values (zeros included) must come out byte-identical to what GDAL
writes, otherwise the export falls back to rasterio for every file.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from benpipe.dataset.tile_grid import invalid_windows, patch_blocks
from benpipe.errors import InputDataError, ProductLayoutError
from benpipe.fileio import stage_directory, write_file, write_json_atomic
from benpipe.geotiff import GeoTiffTemplate, TemplateError, write_band_gdal
from benpipe.grid import patch_corner, patch_side_px
from benpipe.names import BAND_RESOLUTION_M, BANDS, patch_name, tile_dir_for

logger = logging.getLogger(__name__)

#: Bump when the bytes or the set of exported files change.
ALGORITHM_VERSION = 1

Writer = Literal["template", "rasterio"]


class BandSource(Protocol):
    """What the export needs from an L2A product (``benpipe.l2a.products``)."""

    @property
    def name(self) -> str: ...
    @property
    def epsg(self) -> int: ...
    @property
    def ulx(self) -> float: ...
    @property
    def uly(self) -> float: ...
    @property
    def tile_side_m(self) -> float: ...
    def read_band(self, band: str) -> npt.NDArray[np.uint16]: ...


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Counts of one product's export; ``to_manifest()`` gives its JSON form."""

    product: str
    tile_dir: str
    out_dir: Path
    patches_on_grid: int
    patches_exported: int
    files_written: int
    skipped: dict[str, int]
    skipped_patches: dict[str, list[str]]
    writer: Writer
    patch_side_m: int
    bands: tuple[str, ...] = BANDS
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_manifest(self) -> dict[str, Any]:
        """Deterministic manifest (no timings, no absolute paths)."""
        return {
            "product": self.product,
            "tile_dir": self.tile_dir,
            "algorithm_version": ALGORITHM_VERSION,
            "patch_side_m": self.patch_side_m,
            "bands": list(self.bands),
            "patches_on_grid": self.patches_on_grid,
            "patches_exported": self.patches_exported,
            "files_written": self.files_written,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_patches": {
                reason: sorted(ids)
                for reason, ids in sorted(self.skipped_patches.items())
            },
            "writer": self.writer,
        }


def invalid_patches_from_manifest(
    manifest_path: Path, *, product: str, patch_side_m: float
) -> frozenset[str]:
    """The patches an export found invalid (a 0 pixel in any of the 12 bands).

    ``build_patch_grid`` records validity from here instead of decoding the
    product a second time.  The manifest must come from a full export of the
    same product on the same grid, otherwise :class:`InputDataError`.
    """
    import json

    try:
        manifest = json.loads(manifest_path.read_text())
        found = (manifest["product"], float(manifest["patch_side_m"]))
        skipped = manifest["skipped_patches"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(
            f"export manifest {manifest_path} is unreadable or incomplete ({exc}); "
            "delete it and rerun export_patches"
        ) from exc
    if found != (product, float(patch_side_m)):
        raise InputDataError(
            f"export manifest {manifest_path} describes {found[0]} with "
            f"{found[1]:g} m patches, expected {product} with {patch_side_m:g} m; "
            "delete it and rerun export_patches"
        )
    if skipped.get("not_listed"):
        raise InputDataError(
            f"export manifest {manifest_path} is from a restricted export (a patch "
            "list); validity needs a full export: rerun export_patches without one"
        )
    return frozenset(skipped.get("nodata", []))


# --------------------------------------------------------------------- export
def export_patches(
    l2a_safe: Path,
    out_dir: Path,
    *,
    patch_side_m: int = 1200,
    patches: Iterable[str] | None = None,
    manifest_path: Path | None = None,
    threads: int = 2,
    writer: Writer = "template",
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Export every valid patch of an L2A product as 12 GeoTIFFs.

    ``out_dir`` receives ``<tile_dir>/<patch>/<patch>_<band>.tif``; it is
    built in a temporary sibling and renamed at the end.  ``patches``, when
    given, restricts the export to these patch ids (of this product).
    """
    from benpipe.l2a.products import open_l2a

    product = open_l2a(l2a_safe)
    return export_product(
        product,
        out_dir,
        patch_side_m=patch_side_m,
        patches=patches,
        manifest_path=manifest_path,
        threads=threads,
        writer=writer,
        progress=progress,
    )


def export_product(
    product: BandSource,
    out_dir: Path,
    *,
    patch_side_m: int = 1200,
    patches: Iterable[str] | None = None,
    manifest_path: Path | None = None,
    threads: int = 2,
    writer: Writer = "template",
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """:func:`export_patches` on an opened product (any :class:`BandSource`)."""
    import rasterio

    started = time.monotonic()
    name = product.name
    tile_dir = tile_dir_for(name)
    n = int(product.tile_side_m // patch_side_m)
    if n < 1:
        raise ProductLayoutError(
            f"{name}: tile side {product.tile_side_m} m is smaller than one "
            f"{patch_side_m} m patch"
        )
    ids = [[patch_name(name, col=col, row=row) for col in range(n)] for row in range(n)]
    wanted = np.ones((n, n), dtype=bool)
    if patches is not None:
        wanted[:] = False
        index = {ids[r][c]: (r, c) for r in range(n) for c in range(n)}
        unknown = []
        for pid in patches:
            if pid in index:
                wanted[index[pid]] = True
            else:
                unknown.append(pid)
        if unknown:
            raise InputDataError(
                f"{len(unknown)} listed patch id(s) are not on the grid of {name} "
                f"(first: {sorted(unknown)[:5]}); pass only this product's patches"
            )

    # ---- decode every band once, cut into blocks, accumulate nodata
    blocks: dict[str, npt.NDArray[np.uint16]] = {}
    nodata = np.zeros((n, n), dtype=bool)

    def load(
        band: str,
    ) -> tuple[str, npt.NDArray[np.uint16], npt.NDArray[np.bool_]]:
        res_m = BAND_RESOLUTION_M[band]
        side_px = patch_side_px(patch_side_m, res_m)
        data = product.read_band(band)
        expected = int(round(product.tile_side_m / res_m))
        if data.ndim != 2 or data.shape != (expected, expected):
            raise ProductLayoutError(
                f"{name}: band {band} has shape {data.shape}, expected "
                f"({expected}, {expected}) for a {product.tile_side_m} m tile at "
                f"{res_m} m; the L2A product is incomplete or corrupt"
            )
        if data.dtype != np.uint16:
            raise ProductLayoutError(
                f"{name}: band {band} has dtype {data.dtype}, expected uint16"
            )
        # The validity rule has one home: benpipe.dataset.tile_grid.invalid_windows.
        invalid = invalid_windows(data, window_px=side_px, n=n)
        return band, patch_blocks(data, side_px=side_px, n=n), invalid

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for band, band_blocks, band_invalid in pool.map(load, BANDS):
            blocks[band] = band_blocks
            nodata |= band_invalid
    decoded = time.monotonic()

    valid = wanted & ~nodata
    skipped_patches = {
        "nodata": [
            ids[r][c] for r, c in zip(*np.nonzero(wanted & nodata), strict=True)
        ],
    }
    if patches is not None:
        skipped_patches["not_listed"] = [
            ids[r][c] for r, c in zip(*np.nonzero(~wanted), strict=True)
        ]
        listed_invalid = skipped_patches["nodata"]
        if listed_invalid:
            logger.warning(
                "%s: %d listed patch(es) hold nodata pixels and are skipped (first: %s)",
                name,
                len(listed_invalid),
                listed_invalid[:3],
            )
    todo = [(int(r), int(c)) for r, c in zip(*np.nonzero(valid), strict=True)]

    # ---- write
    out_dir = Path(out_dir)
    tmp_dir = stage_directory(out_dir, "export directory")
    (tmp_dir / tile_dir).mkdir()

    res = {band: float(BAND_RESOLUTION_M[band]) for band in BANDS}
    templates: dict[str, GeoTiffTemplate] = {}
    used_writer: Writer = writer
    if writer == "template":
        by_grid: dict[tuple[int, float], GeoTiffTemplate] = {}
        try:
            for band in BANDS:
                grid_key = (patch_side_px(patch_side_m, res[band]), res[band])
                if grid_key not in by_grid:
                    by_grid[grid_key] = GeoTiffTemplate.from_gdal(
                        epsg=product.epsg, side_px=grid_key[0], res_m=grid_key[1]
                    )
                templates[band] = by_grid[grid_key]
        except TemplateError as exc:
            logger.warning("%s", exc)
            used_writer = "rasterio"

    def write_patch(rc: tuple[int, int]) -> None:
        r, c = rc
        pid = ids[r][c]
        left, top = patch_corner(
            product.ulx, product.uly, col=c, row=r, side_m=patch_side_m
        )
        patch_dir = tmp_dir / tile_dir / pid
        patch_dir.mkdir()
        for band in BANDS:
            path = patch_dir / f"{pid}_{band}.tif"
            data = blocks[band][r, c]
            if used_writer == "template":
                write_file(path, templates[band].render(data, left=left, top=top))
            else:
                write_band_gdal(
                    path, data, epsg=product.epsg, res_m=res[band], left=left, top=top
                )

    total = len(todo)
    with rasterio.Env(), ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for done, _ in enumerate(pool.map(write_patch, todo), start=1):
            if progress is not None and (done % 100 == 0 or done == total):
                progress(done, total)
    if progress is not None and total == 0:
        progress(0, 0)
    os.replace(tmp_dir, out_dir)
    written = time.monotonic()

    skipped = {reason: len(ids_) for reason, ids_ in skipped_patches.items()}
    result = ExportResult(
        product=name,
        tile_dir=tile_dir,
        out_dir=out_dir,
        patches_on_grid=n * n,
        patches_exported=total,
        files_written=total * len(BANDS),
        skipped=skipped,
        skipped_patches=skipped_patches,
        writer=used_writer,
        patch_side_m=patch_side_m,
        timings_s={"decode": decoded - started, "write": written - decoded},
    )
    if manifest_path is not None:
        write_json_atomic(manifest_path, result.to_manifest(), ensure_ascii=True)
    logger.info(
        "%s: exported %d of %d patches (%d files, writer %s, skipped %s) "
        "in %.1f s decode + %.1f s write; algorithm version %d",
        name,
        total,
        n * n,
        result.files_written,
        used_writer,
        skipped,
        decoded - started,
        written - decoded,
        ALGORITHM_VERSION,
    )
    return result
