"""S2 patch export: layout, validity, GeoTIFF properties and byte equality."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import rasterio

from benpipe.dataset.export import (
    ALGORITHM_VERSION,
    export_product,
    invalid_patches_from_manifest,
)
from benpipe.dataset.tile_grid import TileGrid, grid_rows, validity_from_ids
from benpipe.errors import InputDataError, ProductLayoutError
from benpipe.geotiff import GeoTiffTemplate, gdal_band_bytes
from benpipe.l2a.products import decode_order
from benpipe.names import BAND_RESOLUTION_M, BANDS, patch_name, tile_dir_for

L2A = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000"
TILE_DIR = tile_dir_for(L2A)
ULX, ULY = 300_000.0, 5_400_000.0
SIDE_M = 4200  # 3 x 3 complete patches; the last 600 m strip is dropped


@dataclass
class FakeProduct:
    """An in-memory L2A product with the reader's interface."""

    tile_side_m: float = SIDE_M
    name: str = L2A
    epsg: int = 32633
    ulx: float = ULX
    uly: float = ULY
    zero_at: dict[str, tuple[int, int]] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def read_band(self, band: str) -> np.ndarray:
        self.reads.append(band)
        res = BAND_RESOLUTION_M[band]
        px = int(self.tile_side_m // res)
        seed = BANDS.index(band)
        data = np.random.default_rng(seed).integers(1, 20000, (px, px), dtype=np.uint16)
        if band in self.zero_at:
            row_px, col_px = self.zero_at[band]
            data[row_px, col_px] = 0
        return data


def _export(tmp_path: Path, product: FakeProduct, **kwargs):
    out = tmp_path / "s2" / L2A
    manifest = tmp_path / "s2" / f"{L2A}.json"
    result = export_product(product, out, manifest_path=manifest, **kwargs)
    return out, manifest, result


def test_exports_every_valid_patch_with_reference_layout(tmp_path):
    # one 60 m pixel of B09 at row 0, col 25 (=> patch col 1, row 0) is nodata
    product = FakeProduct(zero_at={"B09": (0, 25)})
    out, manifest, result = _export(tmp_path, product)

    assert sorted(product.reads) == sorted(BANDS)  # each band decoded once
    assert [p.name for p in out.iterdir()] == [TILE_DIR]
    patch_dirs = sorted(p.name for p in (out / TILE_DIR).iterdir())
    expected = sorted(
        patch_name(L2A, col=c, row=r)
        for r in range(3)
        for c in range(3)
        if (c, r) != (1, 0)
    )
    assert patch_dirs == expected
    for pid in patch_dirs:
        files = sorted(p.name for p in (out / TILE_DIR / pid).iterdir())
        assert files == sorted(f"{pid}_{band}.tif" for band in BANDS)
    assert result.patches_exported == 8
    assert result.skipped == {"nodata": 1}
    data = json.loads(manifest.read_text())
    assert data["patches_on_grid"] == 9
    assert data["files_written"] == 96
    assert data["skipped_patches"] == {"nodata": [patch_name(L2A, col=1, row=0)]}
    assert data["algorithm_version"] == ALGORITHM_VERSION
    assert data["bands"] == list(BANDS)
    assert not list(out.parent.glob(".*tmp*"))


def test_geotiff_properties_and_pixels(tmp_path):
    product = FakeProduct()
    out, _, _ = _export(tmp_path, product)
    pid = patch_name(L2A, col=2, row=1)
    for band in BANDS:
        res = BAND_RESOLUTION_M[band]
        side = 1200 // res
        with rasterio.open(out / TILE_DIR / pid / f"{pid}_{band}.tif") as src:
            assert (src.width, src.height, src.count) == (side, side, 1)
            assert src.dtypes[0] == "uint16"
            assert src.nodata == 0
            assert src.compression is None
            assert not src.profile.get("tiled", False)
            assert src.crs.to_epsg() == 32633
            assert src.transform.a == res and src.transform.e == -res
            assert (src.transform.c, src.transform.f) == (ULX + 2 * 1200, ULY - 1200)
            full = product.read_band(band)
            np.testing.assert_array_equal(
                src.read(1), full[side : 2 * side, 2 * side : 3 * side]
            )


def test_template_bytes_equal_gdal_bytes_for_many_patches_and_bands(tmp_path):
    product = FakeProduct()
    out, _, result = _export(tmp_path, product)
    assert result.writer == "template"
    for col, row in [(0, 0), (1, 2), (2, 1)]:
        pid = patch_name(L2A, col=col, row=row)
        for band in BANDS:
            res = BAND_RESOLUTION_M[band]
            side = 1200 // res
            window = product.read_band(band)[
                row * side : (row + 1) * side, col * side : (col + 1) * side
            ]
            expected = gdal_band_bytes(
                window,
                epsg=32633,
                res_m=res,
                left=ULX + col * 1200,
                top=ULY - row * 1200,
            )
            assert (out / TILE_DIR / pid / f"{pid}_{band}.tif").read_bytes() == expected


@pytest.mark.parametrize("epsg", [32629, 32634, 32636])
@pytest.mark.parametrize("side_px,res_m", [(120, 10.0), (60, 20.0), (20, 60.0)])
def test_template_matches_gdal_in_every_zone(epsg, side_px, res_m):
    template = GeoTiffTemplate.from_gdal(epsg=epsg, side_px=side_px, res_m=res_m)
    data = np.arange(side_px * side_px, dtype=np.uint16).reshape(side_px, side_px)
    left, top = 699_960.0 - 1200 * 3, 6_100_020.0 - 1200 * 90
    assert template.render(data, left=left, top=top) == gdal_band_bytes(
        data, epsg=epsg, res_m=res_m, left=left, top=top
    )


def test_rasterio_writer_gives_identical_files(tmp_path):
    fast, _, _ = _export(tmp_path / "a", FakeProduct(), writer="template")
    slow, _, result = _export(tmp_path / "b", FakeProduct(), writer="rasterio")
    assert result.writer == "rasterio"
    fast_files = sorted(p.relative_to(fast) for p in fast.rglob("*.tif"))
    assert fast_files == sorted(p.relative_to(slow) for p in slow.rglob("*.tif"))
    for rel in fast_files:
        assert (fast / rel).read_bytes() == (slow / rel).read_bytes()


def test_explicit_patch_list_restricts_the_export(tmp_path):
    listed = [patch_name(L2A, col=0, row=0), patch_name(L2A, col=1, row=0)]
    product = FakeProduct(zero_at={"B02": (5, 130)})  # patch col 1, row 0
    out, manifest, result = _export(tmp_path, product, patches=listed)
    assert [p.name for p in (out / TILE_DIR).iterdir()] == [listed[0]]
    assert result.skipped == {"nodata": 1, "not_listed": 7}


def test_patch_list_of_another_product_is_refused(tmp_path):
    other = "S2B_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000"
    with pytest.raises(InputDataError, match="not on the grid"):
        _export(tmp_path, FakeProduct(), patches=[patch_name(other, col=0, row=0)])


def test_wrong_band_shape_is_a_layout_error(tmp_path):
    class Truncated(FakeProduct):
        def read_band(self, band):
            return super().read_band(band)[:-1]

    with pytest.raises(ProductLayoutError, match="band B0"):
        _export(tmp_path, Truncated())
    assert not (tmp_path / "s2" / L2A).exists()


def test_existing_output_is_not_overwritten(tmp_path):
    out, _, _ = _export(tmp_path, FakeProduct())
    with pytest.raises(InputDataError, match="already exists"):
        _export(tmp_path, FakeProduct())
    assert out.is_dir()


def test_export_patches_reads_a_real_l2a_safe(tmp_path):
    from benpipe.dataset.export import export_patches
    from benpipe.l2a.fallback import convert_fallback
    from benpipe.l2a.products import open_l2a

    from .l2a_fixture import make_l1c_safe

    l1c = make_l1c_safe(tmp_path / "l1c", side_px=360)  # 3 x 3 patches
    l2a = convert_fallback(l1c, tmp_path / "l2a")
    product = open_l2a(l2a)
    out = tmp_path / "s2" / product.name
    result = export_patches(l2a, out, manifest_path=tmp_path / "s2" / "m.json")
    assert result.patches_on_grid == 9
    exported = sorted(p.name for p in (out / tile_dir_for(product.name)).iterdir())
    assert len(exported) == result.patches_exported
    assert result.patches_exported + result.skipped["nodata"] == 9
    pid = patch_name(product.name, col=1, row=2)
    if pid in exported:
        with rasterio.open(
            out / tile_dir_for(product.name) / pid / f"{pid}_B11.tif"
        ) as src:
            np.testing.assert_array_equal(
                src.read(1), product.read_band("B11")[120:180, 60:120]
            )
            assert (src.transform.c, src.transform.f) == (
                product.ulx + 1200,
                product.uly - 2400,
            )


def test_grid_validity_from_the_export_equals_decoding_again(tmp_path):
    """build_patch_grid takes validity from the export manifest, band by band."""
    zeros = {"B09": (0, 25), "B02": (250, 10), "B11": (130, 70)}
    _, manifest, _ = _export(tmp_path, FakeProduct(zero_at=zeros))
    invalid = invalid_patches_from_manifest(manifest, product=L2A, patch_side_m=1200)
    grid = TileGrid(product=L2A, epsg=32633, ulx=ULX, uly=ULY, tile_side_m=SIDE_M)
    from_manifest = validity_from_ids(grid, grid_rows(grid), invalid)
    # B09 (60 m, 20 px windows) -> row 0 col 1; B02 (10 m, 120 px) -> row 2
    # col 0; B11 (20 m, 60 px) -> row 2 col 1.
    assert from_manifest.tolist() == [
        [True, False, True],
        [True, True, True],
        [False, False, True],
    ]


def test_manifest_of_another_product_or_a_restricted_export_is_refused(tmp_path):
    _, manifest, _ = _export(tmp_path, FakeProduct(zero_at={"B09": (0, 25)}))
    other = L2A.replace("T33UUP", "T33UVP")
    with pytest.raises(InputDataError, match="rerun export_patches"):
        invalid_patches_from_manifest(manifest, product=other, patch_side_m=1200)
    some = patch_name(L2A, col=0, row=0)
    _, restricted, _ = _export(
        tmp_path / "r", FakeProduct(zero_at={"B09": (0, 25)}), patches=[some]
    )
    with pytest.raises(InputDataError, match="restricted export"):
        invalid_patches_from_manifest(restricted, product=L2A, patch_side_m=1200)


def test_files_do_not_depend_on_threads_and_late_nodata_is_removed(tmp_path):
    """Files are written while later bands decode; a patch that the last
    decoded band (B09, 60 m) finds invalid was written for the earlier bands
    and must be gone, with the same tree for 1 and 3 threads."""
    zero_at = {"B09": (0, 25), "B02": (130, 10)}  # patches (1, 0) and (0, 1)
    trees = []
    for threads in (1, 3):
        product = FakeProduct(zero_at=zero_at)
        out, manifest, result = _export(tmp_path / str(threads), product,
                                        threads=threads)  # fmt: skip
        if threads == 1:
            assert tuple(product.reads) == decode_order(BANDS)
        assert result.skipped == {"nodata": 2}
        tree = {
            p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file()
        }  # fmt: skip
        assert len(tree) == 7 * len(BANDS)
        assert not (out / TILE_DIR / patch_name(L2A, col=1, row=0)).exists()
        assert not (out / TILE_DIR / patch_name(L2A, col=0, row=1)).exists()
        trees.append((tree, manifest.read_text()))
    assert trees[0] == trees[1]


def test_decode_order_is_finest_first_and_complete():
    order = decode_order(BANDS)
    assert sorted(order) == sorted(BANDS)
    assert [BAND_RESOLUTION_M[b] for b in order] == sorted(
        BAND_RESOLUTION_M[b] for b in BANDS
    )
    assert order[:4] == ("B02", "B03", "B04", "B08")
