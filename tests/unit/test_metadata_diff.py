"""benpipe compare-metadata: patch-by-patch diff of metadata parquets."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from benpipe.dataset.finalize import METADATA_SCHEMA
from benpipe.errors import InputDataError
from benpipe.release.metadata_diff import compare_metadata, render_markdown

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)
CLEAN = "metadata.parquet"
FLAGGED = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
SCHEMA = METADATA_SCHEMA


def _row(x: int, *, snow: bool = False, labels=("Arable land", "Pastures")) -> dict:
    return {
        "patch_id": f"{TILE}_{x:02d}_01",
        "labels": list(labels),
        "split": "train",
        "country": "Austria",
        "s1_name": f"S1A_IW_GRDH_1SDV_20170614T051440_33UUP_{x}_1",
        "s2v1_name": f"S2A_MSIL2A_20170613T101031_{x}_1",
        "contains_seasonal_snow": snow,
        "contains_cloud_or_shadow": False,
    }


def _write(folder: Path, clean: list[dict], flagged: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(clean, schema=SCHEMA), folder / CLEAN)
    pq.write_table(pa.Table.from_pylist(flagged, schema=SCHEMA), folder / FLAGGED)
    return folder


def test_identical_folders(tmp_path: Path) -> None:
    rows = [_row(x) for x in range(5)]
    a = _write(tmp_path / "a", rows, [_row(9, snow=True)])
    b = _write(tmp_path / "b", rows, [_row(9, snow=True)])
    result = compare_metadata(a, b)
    assert result.identical
    assert result.common == 6
    assert render_markdown(result).splitlines()[0] == (
        "# Metadata comparison: identical: 6 patches, every column equal"
    )


def test_every_kind_of_difference_is_named(tmp_path: Path) -> None:
    ours = [_row(x) for x in range(6)]
    published = [_row(x) for x in range(1, 7)]  # 0 only ours, 6 only published
    ours[1]["labels"] = ["Arable land", "Mixed forest"]  # +Mixed forest -Pastures
    ours[2]["split"] = "test"
    ours[3]["country"] = "Luxembourg"
    ours[4]["s1_name"] = "S1B_other"
    a = _write(tmp_path / "a", ours[:5], [_row(5, snow=True)])  # 5 moved to flagged
    b = _write(tmp_path / "b", published, [])
    result = compare_metadata(a, b)
    data = result.to_json()
    assert not result.identical
    assert data["patches"] == {
        "common": 5,
        "only_ours": 1,
        "only_published": 1,
        "common_with_differences": 5,
    }
    assert data["only_ours"]["examples"] == [f"{TILE}_00_01"]
    assert data["only_published"]["examples"] == [f"{TILE}_06_01"]
    cols = data["columns"]
    assert {c: d["differ"] for c, d in cols.items()} == {
        "labels": 1,
        "split": 1,
        "country": 1,
        "s1_name": 1,
        "s2v1_name": 0,
        "contains_seasonal_snow": 1,
        "contains_cloud_or_shadow": 0,
        "parquet": 1,
    }
    assert cols["labels"]["examples"] == [
        {
            "patch_id": f"{TILE}_01_01",
            "added": ["Mixed forest"],
            "removed": ["Pastures"],
        }
    ]
    assert cols["labels"]["labels_added"] == {"Mixed forest": 1}
    assert cols["split"]["changes"] == {"test -> train": 1}
    assert cols["country"]["examples"] == [
        {"patch_id": f"{TILE}_03_01", "ours": "Luxembourg", "published": "Austria"}
    ]
    assert cols["parquet"]["changes"] == {f"{FLAGGED} -> {CLEAN}": 1}
    assert cols["split"]["per_tile"] == {TILE: 1}
    md = render_markdown(result)
    assert "| column | patches differing |" in md
    assert f"| {TILE} | 1 | 1 | 1 | 1 | 1 | 1 | 1 | 1 |" in md
    assert f"- `{TILE}_03_01`: Luxembourg -> Austria" in md


def test_single_files_and_bad_inputs(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", [_row(1)], [])
    b = _write(tmp_path / "b", [_row(1)], [])
    assert compare_metadata(a / CLEAN, b / CLEAN).identical
    (b / FLAGGED).unlink()
    with pytest.raises(InputDataError, match=f"lacks {FLAGGED}"):
        compare_metadata(a, b)
    pq.write_table(pa.table({"patch_id": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(InputDataError, match="no column.*labels"):
        compare_metadata(a / CLEAN, tmp_path / "bad.parquet")
    _write(tmp_path / "dup", [_row(1)], [_row(1, snow=True)])
    with pytest.raises(InputDataError, match="1 patch id.*more than once"):
        compare_metadata(tmp_path / "dup", a)


def test_cli_writes_markdown_and_json_and_strict_fails(tmp_path: Path) -> None:
    from benpipe.cli import main

    a = _write(tmp_path / "a", [_row(1), _row(2)], [])
    changed = _row(2)
    changed["split"] = "validation"
    b = _write(tmp_path / "b", [_row(1), changed], [])
    runner = CliRunner()
    out = runner.invoke(main, ["compare-metadata", str(a), str(b)])
    assert out.exit_code == 0, out.output
    assert "## split: 1 patch(es) differ" in out.output
    args = ["compare-metadata", str(a), str(b), "--out-json", str(tmp_path / "d.json")]
    strict = runner.invoke(
        main, [*args, "--out-md", str(tmp_path / "d.md"), "--strict"]
    )
    assert strict.exit_code == 1
    assert "1 of 2 common patches differ" in strict.output
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["columns"]["split"]["examples"][0]["patch_id"] == f"{TILE}_02_01"
    assert (tmp_path / "d.md").read_text().startswith("# Metadata comparison")


def test_full_published_files_name_exactly_the_changed_patches(
    tmp_path: Path,
) -> None:
    if not (REFERENCE / CLEAN).is_file():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    ours = tmp_path / "ours"
    ours.mkdir()
    shutil.copy(REFERENCE / FLAGGED, ours / FLAGGED)
    table = pq.read_table(REFERENCE / CLEAN)
    assert table.num_rows == 480_038
    labels, splits, countries = {}, {}, {}
    edits: dict[int, dict] = {}
    for i in (3, 150_000, 479_999):
        row = table.slice(i, 1).to_pylist()[0]
        row["labels"] = sorted([*row["labels"], "Beaches, dunes, sands"])
        labels[row["patch_id"]] = "Beaches, dunes, sands"
        edits[i] = row
    for i in (10, 200_000, 400_000):
        row = table.slice(i, 1).to_pylist()[0]
        row["split"] = {"train": "test", "test": "validation"}.get(
            row["split"], "train"
        )
        splits[row["patch_id"]] = row["split"]
        edits[i] = row
    for i in (77, 300_001):
        row = table.slice(i, 1).to_pylist()[0]
        row["country"] = "Luxembourg" if row["country"] != "Luxembourg" else "Belgium"
        countries[row["patch_id"]] = row["country"]
        edits[i] = row
    pieces, start = [], 0
    for i in sorted(edits):  # replace the edited rows, keep the order
        pieces += [
            table.slice(start, i - start),
            pa.Table.from_pylist([edits[i]], schema=table.schema),
        ]
        start = i + 1
    pieces.append(table.slice(start))
    pq.write_table(pa.concat_tables(pieces), ours / CLEAN)

    start = time.perf_counter()
    result = compare_metadata(ours, REFERENCE, max_listed=50)
    seconds = time.perf_counter() - start
    assert seconds < 10, f"compare-metadata took {seconds:.1f} s on the full files"
    cols = result.to_json()["columns"]
    assert {e["patch_id"] for e in cols["labels"]["examples"]} == set(labels)
    assert all(
        e["added"] == ["Beaches, dunes, sands"] for e in cols["labels"]["examples"]
    )
    assert {e["patch_id"]: e["ours"] for e in cols["split"]["examples"]} == splits
    assert {e["patch_id"]: e["ours"] for e in cols["country"]["examples"]} == countries
    assert result.differing_patches == 8
    assert result.common == 549_488
    assert result.only_ours["count"] == result.only_published["count"] == 0
    assert all(
        d["differ"] == 0
        for c, d in cols.items()
        if c not in ("labels", "split", "country")
    )
    print(f"compare-metadata on the full published files: {seconds:.2f} s")
