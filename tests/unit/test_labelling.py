"""CLC burn, per-window counts, labels and reference-map files (benpipe.dataset.labelling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from benpipe.clc import BEN19_CLASSES, CLC_TO_BEN19
from benpipe.dataset.labelling import write_reference_map
from benpipe.dataset.labels import (
    CODES,
    ClcShape,
    burn_clc,
    counts_by_code,
    label_window,
    labels_from_counts,
    reference_map,
    window_counts,
)

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)
# a 4x4 grid of 10 m pixels with its upper-left corner at (1000, 2000)
T = Affine(10, 0, 1000, 0, -10, 2000)


def shape(
    code: int, clc_id: str, left: float, bottom: float, right: float, top: float
) -> ClcShape:
    return ClcShape(
        code_18=code, clc_id=clc_id, part=1, geometry=box(left, bottom, right, top)
    )


def test_burn_uses_pixel_centres_and_leaves_uncovered_pixels_zero() -> None:
    # covers x 1000..1016 (centres 1005, 1015 inside), y 1985..2000 (centres 1995, 1985?)
    shapes = [shape(311, "a", 1000, 1984, 1016, 2000)]
    burned = burn_clc(shapes, transform=T, height=4, width=4)
    assert burned.dtype == np.uint16
    assert burned.tolist() == [
        [311, 311, 0, 0],
        [311, 311, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]


def test_burn_order_is_by_id_in_byte_order_and_the_last_wins() -> None:
    """Overlapping polygons: the highest CLC id wins, whatever the codes.

    That is the reference's observable rule (its ST_Union runs in ascending
    clc_id); ids compare as bytes, so EU_10 sorts before EU_9.
    """
    whole = (1000, 1960, 1040, 2000)
    shapes = [shape(523, "EU_1", *whole), shape(211, "EU_3", *whole)]
    shapes.append(shape(311, "EU_2", *whole))
    burned = burn_clc(list(reversed(shapes)), transform=T, height=4, width=4)
    assert set(burned.ravel().tolist()) == {211}
    top_rows = (1000, 1980, 1040, 2000)
    by_bytes = [shape(312, "EU_9", *whole), shape(311, "EU_10", *top_rows)]
    burned = burn_clc(by_bytes, transform=T, height=4, width=4)
    assert burned[0].tolist() == [312] * 4 and burned[3].tolist() == [312] * 4
    parts = [
        ClcShape(code_18=311, clc_id="EU_5", part=2, geometry=box(*top_rows)),
        ClcShape(code_18=312, clc_id="EU_5", part=1, geometry=box(*whole)),
    ]
    burned = burn_clc(parts, transform=T, height=4, width=4)
    assert burned[0].tolist() == [311] * 4 and burned[3].tolist() == [312] * 4


def test_burn_rejects_unknown_codes() -> None:
    with pytest.raises(ValueError, match="777"):
        burn_clc(
            [shape(777, "x", 1000, 1960, 1040, 2000)], transform=T, height=4, width=4
        )


def test_window_counts_per_patch_row_major() -> None:
    burned = np.zeros((4, 4), dtype=np.uint16)
    burned[:2, :2] = 311
    burned[:2, 2:] = 999
    burned[2:, :] = 122
    burned[3, 3] = 0
    counts = window_counts(burned, n=2, window_px=2)
    assert counts.shape[0] == 4
    assert counts_by_code(counts[0]) == {311: 4}
    assert counts_by_code(counts[1]) == {999: 4}
    assert counts_by_code(counts[2]) == {122: 4}
    assert counts_by_code(counts[3]) == {
        122: 3,
        999: 1,
    }  # uncovered pixel counts as 999


def test_labels_threshold_is_strict_and_excludes_unlabeled() -> None:
    total = 14400
    quarter = total // 4
    at_limit = labels_from_counts(
        {311: total - quarter, 122: quarter}, unlabeled_max_fraction=0.25
    )
    assert (
        at_limit.unlabeled_fraction == 0.25
        and not at_limit.kept
        and at_limit.labels == ()
    )
    below = labels_from_counts(
        {311: total - quarter, 122: quarter - 1, 241: 1}, unlabeled_max_fraction=0.25
    )
    assert below.kept
    # one pixel suffices; 241 is Permanent crops; order follows BEN19_CLASSES
    assert below.labels == ("Permanent crops", "Broad-leaved forest")
    nothing = labels_from_counts({}, unlabeled_max_fraction=0.25)
    assert not nothing.kept and nothing.unlabeled_fraction == 1.0


def _vector(pixels: dict[int, int], uncovered: int = 0) -> np.ndarray:
    vector = np.zeros(len(CODES) + 1, dtype=np.int64)
    vector[0] = uncovered
    for code, n in pixels.items():
        vector[CODES.index(code) + 1] = n
    return vector


def test_a_window_gets_labels_unless_uncovered_or_its_product_fails_quality() -> None:
    forest_and_water = _vector({311: 10_000, 512: 4_400})
    labels, covered = label_window(
        forest_and_water, unlabeled_max_fraction=0.25, fails_quality=False
    )
    assert covered and labels.kept
    assert labels.labels == ("Broad-leaved forest", "Inland waters")
    failing, covered = label_window(
        forest_and_water, unlabeled_max_fraction=0.25, fails_quality=True
    )
    assert covered and not failing.kept and failing.labels == ()
    assert failing.counts == labels.counts  # counts are still recorded
    nothing, covered = label_window(
        _vector({}, uncovered=14_400), unlabeled_max_fraction=0.25, fails_quality=False
    )
    assert not covered and not nothing.kept and nothing.counts == {}


def test_reference_map_file_is_uint16_deflate_georeferenced_and_deterministic(
    tmp_path: Path,
) -> None:
    window = np.zeros((120, 120), dtype=np.uint16)
    window[:60] = 311
    data = reference_map(window)
    assert int(data[119, 0]) == 999
    first, second = tmp_path / "a.tif", tmp_path / "b.tif"
    for path in (first, second):
        write_reference_map(path, data, epsg=32633, left=301200, top=5098800)
    assert first.read_bytes() == second.read_bytes()
    with rasterio.open(first) as src:
        assert src.dtypes[0] == "uint16" and src.nodata == 0
        assert src.crs.to_epsg() == 32633
        assert src.transform == Affine(10, 0, 301200, 0, -10, 5098800)
        assert src.profile["compress"] == "deflate"
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        assert np.array_equal(src.read(1), data)


def test_clc_mapping_has_45_codes_and_19_classes() -> None:
    assert len(CLC_TO_BEN19) == 45
    assert set(CLC_TO_BEN19.values()) - {"UNLABELED"} == set(BEN19_CLASSES)


def test_reference_label_names_are_the_ben19_classes() -> None:
    path = REFERENCE / "metadata.parquet"
    if not path.exists():
        pytest.skip(f"reference artifact {path} is absent")
    labels = pq.read_table(path, columns=["labels"]).column("labels").combine_chunks()
    names = set(labels.flatten().unique().to_pylist())
    assert names == set(BEN19_CLASSES)


def test_large_polygons_burn_strip_by_strip_exactly_as_whole() -> None:
    """A 20,000-vertex coast and small overlapping polygons: the strip burn of
    large polygons gives every pixel the value of one whole-polygon burn."""
    import shapely
    from rasterio.features import rasterize

    from benpipe.dataset import labels

    rng = np.random.default_rng(7)
    n = 600  # 6 km at 10 m: five strips of 120 rows
    transform = Affine(10, 0, 500_000, 0, -10, 5_306_000)
    y = np.linspace(5_306_500, 5_299_500, 20_000)
    x = 502_000 + 900 * np.sin(y / 700) + rng.normal(0, 15, len(y))
    coast = shapely.Polygon(np.r_[np.c_[x, y], [[495_000, y[-1]], [495_000, y[0]]]])
    coast = shapely.make_valid(coast)
    assert shapely.get_num_coordinates(coast) > labels.LARGE_POLYGON_VERTICES
    fields = [
        ClcShape(312, "EU_1", 1, shapely.box(501_000, 5_301_000, 504_000, 5_305_000)),
        ClcShape(523, "EU_2", 1, coast),  # burnt over EU_1, under EU_3
        ClcShape(211, "EU_3", 1, shapely.box(500_500, 5_300_500, 501_500, 5_302_000)),
    ]
    burned = burn_clc(fields, transform=transform, height=n, width=n)
    whole = np.zeros((n, n), dtype=np.uint16)
    rasterize(
        [(s.geometry, s.code_18) for s in fields],
        out=whole,
        transform=transform,
        all_touched=False,
    )
    assert (burned == whole).all()
    assert set(np.unique(burned).tolist()) == {0, 211, 312, 523}
