"""Dataset assembly: metadata joins and constraints, parquet schema and bytes, tree."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from benpipe.dataset.export import export_product
from benpipe.dataset.finalize import (
    METADATA_SCHEMA,
    FinalizeInputs,
    build_metadata,
    finalize_dataset,
)
from benpipe.dataset.layout import (
    FLAGGED_METADATA_FILE,
    METADATA_COLUMNS,
    METADATA_FILE,
)
from benpipe.errors import InputDataError
from benpipe.names import BANDS, parse_patch_name, patch_name, tile_dir_for

from .test_export import FakeProduct

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)

PRODUCTS = {
    "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000": (
        32633,
        300_000.0,
        5_400_000.0,
        "S1B_IW_GRDH_1SDV_20170612T165809",
        "33UUP",
    ),
    "S2B_MSIL2A_20170818T112109_N9999_R037_T29SNB_20240101T000000": (
        32629,
        600_000.0,
        4_300_020.0,
        "S1A_IW_GRDH_1SDV_20170819T183432",
        "29SNB",
    ),
}
LABELS = ["Urban fabric", "Arable land", "Mixed forest", "Inland waters"]


def s2v1_of(pid: str) -> str:
    p = parse_patch_name(pid)
    mission_date = p.tile_dir.split("_N9999")[0]
    return f"{mission_date}_{p.col}_{p.row}"


def s1_of(pid: str) -> str:
    p = parse_patch_name(pid)
    for name, (_, _, _, group, mgrs) in PRODUCTS.items():
        if tile_dir_for(name) == p.tile_dir:
            return f"{group}_{mgrs}_{p.col}_{p.row}"
    raise KeyError(pid)


def _write_tif(
    path: Path, data: np.ndarray, *, epsg: int, left: float, top: float, **kw
):
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": CRS.from_epsg(epsg),
        "transform": Affine(10.0, 0.0, left, 0.0, -10.0, top),
        **kw,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _write_csv(path: Path, header: str | None, rows: list[tuple[str, ...]], eol="\n"):
    lines = ([header] if header else []) + [",".join(r) for r in rows]
    path.write_bytes("".join(f"{line}{eol}" for line in lines).encode())


def build_staging(root: Path) -> dict:
    """Two 2x2-patch products exported, maps, S1 patches and the 7 CSV inputs.

    Patch (1, 1) of the first product is unlabelled (exported, not kept);
    (0, 1) of the first product is in the v1 snow list, (1, 0) of the second
    in the v1 cloud list.
    """
    s2_roots, map_roots, grid = [], [], []
    s1_root = root / "s1"
    rng = np.random.default_rng(7)
    for name, (epsg, ulx, uly, _, _) in PRODUCTS.items():
        s2_root = root / "export" / "s2" / name
        export_product(
            FakeProduct(name=name, epsg=epsg, ulx=ulx, uly=uly, tile_side_m=2400),
            s2_root,
        )
        s2_roots.append(s2_root)
        map_root = root / "export" / "reference_maps" / name
        map_roots.append(map_root)
        for row in range(2):
            for col in range(2):
                pid = patch_name(name, col=col, row=row)
                grid.append(pid)
                left, top = ulx + col * 1200, uly - row * 1200
                codes = rng.choice([112, 211, 313, 512], (120, 120)).astype(np.uint16)
                _write_tif(
                    map_root / tile_dir_for(name) / pid / f"{pid}_reference_map.tif",
                    codes,
                    epsg=epsg,
                    left=left,
                    top=top,
                    nodata=0,
                    compress="deflate",
                    predictor=2,
                )
                s1 = s1_of(pid)
                for pol in ("VV", "VH"):
                    _write_tif(
                        s1_root / s1 / f"{s1}_{pol}.tif",
                        rng.normal(-12, 3, (120, 120)).astype(np.float32),
                        epsg=epsg,
                        left=left,
                        top=top,
                    )
    grid.sort()
    unlabelled = patch_name(next(iter(PRODUCTS)), col=1, row=1)
    labelled = [p for p in grid if p != unlabelled]
    label_rows = sorted(
        (pid, label) for i, pid in enumerate(labelled) for label in LABELS[: 1 + i % 3]
    )
    meta = root / "metadata"
    meta.mkdir()
    inputs = FinalizeInputs(
        label_mapping=meta / "patch_id_label_mapping.csv",
        s2v1_mapping=meta / "patch_id_s2v1_mapping.csv",
        split_mapping=meta / "patch_id_split_mapping.csv",
        country_mapping=meta / "patch_id_country_mapping.csv",
        s1s2_mapping=root / "s1s2_mapping.csv",
        seasonal_snow_list=root / "patches_with_seasonal_snow.csv",
        cloud_shadow_list=root / "patches_with_cloud_and_shadow.csv",
    )
    splits = ["train", "validation", "test"]
    _write_csv(inputs.label_mapping, "patch_id,label", label_rows)
    _write_csv(
        inputs.s2v1_mapping, "patch_id,s2v1_name", [(p, s2v1_of(p)) for p in grid]
    )
    _write_csv(
        inputs.split_mapping,
        "patch_id,split",
        [(p, splits[i % 3]) for i, p in enumerate(grid)],
    )
    _write_csv(
        inputs.country_mapping,
        "patch_id,country",
        [(p, "Austria" if "T33UUP" in p else "Portugal") for p in grid],
    )
    _write_csv(inputs.s1s2_mapping, None, [(s2v1_of(p), s1_of(p)) for p in grid])
    names = list(PRODUCTS)
    snowy = patch_name(names[0], col=0, row=1)
    cloudy = patch_name(names[1], col=1, row=0)
    _write_csv(inputs.seasonal_snow_list, None, [(s2v1_of(snowy),)], eol="\r\n")
    _write_csv(inputs.cloud_shadow_list, None, [(s2v1_of(cloudy),)], eol="\r\n")
    return {
        "inputs": inputs,
        "s2_roots": s2_roots,
        "map_roots": map_roots,
        "s1_root": s1_root,
        "grid": grid,
        "labelled": labelled,
        "unlabelled": unlabelled,
        "snowy": snowy,
        "cloudy": cloudy,
        "label_rows": label_rows,
    }


def build_dataset(root: Path) -> tuple[Path, dict]:
    """A small finalized dataset (and its staging facts) for the checker tests."""
    staging = build_staging(root)
    out = root / "dataset"
    finalize_dataset(
        staging["inputs"],
        s2_roots=staging["s2_roots"],
        reference_map_roots=staging["map_roots"],
        s1_root=staging["s1_root"],
        out_dir=out,
        manifest_path=root / "dataset.json",
    )
    return out, staging


def test_metadata_rows_joins_and_flags(tmp_path):
    staging = build_staging(tmp_path)
    tables = build_metadata(staging["inputs"])
    clean = tables.clean.to_pylist()
    flagged = tables.flagged.to_pylist()
    assert [r["patch_id"] for r in clean] == sorted(
        set(staging["labelled"]) - {staging["snowy"], staging["cloudy"]}
    )
    assert [r["patch_id"] for r in flagged] == sorted(
        [staging["snowy"], staging["cloudy"]]
    )
    by_id = {r["patch_id"]: r for r in clean + flagged}
    assert by_id[staging["snowy"]]["contains_seasonal_snow"] is True
    assert by_id[staging["snowy"]]["contains_cloud_or_shadow"] is False
    assert by_id[staging["cloudy"]]["contains_cloud_or_shadow"] is True
    for pid, row in by_id.items():
        expected = sorted(label for p, label in staging["label_rows"] if p == pid)
        assert row["labels"] == expected
        assert row["s1_name"] == s1_of(pid)
        assert row["s2v1_name"] == s2v1_of(pid)
    assert not any(
        r["contains_seasonal_snow"] or r["contains_cloud_or_shadow"] for r in clean
    )


def test_parquets_have_fixed_schema_and_deterministic_bytes(tmp_path):
    out, staging = build_dataset(tmp_path / "one")
    out2, _ = build_dataset(tmp_path / "two")
    for name in (METADATA_FILE, FLAGGED_METADATA_FILE):
        assert (out / name).read_bytes() == (out2 / name).read_bytes()
        pf = pq.ParquetFile(out / name)
        assert pf.schema_arrow.equals(METADATA_SCHEMA, check_metadata=True)
        assert tuple(pf.schema_arrow.names) == METADATA_COLUMNS
        assert pf.schema_arrow.metadata is None  # no pandas / ARROW:schema metadata
        ids = pf.read().column("patch_id").to_pylist()
        assert ids == sorted(ids)


def test_metadata_schema_equals_the_reference_parquet(tmp_path):
    reference = REFERENCE / "metadata.parquet"
    if not reference.exists():
        pytest.skip(f"reference artifact {reference} is absent (../shared not mounted)")
    out, _ = build_dataset(tmp_path)
    ref = pq.ParquetFile(reference).schema_arrow
    for name in (METADATA_FILE, FLAGGED_METADATA_FILE):
        ours = pq.ParquetFile(out / name).schema_arrow
        assert ours.names == ref.names
        assert [f.type for f in ours] == [f.type for f in ref]
        assert [f.nullable for f in ours] == [f.nullable for f in ref]
        assert ours.equals(ref, check_metadata=True)


def test_tree_has_reference_layout_and_only_kept_patches(tmp_path):
    out, staging = build_dataset(tmp_path)
    kept = sorted(staging["labelled"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "BigEarthNet-S1",
            "BigEarthNet-S2",
            "Reference_Maps",
            METADATA_FILE,
            FLAGGED_METADATA_FILE,
        ]
    )
    s2 = sorted(
        p.relative_to(out).as_posix() for p in (out / "BigEarthNet-S2").rglob("*.tif")
    )
    assert s2 == sorted(
        f"BigEarthNet-S2/{parse_patch_name(p).tile_dir}/{p}/{p}_{b}.tif"
        for p in kept
        for b in BANDS
    )
    maps = sorted(
        p.relative_to(out).as_posix() for p in (out / "Reference_Maps").rglob("*.tif")
    )
    assert maps == sorted(
        f"Reference_Maps/{parse_patch_name(p).tile_dir}/{p}/{p}_reference_map.tif"
        for p in kept
    )
    s1 = sorted(
        p.relative_to(out).as_posix() for p in (out / "BigEarthNet-S1").rglob("*.tif")
    )
    expected_s1 = []
    for p in kept:
        name = s1_of(p)
        group = "_".join(name.split("_")[:-3])
        expected_s1 += [
            f"BigEarthNet-S1/{group}/{name}/{name}_{pol}.tif" for pol in ("VV", "VH")
        ]
    assert s1 == sorted(expected_s1)
    # bytes are the staging bytes (hard links or copies)
    pid = kept[0]
    tile = parse_patch_name(pid).tile_dir
    src = (
        next(r for r in staging["s2_roots"] if (r / tile).exists())
        / tile
        / pid
        / f"{pid}_B02.tif"
    )
    dst = out / "BigEarthNet-S2" / tile / pid / f"{pid}_B02.tif"
    assert (
        hashlib.sha256(src.read_bytes()).digest()
        == hashlib.sha256(dst.read_bytes()).digest()
    )
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    assert manifest["parquets"] == {METADATA_FILE: 5, FLAGGED_METADATA_FILE: 2}
    assert manifest["skipped"] == {"exported_not_in_metadata": 1}
    assert sum(manifest["split"].values()) == 7
    assert not (tmp_path / ".dataset.tmp").exists()


def test_unlabelled_patch_missing_from_split_is_named(tmp_path):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    victim = staging["labelled"][2]
    lines = inputs.split_mapping.read_text().splitlines(keepends=True)
    inputs.split_mapping.write_text(
        "".join(line for line in lines if not line.startswith(victim))
    )
    with pytest.raises(InputDataError, match=f"patch_id_split_mapping.csv.*{victim}"):
        build_metadata(inputs)


def test_missing_s1_name_is_named(tmp_path):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    victim = staging["labelled"][0]
    _write_csv(
        inputs.s1s2_mapping,
        None,
        [(s2v1_of(p), s1_of(p)) for p in staging["grid"] if p != victim],
    )
    with pytest.raises(InputDataError, match=f"s1s2_mapping.csv.*{victim}"):
        build_metadata(inputs)


@pytest.mark.parametrize(
    "which,content,message",
    [
        (
            "split_mapping",
            "patch_id,split\nP,val\n",
            r"line 2: split 'val'.*train, validation, test",
        ),
        (
            "split_mapping",
            "patch,split\nP,train\n",
            "expected the header 'patch_id,split'",
        ),
        (
            "label_mapping",
            "patch_id,label\nP,A\nP,A\n",
            r"line 3: duplicate \(patch_id, label\)",
        ),
        (
            "country_mapping",
            "patch_id,country\nP,Austria\nP,Serbia\n",
            "line 3: duplicate patch_id 'P'",
        ),
        (
            "s2v1_mapping",
            "patch_id,s2v1_name\nP,X\nQ,X\n",
            "line 3: duplicate s2v1_name 'X'",
        ),
        ("s2v1_mapping", "patch_id,s2v1_name\nP,\n", "line 2: expected 2 non-empty"),
        ("cloud_shadow_list", "", "no data rows"),
    ],
)
def test_constraint_violations_name_file_and_line(tmp_path, which, content, message):
    staging = build_staging(tmp_path)
    inputs = staging["inputs"]
    path = getattr(inputs, which)
    path.write_text(content)
    with pytest.raises(InputDataError, match=message) as info:
        build_metadata(inputs)
    assert path.name in str(info.value)


def test_missing_staging_file_fails_and_leaves_no_dataset(tmp_path):
    staging = build_staging(tmp_path)
    pid = staging["labelled"][0]
    tile = parse_patch_name(pid).tile_dir
    root = next(r for r in staging["s2_roots"] if (r / tile).exists())
    (root / tile / pid / f"{pid}_B8A.tif").unlink()
    with pytest.raises(InputDataError, match=f"missing .*{pid}_B8A.tif"):
        finalize_dataset(
            staging["inputs"],
            s2_roots=staging["s2_roots"],
            reference_map_roots=staging["map_roots"],
            s1_root=staging["s1_root"],
            out_dir=tmp_path / "dataset",
        )
    assert not (tmp_path / "dataset").exists()
