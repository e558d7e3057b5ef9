"""The ``export_patches`` rule: one L2A product → 12 GeoTIFFs per valid patch.

Reproduces REFERENCE-PIPELINE §5.2 D12 without a database.  This is the one
job that decodes a product's 12 bands:

* every band is read **once** (whole band) and cut into 1 200 m windows in
  NumPy (120/60/20 px at 10/20/60 m);
* a patch is **valid** when none of its 12 band windows holds a 0 pixel (the
  reference's D8 rule, :func:`benpipe.dataset.tile_grid.invalid_windows`);
  only valid patches are written, and the manifest lists the invalid ones, so
  ``build_patch_grid`` records validity without decoding the product again
  (:func:`invalid_patches_from_manifest`).  An explicit patch list (by hand,
  not in the pipeline) restricts the export further;
* each file is ``<tile_dir>/<patch>/<patch>_<band>.tif``: UInt16, one band,
  uncompressed, striped (GDAL GTiff defaults), nodata 0, georeferenced to the
  patch's upper-left corner in the tile CRS (:func:`benpipe.grid.patch_corner`).

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

import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from benpipe.dataset.tile_grid import invalid_windows, patch_blocks
from benpipe.errors import InputDataError, ProductLayoutError
from benpipe.fileio import staged_directory, write_file, write_json_atomic
from benpipe.geotiff import GeoTiffTemplate, TemplateError, write_band_gdal
from benpipe.grid import patch_corner, patch_side_px
from benpipe.log import ProgressCallback
from benpipe.names import BAND_RESOLUTION_M, BANDS, patch_name, tile_dir_for

logger = logging.getLogger(__name__)

#: Bump when the bytes or the set of exported files change.
ALGORITHM_VERSION = 1

Writer = Literal["template", "rasterio"]
_Item = TypeVar("_Item")
#: Receives every decoded band once: ``on_band(band, data)``.
BandHook = Callable[[str, npt.NDArray[np.uint16]], None]


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
    progress: ProgressCallback | None = None,
    on_band: BandHook | None = None,
) -> ExportResult:
    """Export every valid patch of an L2A product as 12 GeoTIFFs.

    ``out_dir`` receives ``<tile_dir>/<patch>/<patch>_<band>.tif``; it is
    built in a temporary sibling and renamed at the end.  ``patches``, when
    given, restricts the export to these patch ids (of this product).
    ``on_band(band, data)`` sees every decoded band once (from the decoding
    threads), for side outputs such as the QA preview.
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
        on_band=on_band,
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
    progress: ProgressCallback | None = None,
    on_band: BandHook | None = None,
) -> ExportResult:
    """:func:`export_patches` on an opened product (any :class:`BandSource`).

    The recipe: lay out the grid → decode each band once into patch blocks
    (and the nodata mask), writing each band's files while the next bands
    decode → drop the patches a later band found invalid → manifest.
    """
    started = time.monotonic()
    grid = _ExportGrid.of(product, patch_side_m)
    wanted = _wanted_mask(grid, patches)
    with staged_directory(Path(out_dir), "export directory") as staging:
        used_writer, templates = _templates(product, grid.patch_side_m, writer)
        files = _PatchFiles(product, grid, staging.path, used_writer, templates)
        nodata, decoded = _decode_and_write(
            product,
            grid,
            wanted,
            files,
            threads=threads,
            on_band=on_band,
            progress=progress,
        )
        skipped_patches = _skipped_patches(grid, wanted, nodata, listed=patches)
        todo = [
            (int(r), int(c)) for r, c in zip(*np.nonzero(wanted & ~nodata), strict=True)
        ]
        if progress is not None:
            progress(len(todo), len(todo))
    written = time.monotonic()
    result = ExportResult(
        product=product.name,
        tile_dir=grid.tile_dir,
        out_dir=Path(out_dir),
        patches_on_grid=grid.n * grid.n,
        patches_exported=len(todo),
        files_written=len(todo) * len(BANDS),
        skipped={reason: len(ids) for reason, ids in skipped_patches.items()},
        skipped_patches=skipped_patches,
        writer=used_writer,
        patch_side_m=patch_side_m,
        timings_s={"decode": decoded - started, "write": written - decoded},
    )
    if manifest_path is not None:
        write_json_atomic(manifest_path, result.to_manifest(), ensure_ascii=True)
    _log_result(result)
    return result


@dataclass(frozen=True, slots=True)
class _ExportGrid:
    """The complete patches of the product's tile: ``ids[row][col]``."""

    product: str
    tile_dir: str
    patch_side_m: int
    n: int
    ids: list[list[str]]

    @classmethod
    def of(cls, product: BandSource, patch_side_m: int) -> _ExportGrid:
        n = int(product.tile_side_m // patch_side_m)
        if n < 1:
            raise ProductLayoutError(
                f"{product.name}: tile side {product.tile_side_m} m is smaller than "
                f"one {patch_side_m} m patch"
            )
        ids = [
            [patch_name(product.name, col=col, row=row) for col in range(n)]
            for row in range(n)
        ]
        return cls(product.name, tile_dir_for(product.name), patch_side_m, n, ids)


def _wanted_mask(grid: _ExportGrid, patches: Iterable[str] | None) -> np.ndarray:
    """(n, n) bool, [row, col]: the patches to export if valid (all by default)."""
    if patches is None:
        return np.ones((grid.n, grid.n), dtype=bool)
    wanted = np.zeros((grid.n, grid.n), dtype=bool)
    index = {pid: (r, c) for r, row in enumerate(grid.ids) for c, pid in enumerate(row)}
    unknown = []
    for pid in patches:
        if pid in index:
            wanted[index[pid]] = True
        else:
            unknown.append(pid)
    if unknown:
        raise InputDataError(
            f"{len(unknown)} listed patch id(s) are not on the grid of {grid.product} "
            f"(first: {sorted(unknown)[:5]}); pass only this product's patches"
        )
    return wanted


def _decode_and_write(
    product: BandSource,
    grid: _ExportGrid,
    wanted: npt.NDArray[np.bool_],
    files: _PatchFiles,
    *,
    threads: int,
    on_band: BandHook | None,
    progress: ProgressCallback | None,
) -> tuple[npt.NDArray[np.bool_], float]:
    """Decode each band once, cut it into patch blocks and write its files
    while the next bands decode; returns the nodata mask and when the last
    band was decoded (``time.monotonic()``).

    Bands are decoded in :func:`benpipe.l2a.products.decode_order` (largest
    first) on ``threads`` threads, one band per thread.  As each band arrives
    its files are written, on ``threads`` more threads, for every wanted patch
    that no band decoded so far found invalid; a patch that a later band finds
    invalid (a 0 pixel) is removed at the end.  So the set of files and their
    bytes are those of writing the valid patches after decoding everything,
    and a band's blocks are freed once its files are written.  The nodata mask
    is True where any band's window holds a 0 pixel
    (:func:`benpipe.dataset.tile_grid.invalid_windows`); ``on_band`` sees each
    whole decoded band before it is cut.
    """
    from benpipe.l2a.products import decode_order

    def load(band: str) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.bool_]]:
        res_m = BAND_RESOLUTION_M[band]
        side_px = patch_side_px(grid.patch_side_m, res_m)
        data = _checked_band(product, band, res_m)
        if on_band is not None:
            on_band(band, data)
        invalid = invalid_windows(data, window_px=side_px, n=grid.n)
        return patch_blocks(data, side_px=side_px, n=grid.n), invalid

    nodata = np.zeros((grid.n, grid.n), dtype=bool)
    created = np.zeros((grid.n, grid.n), dtype=bool)
    order = decode_order(BANDS)
    pending: list[Future[int]] = []
    workers = max(1, threads)
    with (
        ThreadPoolExecutor(max_workers=workers) as decoders,
        ThreadPoolExecutor(max_workers=workers) as writers,
    ):
        for done, (band, (blocks, invalid)) in enumerate(
            zip(order, decoders.map(load, order), strict=True), start=1
        ):
            nodata |= invalid
            todo_mask = wanted & ~nodata
            files.make_dirs(todo_mask & ~created)
            created |= todo_mask
            todo = [
                (int(r), int(c)) for r, c in zip(*np.nonzero(todo_mask), strict=True)
            ]
            for chunk in _chunks(todo, max(1, len(todo) // (4 * workers))):
                pending.append(writers.submit(files.write, band, blocks, chunk))
            del blocks
            if progress is not None:
                progress(len(todo) * (done - 1) // len(order), len(todo))
        decoded = time.monotonic()
        for future in pending:
            future.result()
    files.remove(created & nodata)
    return nodata, decoded


def _chunks(items: list[_Item], size: int) -> Iterator[list[_Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _checked_band(product: BandSource, band: str, res_m: int) -> npt.NDArray[np.uint16]:
    data = product.read_band(band)
    expected = int(round(product.tile_side_m / res_m))
    if data.ndim != 2 or data.shape != (expected, expected):
        raise ProductLayoutError(
            f"{product.name}: band {band} has shape {data.shape}, expected "
            f"({expected}, {expected}) for a {product.tile_side_m} m tile at "
            f"{res_m} m; the L2A product is incomplete or corrupt"
        )
    if data.dtype != np.uint16:
        raise ProductLayoutError(
            f"{product.name}: band {band} has dtype {data.dtype}, expected uint16"
        )
    return data


def _skipped_patches(
    grid: _ExportGrid,
    wanted: np.ndarray,
    nodata: np.ndarray,
    *,
    listed: Iterable[str] | None,
) -> dict[str, list[str]]:
    """Ids of the patches not exported, by reason (``nodata``, ``not_listed``)."""

    def ids(mask: np.ndarray) -> list[str]:
        return [grid.ids[r][c] for r, c in zip(*np.nonzero(mask), strict=True)]

    skipped = {"nodata": ids(wanted & nodata)}
    if listed is not None:
        skipped["not_listed"] = ids(~wanted)
        if skipped["nodata"]:
            logger.warning(
                "%s: %d listed patch(es) hold nodata pixels and are skipped (first: %s)",
                grid.product,
                len(skipped["nodata"]),
                skipped["nodata"][:3],
            )
    return skipped


def _templates(
    product: BandSource, patch_side_m: int, writer: Writer
) -> tuple[Writer, dict[str, GeoTiffTemplate]]:
    """The writer that will run and, for ``template``, one template per band."""
    if writer != "template":
        return writer, {}
    by_grid: dict[tuple[int, float], GeoTiffTemplate] = {}
    templates: dict[str, GeoTiffTemplate] = {}
    try:
        for band in BANDS:
            res_m = float(BAND_RESOLUTION_M[band])
            key = (patch_side_px(patch_side_m, res_m), res_m)
            if key not in by_grid:
                by_grid[key] = GeoTiffTemplate.from_gdal(
                    epsg=product.epsg, side_px=key[0], res_m=key[1]
                )
            templates[band] = by_grid[key]
    except TemplateError as exc:
        logger.warning("%s", exc)
        return "rasterio", {}
    return "template", templates


class _PatchFiles:
    """Writes ``<tile_dir>/<patch>/<patch>_<band>.tif`` into the staging folder."""

    def __init__(
        self,
        product: BandSource,
        grid: _ExportGrid,
        root: Path,
        writer: Writer,
        templates: dict[str, GeoTiffTemplate],
    ) -> None:
        self.product = product
        self.grid = grid
        self.tile_root = root / grid.tile_dir
        self.writer = writer
        self.templates = templates
        self.tile_root.mkdir()

    def _dir(self, r: int, c: int) -> Path:
        return self.tile_root / self.grid.ids[r][c]

    def make_dirs(self, mask: npt.NDArray[np.bool_]) -> None:
        for r, c in zip(*np.nonzero(mask), strict=True):
            self._dir(int(r), int(c)).mkdir()

    def remove(self, mask: npt.NDArray[np.bool_]) -> None:
        """Delete the folders of these patches (found invalid after a write)."""
        for r, c in zip(*np.nonzero(mask), strict=True):
            shutil.rmtree(self._dir(int(r), int(c)))

    def write(
        self,
        band: str,
        blocks: npt.NDArray[np.uint16],
        cells: list[tuple[int, int]],
    ) -> int:
        """Write ``band``'s file of each (row, col) patch; returns the count."""
        import rasterio

        grid, product = self.grid, self.product
        res_m = float(BAND_RESOLUTION_M[band])
        template = self.templates.get(band)
        with rasterio.Env() if template is None else contextlib.nullcontext():
            for r, c in cells:
                pid = grid.ids[r][c]
                left, top = patch_corner(
                    product.ulx, product.uly, col=c, row=r, side_m=grid.patch_side_m
                )
                path = self.tile_root / pid / f"{pid}_{band}.tif"
                if template is not None:
                    write_file(path, template.render(blocks[r, c], left=left, top=top))
                else:
                    write_band_gdal(
                        path,
                        blocks[r, c],
                        epsg=product.epsg,
                        res_m=res_m,
                        left=left,
                        top=top,
                    )
        return len(cells)


def _log_result(result: ExportResult) -> None:
    timings = result.timings_s
    logger.info(
        "%s: exported %d of %d patches (%d files, writer %s, skipped %s) "
        "in %.1f s decode + %.1f s write; algorithm version %d",
        result.product,
        result.patches_exported,
        result.patches_on_grid,
        result.files_written,
        result.writer,
        result.skipped,
        timings["decode"],
        timings["write"],
        ALGORITHM_VERSION,
    )
