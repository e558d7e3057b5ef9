"""BigEarthNet v1 side of the demo world: names, footprints, S1 patches, lists.

Formats follow REFERENCE-PIPELINE §2 (tile_names_and_links.csv), §5.0 and §8.2
(v1 footprint GeoParquet), §6.1 (s1s2 mapping, snow and cloud lists).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon, box

from benpipe.demo.raster import s1_backscatter, write_s1_tif
from benpipe.demo.spec import DESIGNED_PATCHES, ProductLayout, ProductSpec
from benpipe.log import ProgressCallback
from benpipe.names import parse_product_name, parse_v1_patch_name, v1_patch_name

#: S1 acquisitions (group names) behind each product's v1 S1 patches; rows of
#: the tile are split evenly between them, north to south.
S1_GROUPS: dict[str, tuple[str, ...]] = {
    "P1": (
        "S1B_IW_GRDH_1SDV_20170612T165809",
        "S1B_IW_GRDH_1SDV_20170612T165834",
    ),
    "P2": (
        "S1B_IW_GRDH_1SDV_20170612T165809",
        "S1A_IW_GRDH_1SDV_20170614T051440",
    ),
    "P3": (
        "S1A_IW_GRDH_1SDV_20171016T165901",
        "S1A_IW_GRDH_1SDV_20171016T165926",
        "S1B_IW_GRDH_1SDV_20171018T051359",
    ),
    "P4": (
        "S1B_IW_GRDH_1SDV_20180203T183432",
        "S1B_IW_GRDH_1SDV_20180203T183457",
    ),
}

#: Time-token variants cycled over the v1 names of a product with malformed
#: tokens (hour without leading zero; seconds 60/61), REFERENCE-PIPELINE §5.5.
_MALFORMED_CYCLE = ("well-formed", "5-digit", "sec60", "5-digit-sec60", "sec61")
#: Share of valid, undesigned patches that get no v1 name.
WITHOUT_V1_SHARE = 0.08
OLD_LINK = "https://scihub.copernicus.eu/apihub/odata/v1/Products('{uuid}')/$value"


@dataclass(frozen=True, slots=True)
class V1Patch:
    """A v1 S2 patch of one product and its S1 partner."""

    name: str
    product_key: str
    l1c: str
    col: int
    row: int
    s1_name: str
    s1_group: str
    malformed: bool


def _time_token(hhmmss: str, variant: str) -> str:
    """Malform a well-formed ``hhmmss`` token the ways v1 did."""
    token = hhmmss
    if variant in ("sec60", "5-digit-sec60"):
        token = hhmmss[:4] + "60"
    elif variant == "sec61":
        token = hhmmss[:4] + "61"
    if variant.startswith("5-digit") and token.startswith("0"):
        token = token[1:]
    return token


def s1_groups(spec: ProductSpec) -> tuple[str, ...]:
    """The S1 groups of a product: :data:`S1_GROUPS`, else one acquisition
    the evening before the product's sensing time (products 5..N)."""
    if spec.key in S1_GROUPS:
        return S1_GROUPS[spec.key]
    sensed = parse_product_name(spec.name).sensing_time - timedelta(hours=16)
    return (f"S1A_IW_GRDH_1SDV_{sensed:%Y%m%dT%H%M%S}",)


def v1_name_for(layout: ProductLayout, *, col: int, row: int) -> tuple[str, bool]:
    """The v1 name of a patch: well-formed, time-shifted or malformed."""
    spec = layout.spec
    well_formed = v1_patch_name(spec.name, col=col, row=row)
    product = parse_product_name(spec.name)
    date, hhmmss = product.datatake.split("T")
    if spec.v1_time_offset_s:
        shifted = product.sensing_time + timedelta(seconds=spec.v1_time_offset_s)
        date, hhmmss = shifted.strftime("%Y%m%dT%H%M%S").split("T")
    malformed = False
    if spec.v1_malformed:
        variant = _MALFORMED_CYCLE[(col + 2 * row) % len(_MALFORMED_CYCLE)]
        if variant != "well-formed":
            malformed = True
            hhmmss = _time_token(hhmmss, variant)
    if not spec.v1_time_offset_s and not malformed:
        return well_formed, False
    prefix = well_formed.split("_")[0]
    return f"{prefix}_MSIL2A_{date}T{hhmmss}_{col}_{row}", malformed


def select_v1_patches(
    rng: np.random.Generator, layout: ProductLayout
) -> tuple[list[V1Patch], list[tuple[int, int]]]:
    """v1 patches of a product and the grid patches that have none.

    Most valid patches get a v1 name; about :data:`WITHOUT_V1_SHARE` do not
    (never a designed one); invalid (nodata) patches on even rows get one too.
    """
    spec = layout.spec
    n = layout.patches_per_side
    invalid = set(layout.invalid_patches())
    designed = {(d.col, d.row) for d in DESIGNED_PATCHES if d.product_key == spec.key}
    candidates = sorted(
        (c, r)
        for r in range(n)
        for c in range(n)
        if (c, r) not in invalid and (c, r) not in designed
    )
    n_drop = max(1, int(round(len(candidates) * WITHOUT_V1_SHARE)))
    drop_idx = rng.choice(len(candidates), size=n_drop, replace=False)
    dropped = {candidates[i] for i in sorted(drop_idx.tolist())}
    groups = s1_groups(spec)
    patches: list[V1Patch] = []
    without: list[tuple[int, int]] = []
    for row in range(n):
        for col in range(n):
            has_v1 = (col, row) not in dropped and (
                (col, row) not in invalid or row % 2 == 0
            )
            if not has_v1:
                without.append((col, row))
                continue
            name, malformed = v1_name_for(layout, col=col, row=row)
            group = groups[row * len(groups) // n]
            patches.append(
                V1Patch(
                    name=name,
                    product_key=spec.key,
                    l1c=spec.name,
                    col=col,
                    row=row,
                    s1_name=f"{group}_{spec.mgrs}_{col}_{row}",
                    s1_group=group,
                    malformed=malformed,
                )
            )
    return patches, sorted(without)


def old_product_uuid(l1c: str) -> str:
    """A stable stand-in for the product's old SciHub UUID."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"benpipe-demo-scihub:{l1c}.SAFE"))


def write_lines(path: Path, lines: list[str], *, crlf: bool) -> None:
    newline = "\r\n" if crlf else "\n"
    path.write_bytes("".join(line + newline for line in lines).encode("utf-8"))


def write_tile_names_and_links(path: Path, patches: list[V1Patch]) -> None:
    """No header, CRLF: v1 patch, L1C name with .SAFE, old SciHub link."""
    rows = sorted(patches, key=lambda p: (p.l1c, p.row, p.col))
    write_lines(
        path,
        [
            f"{p.name},{p.l1c}.SAFE,{OLD_LINK.format(uuid=old_product_uuid(p.l1c))}"
            for p in rows
        ],
        crlf=True,
    )


def write_s1s2_mapping(path: Path, patches: list[V1Patch]) -> None:
    """No header: s2v1_name,s1_name (one row per v1 patch, sorted)."""
    write_lines(path, sorted(f"{p.name},{p.s1_name}" for p in patches), crlf=False)


def _footprint_wkb(layout: ProductLayout, col: int, row: int) -> bytes:
    left, bottom, right, top = layout.patch_box(col, row)
    geom = MultiPolygon([box(left, bottom, right, top, ccw=True)])
    return bytes(shapely.to_wkb(geom, byte_order=1, output_dimension=2))


def v1_parquet_table(
    epsg: int, patches: list[V1Patch], layouts: dict[str, ProductLayout]
) -> pa.Table:
    """The v1 footprint table of one EPSG, schema as the reference artifact."""
    rows = sorted(patches, key=lambda p: p.name)
    names = [p.name for p in rows]
    times = [parse_v1_patch_name(p.name).sensing_time for p in rows]
    geoms = [_footprint_wkb(layouts[p.product_key], p.col, p.row) for p in rows]
    bounds = np.array(
        [layouts[p.product_key].patch_box(p.col, p.row) for p in rows], dtype=float
    )
    bbox = [
        float(bounds[:, 0].min()),
        float(bounds[:, 1].min()),
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    ]
    geo = {
        "version": "1.0.0",
        "primary_column": "geom",
        "columns": {
            "geom": {
                "encoding": "WKB",
                "crs": CRS.from_epsg(epsg).to_json_dict(),
                "bbox": bbox,
                "orientation": "counterclockwise",
                "geometry_types": ["MultiPolygon"],
            }
        },
    }
    schema = pa.schema(
        [
            pa.field("patch_name", pa.string(), nullable=False),
            pa.field("sensing_time", pa.timestamp("ms", tz="+00:00")),
            pa.field("geom", pa.binary()),
        ],
        metadata={b"geo": json.dumps(geo, separators=(",", ":")).encode()},
    )
    return pa.table(
        {
            "patch_name": pa.array(names, pa.string()),
            "sensing_time": pa.array(times, pa.timestamp("ms", tz="+00:00")),
            "geom": pa.array(geoms, pa.binary()),
        },
        schema=schema,
    )


def write_v1_parquet(path: Path, table: pa.Table) -> None:
    pq.write_table(
        table, path, compression="snappy", row_group_size=65_536, write_statistics=True
    )


def write_s1_patches(
    root: Path,
    patches: list[V1Patch],
    layouts: dict[str, ProductLayout],
    *,
    seed: int,
    progress: ProgressCallback | None = None,
) -> int:
    """``<root>/<s1>/<s1>_{VV,VH}.tif`` for every v1 patch; returns files written."""
    written = 0
    ordered = sorted(patches, key=lambda p: p.s1_name)
    for i, patch in enumerate(ordered, start=1):
        written += _write_s1_patch(root, patch, layouts[patch.product_key], seed)
        if progress is not None and (i % 500 == 0 or i == len(ordered)):
            progress(i, len(ordered))
    return written


def _write_s1_patch(
    root: Path, patch: V1Patch, layout: ProductLayout, seed: int
) -> int:
    left, _, _, top = layout.patch_box(patch.col, patch.row)
    folder = root / patch.s1_name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(
        [seed, 7, int(patch.product_key[1:]), patch.col, patch.row]
    )
    for pol in ("VV", "VH"):
        data = s1_backscatter(rng, size_px=120, polarisation=pol)
        write_s1_tif(
            folder / f"{patch.s1_name}_{pol}.tif",
            data,
            epsg=layout.spec.epsg,
            ulx=left,
            uly=top,
        )
    return 2
