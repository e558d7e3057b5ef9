"""Fault: the v1 snow, cloud and S1 lists must describe the run's patches.

Issue 14, BAD 5: a snow list whose names matched no patch gave 0 snow flags
and moved those patches into ``metadata.parquet`` with no warning; with
production settings the run exited 0.  Now every name must be a v1 patch
name, names that are no patch of the run are counted (a warning when no v1
patch has that name), and a list that matches none of the run's patches,
although the run has patches it could match, is an error naming the file.
"""

from __future__ import annotations

import json
import logging

import pytest

from benpipe.dataset.finalize import (
    build_metadata,
    finalize_dataset,
    list_coverage,
)
from benpipe.errors import InputDataError
from unit.test_finalize import _write_csv, build_staging, s1_of, s2v1_of

#: A product outside the test run (another datatake on another tile).
OTHER_V1 = "S2B_MSIL2A_20180204T094159"
OTHER_S1 = "S1A_IW_GRDH_1SDV_20180204T180000_29SND"


def _s1s2_rows(staging: dict, *, extra: int = 0) -> list[tuple[str, str]]:
    rows = [(s2v1_of(p), s1_of(p)) for p in staging["grid"]]
    rows += [(f"{OTHER_V1}_{i}_1", f"{OTHER_S1}_{i}_1") for i in range(extra)]
    return rows


def test_a_snow_list_that_matches_no_patch_is_an_error_naming_it(tmp_path):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    # well-formed v1 names that no v1 patch has (shifted columns)
    _write_csv(
        inputs.seasonal_snow_list,
        None,
        [(f"S2A_MSIL2A_20170613T101031_{50 + i}_7",) for i in range(4)],
        eol="\r\n",
    )
    with pytest.raises(InputDataError) as info:
        build_metadata(inputs)
    message = str(info.value)
    assert str(inputs.seasonal_snow_list) in message
    assert "inputs.seasonal_snow_list" in message
    assert "none of its 4 names is a v1 patch of this run" in message


def test_a_cloud_list_of_names_on_the_runs_products_but_no_patch_is_an_error(
    tmp_path,
):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    # a v1 patch of the run's product that is no patch of the run
    stray = (
        "S2A_MSIL2A_20170613T101031_5_5",
        "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_5_5",
    )
    _write_csv(inputs.s1s2_mapping, None, [*_s1s2_rows(staging), stray])
    _write_csv(inputs.cloud_shadow_list, None, [(stray[0],)], eol="\r\n")
    with pytest.raises(InputDataError, match="1 lie on the run's products"):
        build_metadata(inputs)


def test_names_that_are_not_v1_patch_names_are_refused_with_file_and_line(tmp_path):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    snowy = staging["snowy"]  # a v2 patch id: the wrong column of another file
    _write_csv(
        inputs.seasonal_snow_list,
        None,
        [(s2v1_of(snowy),), (snowy,)],
        eol="\r\n",
    )
    with pytest.raises(InputDataError) as info:
        build_metadata(inputs)
    assert f"{inputs.seasonal_snow_list} line 2" in str(info.value)
    assert "v1 patch name" in str(info.value)


def test_s1s2_mapping_names_are_checked_for_their_form(tmp_path):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    rows = _s1s2_rows(staging)
    rows[3] = (rows[3][0], rows[3][1].replace("_IW_GRDH_", "_EW_GRDM_"))
    _write_csv(inputs.s1s2_mapping, None, rows)
    with pytest.raises(InputDataError, match=r"s1s2_mapping.csv line 4: S1 patch name"):
        build_metadata(inputs)


def test_unknown_names_are_counted_in_a_warning_and_recorded(tmp_path, caplog):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    _write_csv(
        inputs.seasonal_snow_list,
        None,
        [(s2v1_of(staging["snowy"]),), ("S2A_MSIL2A_20170613T101031_77_77",)],
        eol="\r\n",
    )
    with caplog.at_level(logging.WARNING, logger="benpipe.dataset.finalize"):
        result = finalize_dataset(
            inputs,
            s2_roots=staging["s2_roots"],
            reference_map_roots=staging["map_roots"],
            s1_root=staging["s1_root"],
            out_dir=tmp_path / "dataset",
            manifest_path=tmp_path / "dataset.json",
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "inputs.seasonal_snow_list" in w and "1 unknown v1 names" in w for w in warnings
    ), warnings
    assert result.manifest["flags"]["contains_seasonal_snow"] == 1
    recorded = json.loads((tmp_path / "dataset.json").read_text())["input_lists"]
    assert recorded["seasonal_snow_list"] == {
        "names": 2,
        "patches_of_this_run": 1,
        "on_this_runs_products_but_no_patch": 0,
        "on_other_products": 0,
        "unknown_v1_names": 1,
    }


def test_a_list_of_other_products_only_is_fine_in_a_partial_run(tmp_path, caplog):
    """A run of some products: a list may flag nothing on them (no warning)."""
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    _write_csv(inputs.s1s2_mapping, None, _s1s2_rows(staging, extra=3))
    _write_csv(
        inputs.seasonal_snow_list,
        None,
        [(f"{OTHER_V1}_{i}_1",) for i in range(3)],
        eol="\r\n",
    )
    with caplog.at_level(logging.INFO, logger="benpipe.dataset.finalize"):
        tables = build_metadata(inputs)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert tables.lists["seasonal_snow_list"].elsewhere == 3
    assert tables.lists["s1s2_mapping"].elsewhere == 3
    assert not any(tables.flagged.column("contains_seasonal_snow").to_pylist())


def test_list_coverage_classes():
    run_v1 = {"S2A_MSIL2A_20170613T101031_1_1": "33UUP"}
    s1s2 = {
        "S2A_MSIL2A_20170613T101031_1_1": "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_1_1",
        "S2A_MSIL2A_20170613T101031_2_1": "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_2_1",
        # the same datatake on another tile is another product
        "S2A_MSIL2A_20170613T101031_3_1": "S1B_IW_GRDH_1SDV_20170612T165809_33UVP_3_1",
    }
    cover = list_coverage(
        [*s1s2, "S2A_MSIL2A_20170613T101031_9_9"], run_v1=run_v1, s1s2=s1s2
    )
    assert (cover.matched, cover.missed, cover.elsewhere, cover.unknown) == (1, 1, 1, 1)
