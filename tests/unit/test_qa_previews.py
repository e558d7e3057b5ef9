"""QA side outputs: built from the export's bands, deterministic .npz files."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from benpipe.dataset.export import export_product
from benpipe.dataset.labelling import LabelledTile
from benpipe.dataset.labels import PatchLabels
from benpipe.dataset.sql import LabelledPatch
from benpipe.errors import InputDataError
from benpipe.qa.core import block_mean_nonzero
from benpipe.qa.previews import (
    ClcPreview,
    RgbPreview,
    RgbPreviewBuilder,
    clc_preview,
    write_npz,
)

from .test_export import L2A, FakeProduct


def test_npz_is_deterministic_and_readable_by_numpy(tmp_path):
    arrays = {"b": np.arange(12, dtype=np.uint16).reshape(3, 4), "a": np.str_("x")}
    write_npz(tmp_path / "one.npz", arrays)
    write_npz(tmp_path / "two.npz", dict(reversed(arrays.items())))
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.npz") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["a.npy", "b.npy"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(tmp_path / "one.npz") as data:
        assert np.array_equal(data["b"], arrays["b"])
    assert not list(tmp_path.glob(".*tmp"))


def test_export_hook_builds_the_preview_from_the_decoded_bands(tmp_path):
    # A 3x3-patch tile: 360 px at 10 m (factor 1), zeros in B02 at one pixel.
    product = FakeProduct(zero_at={"B02": (5, 7)})
    builder = RgbPreviewBuilder(L2A)
    export_product(product, tmp_path / "out", threads=2, on_band=builder.add_band)
    assert sorted(product.reads) == sorted(set(product.reads))  # decoded once
    preview = builder.write(tmp_path / "rgb.npz")
    assert preview.rgb.shape == (420, 420, 3)
    assert preview.pixel_m == 10 and preview.tile_side_m == 4200
    for i, band in enumerate(("B04", "B03", "B02")):
        assert np.array_equal(preview.rgb[..., i], product.read_band(band))
    again = RgbPreview.read(tmp_path / "rgb.npz")
    assert again.product == L2A and np.array_equal(again.rgb, preview.rgb)


def test_preview_of_a_full_size_band_is_about_1000_px():
    builder = RgbPreviewBuilder(L2A)
    band = np.random.default_rng(0).integers(1, 9000, (10980, 10980), dtype=np.uint16)
    for name in ("B04", "B03", "B02", "B08"):
        builder.add_band(name, band)
    preview = builder.build()
    assert preview.rgb.shape == (998, 998, 3)
    assert preview.pixel_m == 110 and preview.tile_side_m == 109_800
    assert np.array_equal(preview.rgb[..., 0], block_mean_nonzero(band, 11))


def test_preview_names_the_missing_band():
    builder = RgbPreviewBuilder(L2A)
    builder.add_band("B04", np.ones((120, 120), dtype=np.uint16))
    with pytest.raises(InputDataError, match=r"\['B03', 'B02'\]"):
        builder.build()


def _tile(burned: np.ndarray | None) -> LabelledTile:
    def result(kept: bool, covered: bool, fraction: float) -> LabelledPatch:
        return LabelledPatch("p", PatchLabels({}, fraction, kept), covered)

    return LabelledTile(
        product_id=L2A,
        n=2,
        patch_side_m=1200,
        res_m=10,
        fails_quality=False,
        unlabeled_max_fraction=0.25,
        burned=burned,
        patches=[
            (0, 0, result(True, True, 0.0)),
            (1, 0, result(False, True, 0.5)),
            (1, 1, result(False, False, 1.0)),
        ],
    )


def test_clc_preview_from_the_labelling_hook(tmp_path):
    burned = np.full((240, 240), 311, dtype=np.uint16)
    burned[:, 200:] = 0  # not covered by any polygon
    preview = clc_preview(_tile(burned))
    assert preview.codes.shape == (240, 240)  # factor 1 below 1000 px
    assert set(np.unique(preview.codes).tolist()) == {311, 999}
    assert preview.labelled.tolist() == [[True, True], [False, True]]
    assert preview.covered.tolist() == [[True, True], [False, False]]
    assert preview.kept.tolist() == [[True, False], [False, False]]
    assert np.isnan(preview.unlabeled_fraction[1, 0])
    preview.write(tmp_path / "clc.npz")
    again = ClcPreview.read(tmp_path / "clc.npz")
    assert again.has_clc and again.unlabeled_max_fraction == 0.25
    assert np.array_equal(again.codes, preview.codes)
    assert np.array_equal(again.kept, preview.kept)


def test_clc_preview_without_clc_is_empty(tmp_path):
    preview = clc_preview(_tile(None))
    assert preview.codes.shape == (0, 0) and not preview.has_clc
    preview.write(tmp_path / "clc.npz")
    assert ClcPreview.read(tmp_path / "clc.npz").codes.shape == (0, 0)


def test_reading_the_wrong_side_output_names_it(tmp_path):
    write_npz(tmp_path / "x.npz", {"kind": np.str_("rgb"), "algorithm_version": 1})
    with pytest.raises(InputDataError, match=r"x\.npz is not a version-1 'clc'"):
        ClcPreview.read(tmp_path / "x.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputDataError, match="bad.npz cannot be read"):
        RgbPreview.read(tmp_path / "bad.npz")
