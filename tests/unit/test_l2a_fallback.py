"""Fallback L1C→L2A converter: layout, radiometry rules, determinism, atomicity."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from benpipe.l2a import fallback
from benpipe.l2a.dos1 import (
    SCL_BANDS,
    block_mean,
    dark_value,
    dos1,
    dos1_in_place,
    dos1_table,
    downsample,
    repeat_pixels,
    scene_classification,
)
from benpipe.l2a.fallback import (
    JP2_OPTIONS,
    StageSeconds,
    band_order,
    convert_fallback,
)
from benpipe.l2a.jp2 import ESA_JP2_OPTIONS, write_jp2
from benpipe.l2a.products import (
    L2A_RESOLUTION_BANDS,
    open_l1c,
    open_l2a,
    read_raster,
)
from benpipe.names import BAND_RESOLUTION_M, BANDS
from digests import tree_digests

from .l2a_fixture import L2A_NAME, make_l1c_safe


@pytest.fixture(scope="module")
def l1c(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_l1c_safe(tmp_path_factory.mktemp("l1c"))


@pytest.fixture(scope="module")
def l2a(l1c: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_fallback(l1c, tmp_path_factory.mktemp("l2a"))


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


# ---------------------------------------------------------------- pure rules


def test_dark_value_is_exact_low_percentile_of_valid_pixels() -> None:
    dn = np.zeros(2000, dtype=np.uint16)  # zeros are nodata and ignored
    dn[:1000] = np.arange(1, 1001)
    assert dark_value(dn, percentile=0.1) == 1
    assert dark_value(dn, percentile=1.0) == 10
    assert dark_value(np.zeros(5, dtype=np.uint16)) == 0


def _dark_by_full_histogram(dn: np.ndarray, percentile: float) -> int:
    hist = np.bincount(dn.ravel(), minlength=65536)
    hist[0] = 0
    if hist.sum() == 0:
        return 0
    rank = max(1, int(np.ceil(int(hist.sum()) * percentile / 100.0)))
    return int(np.searchsorted(np.cumsum(hist), rank))


def test_dark_value_equals_the_full_histogram() -> None:
    rng = np.random.default_rng(11)
    cases = [
        rng.integers(0, 65536, (300, 301), dtype=np.uint16),
        rng.normal(1500, 400, (600, 50)).clip(0, 65535).astype(np.uint16),
        np.full((8, 8), 65535, dtype=np.uint16),
        np.zeros((4, 4), dtype=np.uint16),
    ]
    single = np.zeros((9, 9), dtype=np.uint16)
    single[5, 7] = 42  # the only valid DN, off the sampling grid (every 16th)
    cases.append(single)
    hidden = rng.integers(5000, 6000, (400, 400), dtype=np.uint16)
    hidden[:, 1::16] = rng.integers(1, 50, (400, 25), dtype=np.uint16)  # unsampled
    hidden[:, :40] = 0
    cases.append(hidden)
    for dn in cases:
        for percentile in (0.1, 1.0, 30.0, 100.0):
            want = _dark_by_full_histogram(dn, percentile)
            assert dark_value(dn, percentile=percentile) == want, (dn.shape, percentile)


def test_dos1_keeps_zero_as_nodata_and_never_makes_valid_zero() -> None:
    dn = np.array([0, 1, 150, 400, 65535], dtype=np.uint16)
    out = dos1(dn, dark=400, quantification=10000, boa_add_offset=0)
    # BOA_DN = DN - dark + 0.01*Q - BOA_ADD_OFFSET, clipped to [1, 65535]
    assert out.tolist() == [0, 1, 1, 100, 65235]
    shifted = dos1(dn, dark=400, quantification=10000, boa_add_offset=-1000)
    assert shifted.tolist() == [0, 701, 850, 1100, 65535]


def test_block_mean_rounds_and_propagates_nodata() -> None:
    band = np.array(
        [[1, 2, 5, 5], [3, 4, 5, 0], [10, 10, 7, 8], [10, 11, 9, 9]], dtype=np.uint16
    )
    assert block_mean(band, 2).tolist() == [[3, 0], [10, 8]]
    assert repeat_pixels(np.array([[1, 2]], dtype=np.uint16), 2).tolist() == [
        [1, 1, 2, 2],
        [1, 1, 2, 2],
    ]


def test_dos1_table_and_in_place_equal_dos1_for_every_dn() -> None:
    every_dn = np.arange(65536, dtype=np.uint16)
    for dark, offset in ((0, 0), (400, 0), (1234, -1000), (65000, -1000)):
        expected = dos1(
            every_dn, dark=dark, quantification=10000, boa_add_offset=offset
        )
        table = dos1_table(dark=dark, quantification=10000, boa_add_offset=offset)
        assert np.array_equal(table, expected), (dark, offset)
        band = np.random.default_rng(dark).integers(0, 65536, (2100, 7), np.uint16)
        want = dos1(band, dark=dark, quantification=10000, boa_add_offset=offset)
        got = dos1_in_place(
            band, dark=dark, quantification=10000, boa_add_offset=offset
        )
        assert got is band and np.array_equal(got, want)


@pytest.mark.parametrize(
    ("shape", "factors"), [((1548, 36), (2, 6)), ((774, 1542), (3,)), ((6, 6), (2, 6))]
)
def test_downsample_equals_block_mean(
    shape: tuple[int, int], factors: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(3)
    band = rng.integers(0, 65536, shape, dtype=np.uint16)
    band[rng.random(shape) < 0.01] = 0  # scattered nodata
    band[: factors[-1], :] = 65535  # the largest sums
    out = downsample(band, factors)
    assert [o.shape for o in out] == [(shape[0] // f, shape[1] // f) for f in factors]
    for factor, result in zip(factors, out, strict=True):
        assert result.dtype == np.uint16
        assert np.array_equal(result, block_mean(band, factor)), factor


def test_downsample_rejects_bad_sizes_and_factors() -> None:
    from benpipe.errors import ProductLayoutError

    with pytest.raises(ProductLayoutError, match="multiple of the factor"):
        downsample(np.ones((12, 10), dtype=np.uint16), (2, 6))
    with pytest.raises(ValueError, match="ascend"):
        downsample(np.ones((12, 12), dtype=np.uint16), (2, 3))


def test_band_order_starts_with_the_10m_bands_and_the_scl_inputs() -> None:
    order = band_order()
    assert sorted(order) == sorted(BANDS)
    assert order[:4] == ["B02", "B03", "B04", "B08"]
    assert order[4:6] == ["B8A", "B11"]  # the 20 m SCL inputs
    assert {BAND_RESOLUTION_M[b] for b in order[-2:]} == {60}
    assert max(order.index(b) for b in SCL_BANDS) == 5


def test_encoding_threads_do_not_change_the_bytes(tmp_path: Path) -> None:
    band = np.random.default_rng(5).integers(1, 4000, (1100, 1030), dtype=np.uint16)
    for options in (JP2_OPTIONS, ESA_JP2_OPTIONS):
        digests = set()
        for threads in (1, 2, 5):
            path = tmp_path / f"t{threads}.jp2"
            write_jp2(
                path, band, epsg=32633, ulx=0.0, uly=0.0, res_m=10,
                options=options, threads=threads,
            )  # fmt: skip
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
            assert np.array_equal(read_raster(path), band)  # lossless
        assert len(digests) == 1
    assert not list(tmp_path.glob("*.aux.xml"))


def _codeblock_style(path: Path) -> int:
    """The code-block style byte of the first COD marker segment."""
    data = path.read_bytes()
    cod = data.index(b"\xff\x52", data.index(b"\xff\x4f\xff\x51"))
    # Lcod(2) Scod(1) progression(1) layers(2) MCT(1) levels(1) xcb(1) ycb(1)
    return data[cod + 2 + 10]


def test_files_are_lossless_with_the_coding_bypass(l1c: Path, l2a: Path) -> None:
    """FALLBACK_VERSION 2: every JPEG 2000 has the bypass (lazy) code-block
    style and nothing else, and still decodes to the exact DOS1 values."""
    product = open_l2a(l2a)
    files = sorted(l2a.rglob("*.jp2"))
    assert len(files) == sum(len(b) for b in L2A_RESOLUTION_BANDS.values())
    for path in files:
        assert _codeblock_style(path) == 0x01, path.name
    source = open_l1c(l1c)
    mtd = (l2a / "MTD_MSIL2A.xml").read_text()
    dark = int(re.search(r'DARK_OBJECT_DN band_id="1">(\d+)<', mtd).group(1))  # type: ignore[union-attr]
    expected = dos1(
        source.read_band("B02"), dark=dark, quantification=10000, boa_add_offset=0
    )
    assert np.array_equal(product.read_band("B02"), expected)
    assert "<PROCESSOR_VERSION>2</PROCESSOR_VERSION>" in mtd


def test_scene_classification_rules() -> None:
    # pixels: nodata, high cloud, medium cloud, water, vegetation, bare soil
    bands = {
        "B02": [0, 4500, 2600, 400, 300, 1500],
        "B03": [500, 4500, 2600, 400, 500, 1600],
        "B04": [500, 4500, 2600, 500, 300, 1800],
        "B8A": [500, 4500, 2600, 200, 3000, 2200],
        "B11": [500, 4500, 2600, 100, 1500, 2500],
    }
    arrays = {k: np.array([v], dtype=np.uint16) for k, v in bands.items()}
    scl = scene_classification(arrays, quantification=10000, offsets={})
    assert scl.dtype == np.uint8
    assert scl.tolist() == [[0, 9, 8, 6, 4, 5]]


# ---------------------------------------------------------------- product


def test_product_name_layout_and_metadata(l2a: Path) -> None:
    assert l2a.name == f"{L2A_NAME}.SAFE"
    granules = list((l2a / "GRANULE").iterdir())
    assert [g.name for g in granules] == ["L2A_T33UUP_A010325_20170613T101608"]
    for res_m, bands in L2A_RESOLUTION_BANDS.items():
        files = sorted(
            p.name for p in (granules[0] / "IMG_DATA" / f"R{res_m}m").iterdir()
        )
        assert files == sorted(
            f"T33UUP_20170613T101031_{b}_{res_m}m.jp2" for b in bands
        )
    mtd = (l2a / "MTD_MSIL2A.xml").read_text()
    assert f"<PRODUCT_URI>{L2A_NAME}.SAFE</PRODUCT_URI>" in mtd
    assert "<PROCESSING_BASELINE>99.99</PROCESSING_BASELINE>" in mtd
    assert "<PROCESSOR>benpipe-fallback-dos1</PROCESSOR>" in mtd
    assert "NOT produced by sen2cor" in mtd
    assert "<SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>" in mtd
    assert re.search(r"BOA_QUANTIFICATION_VALUE[^>]*>10000<", mtd)
    # no PAM sidecars, no temp dirs left next to the product
    assert not list(l2a.rglob("*.aux.xml"))
    assert [p.name for p in l2a.parent.iterdir()] == [l2a.name]


def test_quality_inspections_copied_verbatim(l1c: Path, l2a: Path) -> None:
    l1c_text = (l1c / "MTD_MSIL1C.xml").read_text()
    block = re.search(
        r"<Quality_Inspections>.*?</Quality_Inspections>", l1c_text, re.DOTALL
    )
    assert block is not None
    assert block.group(0) in (l2a / "MTD_MSIL2A.xml").read_text()


def test_pixels_nodata_and_resampling(l1c: Path, l2a: Path) -> None:
    source = open_l1c(l1c)
    product = open_l2a(l2a)
    for band in BANDS:
        dn = source.read_band(band)
        boa = product.read_band(band)
        assert boa.dtype == np.uint16 and boa.shape == dn.shape
        assert np.array_equal(boa == 0, dn == 0), band  # zero ⇔ L1C nodata
    # B05 has a nodata strip only in that band: it is 0 at 20 m and 60 m
    b05_60 = _read(product.file_path("B05", 60))
    b05_20 = product.read_band("B05")
    assert np.array_equal(b05_60 == 0, block_mean(b05_20, 3) == 0)
    assert (b05_60 == 0).sum() > (_read(product.file_path("B06", 60)) == 0).sum()
    # 10 m band at 20 m: rounded block means; 60 m band at 20 m: repetition
    b02_10 = product.read_band("B02")
    assert np.array_equal(_read(product.file_path("B02", 20)), block_mean(b02_10, 2))
    assert np.array_equal(_read(product.file_path("B01", 60)), product.read_band("B01"))
    b09_60 = product.read_band("B09")
    assert b09_60.shape == (20, 20)


def test_scl_layer_classes(l2a: Path) -> None:
    product = open_l2a(l2a)
    scl = read_raster(product.scl_path, dtype="uint8")
    assert scl.shape == (60, 60)
    assert scl[-1, -1] == 0  # nodata corner
    assert scl[2, 50] in (8, 9)  # cloud block (upper right)
    assert scl[40, 5] == 6  # water (left third)
    assert scl[40, 30] == 4  # vegetation
    assert set(np.unique(scl)) <= {0, 4, 5, 6, 8, 9}


def test_conversion_is_byte_identical(l1c: Path, l2a: Path, tmp_path: Path) -> None:
    again = convert_fallback(l1c, tmp_path / "again")
    assert tree_digests(again) == tree_digests(l2a)
    assert len(tree_digests(l2a)) == 2 + sum(
        len(b) for b in L2A_RESOLUTION_BANDS.values()
    )


def test_bytes_identical_for_any_thread_count(tmp_path: Path) -> None:
    """threads=1, 2 and 5 write the same files (bands in parallel, encoder
    threads): a 600 px product, so every JPEG 2000 has many code-blocks."""
    l1c = make_l1c_safe(tmp_path / "in", side_px=600)
    digests = []
    for threads in (1, 2, 5):
        stages = StageSeconds()
        out = convert_fallback(
            l1c, tmp_path / f"out{threads}", threads=threads, stages=stages
        )
        digests.append(tree_digests(out))
        assert stages.decode > 0 and stages.correct > 0 and stages.encode > 0
    assert len(digests[0]) == 2 + sum(len(b) for b in L2A_RESOLUTION_BANDS.values())
    assert digests[1] == digests[0]
    assert digests[2] == digests[0]


def test_radio_add_offset_is_carried_as_boa_add_offset(tmp_path: Path) -> None:
    l1c = make_l1c_safe(tmp_path / "in", radio_offset=True)
    assert open_l1c(l1c).radio_add_offset["B02"] == -1000
    out = convert_fallback(l1c, tmp_path / "out")
    mtd = (out / "MTD_MSIL2A.xml").read_text()
    assert '<BOA_ADD_OFFSET band_id="1">-1000</BOA_ADD_OFFSET>' in mtd
    plain = convert_fallback(make_l1c_safe(tmp_path / "in0"), tmp_path / "out0")
    # same surface, reflectance = (DN + BOA_ADD_OFFSET) / Q in both products
    shifted = open_l2a(out).read_band("B04").astype(int) - 1000
    base = open_l2a(plain).read_band("B04").astype(int)
    valid = base > 0
    assert np.array_equal(shifted[valid], base[valid])


def test_failure_leaves_no_partial_product(
    l1c: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = fallback.write_jp2

    def flaky(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full (simulated)")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fallback, "write_jp2", flaky)
    with pytest.raises(OSError, match="disk full"):
        convert_fallback(l1c, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_conversion_leaves_nothing_after_the_rerun(
    l1c: Path, l2a: Path, tmp_path: Path
) -> None:
    # what kill -9 leaves: the staging product (about 1 GB in production), and
    # the random-suffixed scratch folder of older versions
    stale = tmp_path / f".{l2a.name}.tmp"
    (stale / "GRANULE").mkdir(parents=True)
    (tmp_path / f".{l2a.name}.tmp-x1y2z3" / "IMG_DATA").mkdir(parents=True)
    again = convert_fallback(l1c, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [l2a.name]
    assert tree_digests(again) == tree_digests(l2a)


def test_wrong_band_size_is_reported(tmp_path: Path) -> None:
    l1c = make_l1c_safe(tmp_path / "in")
    source = open_l1c(l1c)
    path = source.band_path("B11")
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=10, height=10, count=1, dtype="uint16",
        crs="EPSG:32633", transform=Affine(20, 0, 300000, 0, -20, 5900040),
        REVERSIBLE="YES", QUALITY="100",
    ) as dst:  # fmt: skip
        dst.write(np.ones((10, 10), dtype=np.uint16), 1)
    from benpipe.errors import ProductLayoutError

    with pytest.raises(ProductLayoutError, match=r"B11 is 10x10 px, expected 60x60"):
        convert_fallback(l1c, tmp_path / "out")
    assert not (tmp_path / "out" / f"{L2A_NAME}.SAFE").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_native_resolution_table_matches_names() -> None:
    for band in BANDS:
        assert band in L2A_RESOLUTION_BANDS[BAND_RESOLUTION_M[band]]


@pytest.mark.slow
def test_demo_world_product_converts_and_reads_back(tmp_path: Path) -> None:
    """The demo generator's L1C (P1) → fallback L2A agrees with its manifest."""
    import json
    import zipfile

    from benpipe.demo.world import WorldParams, generate_world

    manifest_path = generate_world(
        tmp_path / "world", WorldParams(products=("P1",), s1_rasters=False)
    )
    manifest = json.loads(manifest_path.read_text())
    facts = next(p for p in manifest["products"] if p["key"] == "P1")
    with zipfile.ZipFile(manifest_path.parent / facts["zip"]) as archive:
        archive.extractall(tmp_path / "l1c")
    l1c = tmp_path / "l1c" / f"{facts['name']}.SAFE"
    product = open_l2a(convert_fallback(l1c, tmp_path / "l2a"))
    product.validate()
    assert product.name == facts["l2a_name"]
    assert (product.epsg, product.ulx, product.uly) == (
        facts["epsg"],
        facts["ulx"],
        facts["uly"],
    )
    assert product.tile_side_m == facts["tile_side_m"]
    assert product.quality_checks == facts["quality_checks"]
    assert product.fails_quality is facts["fails_quality"]
    assert product.sensing_time.isoformat().startswith(facts["product_start_time"][:19])
    source = open_l1c(l1c)
    for band in BANDS:
        dn, boa = source.read_band(band), product.read_band(band)
        assert np.array_equal(dn == 0, boa == 0), band
