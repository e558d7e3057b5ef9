"""QA core: previews, stretch, CLC palette, patch outcomes, statistics."""

from __future__ import annotations

import random

import numpy as np
import pytest

from benpipe.clc import BEN19_CLASSES, CLC_RGBA
from benpipe.errors import InputDataError
from benpipe.grid import PatchGridParams, split_for_patch
from benpipe.qa.core import (
    Outcome,
    PatchRecord,
    block_mean_nonzero,
    category_boundaries,
    cell_mask,
    class_counts_by_split,
    class_slug,
    clc_shares,
    clc_to_rgb,
    cooccurrence,
    counts_by,
    gallery_samples,
    outcome_counts,
    outcome_grid,
    preview_factor,
    sample_block_centres,
    split_grid,
    stretch_rgb,
    tile_label,
)

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def record(
    col: int, labels: tuple[str, ...], split: str = "train", **kw
) -> PatchRecord:
    return PatchRecord(
        patch_id=f"{kw.pop('tile', TILE)}_{col:02d}_00",
        labels=labels,
        split=split,
        country=kw.pop("country", "Austria"),
        s1_name="S1B_IW_GRDH_1SDV_20170612T165809_33UUP_1_1",
        flagged=False,
    )


@pytest.mark.parametrize(
    ("side_px", "factor"), [(10980, 11), (1200, 2), (1000, 1), (999, 1), (1001, 2)]
)
def test_preview_factor_brings_a_tile_to_about_1000_px(side_px, factor):
    assert preview_factor(side_px) == factor
    assert side_px // factor <= 1000


def test_preview_factor_refuses_an_empty_raster():
    with pytest.raises(InputDataError, match="0 px"):
        preview_factor(0)


def test_block_mean_ignores_nodata_and_drops_the_ragged_edge():
    band = np.array(
        [
            [0, 4, 10, 10, 7],
            [2, 0, 10, 10, 7],
            [0, 0, 1, 2, 7],
            [0, 0, 3, 4, 7],
            [9, 9, 9, 9, 9],
        ],
        dtype=np.uint16,
    )
    out = block_mean_nonzero(band, 2)
    assert out.dtype == np.uint16
    # mean of (4, 2) = 3; all-nodata block stays 0; (1+2+3+4)/4 = 2 (floor)
    assert out.tolist() == [[3, 10], [0, 2]]


def test_block_mean_of_a_full_tile_band_matches_numpy():
    rng = np.random.default_rng(1)
    band = rng.integers(1, 5000, (1200, 1200), dtype=np.uint16)
    out = block_mean_nonzero(band, 2)
    expected = band.reshape(600, 2, 600, 2).astype(np.float64).mean(axis=(1, 3))
    assert out.shape == (600, 600)
    assert np.array_equal(out, np.floor(expected).astype(np.uint16))


def test_sample_block_centres_takes_the_centre_pixel():
    codes = np.arange(36, dtype=np.uint16).reshape(6, 6)
    assert sample_block_centres(codes, 3).tolist() == [[7, 10], [25, 28]]


def test_stretch_maps_the_2_and_98_percentiles_and_keeps_nodata_black():
    values = np.arange(1, 101, dtype=np.uint16).reshape(10, 10)
    rgb = np.stack([values, values, values], axis=2)
    rgb[0, 0] = 0  # nodata in every band
    out = stretch_rgb(rgb)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [0, 0, 0]  # 2 <= 2nd percentile
    assert out[9, 9].tolist() == [255, 255, 255]  # 100 >= 98th percentile
    middle = out[4, 9, 0]  # value 50: halfway
    assert 120 <= middle <= 135


def test_stretch_of_a_constant_band_does_not_divide_by_zero():
    rgb = np.full((4, 4, 3), 500, dtype=np.uint16)
    out = stretch_rgb(rgb)
    assert np.isfinite(out.astype(float)).all()


def test_stretch_refuses_a_wrong_shape():
    with pytest.raises(InputDataError, match=r"\(h, w, 3\)"):
        stretch_rgb(np.zeros((4, 4), dtype=np.uint16))


def test_clc_palette_colours_codes_and_draws_uncovered_as_999():
    codes = np.array([[311, 0], [999, 523]], dtype=np.uint16)
    rgb = clc_to_rgb(codes)
    assert rgb[0, 0].tolist() == list(CLC_RGBA[311][:3])
    assert rgb[0, 1].tolist() == list(CLC_RGBA[999][:3])
    assert rgb[1, 1].tolist() == list(CLC_RGBA[523][:3])


def test_clc_palette_names_a_code_outside_clc():
    # torchgeo's plot() crashes on these; we say which code is wrong.
    with pytest.raises(InputDataError, match=r"\[998\]"):
        clc_to_rgb(np.array([[311, 998]], dtype=np.uint16))


def test_clc_shares_count_uncovered_as_999():
    shares = clc_shares(np.array([[311, 311, 0, 999]], dtype=np.uint16))
    assert shares == {311: 0.5, 999: 0.5}


def test_outcomes_follow_the_order_of_precedence():
    nodata = np.array([[True, False, False, False]])
    covered = np.array([[True, False, True, True]])
    kept = np.array([[False, False, False, True]])
    grid = outcome_grid(nodata=nodata, covered=covered, kept=kept, fails_quality=False)
    assert [Outcome(v) for v in grid[0]] == [
        Outcome.NODATA,
        Outcome.NO_CLC,
        Outcome.UNLABELED,
        Outcome.KEPT,
    ]
    failing = outcome_grid(
        nodata=nodata, covered=covered, kept=kept, fails_quality=True
    )
    assert [Outcome(v) for v in failing[0]] == [Outcome.NODATA] + 3 * [
        Outcome.FAILS_QUALITY
    ]
    counts = outcome_counts(grid)
    assert set(counts) == set(Outcome) and sum(counts.values()) == 4


def test_outcomes_refuse_masks_of_different_grids():
    with pytest.raises(InputDataError, match="different grids"):
        outcome_grid(
            nodata=np.zeros((3, 3), bool),
            covered=np.zeros((4, 4), bool),
            kept=np.zeros((3, 3), bool),
            fails_quality=False,
        )


def test_split_grid_is_the_closed_form_split_of_every_patch():
    grid = split_grid(tile_side_m=109_800, patch_side_m=1200)
    params = PatchGridParams(tile_side_m=109_800)
    assert grid.shape == (91, 91)
    names = ("train", "validation", "test")
    for row in range(0, 91, 7):
        for col in range(91):
            assert names[grid[row, col]] == split_for_patch(
                col=col, row=row, params=params
            )
    # rings: symmetric in col and row, test in the middle, train on the border
    assert np.array_equal(grid, grid.T)
    assert grid[45, 45] == 2 and grid[0, 0] == 0


def test_category_boundaries_outline_the_inner_square():
    grid = np.zeros((3, 3), dtype=np.uint8)
    grid[1, 1] = 2
    segments = category_boundaries(grid, cell_m=1.0)
    assert list(segments) == [2]
    edges = {(s.x0_m, s.y0_m, s.x1_m, s.y1_m) for s in segments[2]}
    assert edges == {(1, 1, 1, 2), (2, 1, 2, 2), (1, 1, 2, 1), (1, 2, 2, 2)}


def test_cell_mask_maps_preview_pixels_to_patches():
    cells = np.array([[True, False], [False, True]])
    # 500 m pixels over 2 cells of 1200 m: centres 250, 750, 1250, ..., 2750
    mask = cell_mask((6, 6), pixel_m=500, cell_m=1200, cells=cells)
    assert mask[0].tolist() == [True, True, False, False, False, False]
    assert mask[4].tolist() == [False, False, True, True, True, False]
    assert not mask[5].any()  # centre 2750 m: beyond the 2400 m grid


def test_class_counts_and_cooccurrence():
    a, b, c = BEN19_CLASSES[0], BEN19_CLASSES[2], BEN19_CLASSES[9]
    records = [
        record(0, (a, b), "train"),
        record(1, (a,), "test"),
        record(2, (a, b, c), "validation"),
    ]
    table = class_counts_by_split(records)
    assert list(table) == list(BEN19_CLASSES)
    assert table[a] == {"train": 1, "validation": 1, "test": 1}
    assert table[c] == {"train": 0, "validation": 1, "test": 0}
    matrix = cooccurrence(records)
    assert (matrix == matrix.T).all()
    assert matrix[0, 0] == 3 and matrix[0, 2] == 2 and matrix[2, 9] == 1
    assert matrix.sum() == sum(len(r.labels) ** 2 for r in records)


def test_a_label_outside_the_19_classes_is_named():
    with pytest.raises(InputDataError, match="'Snow'"):
        class_counts_by_split([record(0, ("Snow",))])


def test_counts_by_lists_every_season_and_refuses_unknown_values():
    records = [record(0, (BEN19_CLASSES[0],), "train")]
    seasons = counts_by(records, "season", order=("spring", "summer", "fall", "winter"))
    assert seasons == {
        "spring": {"train": 0, "validation": 0, "test": 0},
        "summer": {"train": 1, "validation": 0, "test": 0},
        "fall": {"train": 0, "validation": 0, "test": 0},
        "winter": {"train": 0, "validation": 0, "test": 0},
    }
    with pytest.raises(InputDataError, match="Austria"):
        counts_by(records, "country", order=("Portugal",))


def test_season_ignores_the_reference_quirk():
    # 31 May is spring (the reference's midnight comparison would say winter).
    rec = record(0, (), tile="S2A_MSIL2A_20170531T101031_N9999_R022_T33UUP")
    assert rec.season == "spring"


def test_gallery_samples_are_deterministic_and_prefer_few_labels():
    a, b = BEN19_CLASSES[0], BEN19_CLASSES[4]
    records = [record(i, (a, b) if i % 2 else (a,)) for i in range(10)]
    first = gallery_samples(records, per_class=3)
    shuffled = records[:]
    random.Random(4).shuffle(shuffled)
    assert gallery_samples(shuffled, per_class=3) == first
    assert list(first) == [a, b]  # class order of BEN-19
    assert all(len(r.labels) == 1 for r in first[a])
    assert len(first[b]) == 3


def test_class_slugs_are_unique_file_names():
    slugs = [class_slug(c) for c in BEN19_CLASSES]
    assert len(set(slugs)) == 19
    assert slugs[8] == "09_broad_leaved_forest"
    assert all(s.replace("_", "").isalnum() for s in slugs)


def test_tile_label():
    assert tile_label(TILE) == "T33UUP 2017-06-13 S2A"
