"""Orchestration of ``benpipe demo-world``: write the whole world atomically.

The world is written into a staging directory next to the target and renamed
at the end (:func:`benpipe.fileio.staged_directory`).  Every random draw comes
from ``numpy.random.default_rng`` seeded with ``[seed, <purpose>, ...]``, so
one product's bytes do not depend on which other products are generated.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.resources
import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import blake3
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely

from benpipe import __version__
from benpipe.demo import clc as demo_clc
from benpipe.demo import v1 as demo_v1
from benpipe.demo.raster import (
    Detail,
    Landscape,
    SmoothField,
    Texture,
    band_array,
    jp2_options,
    make_zone_fields,
    resolution_fields,
)
from benpipe.demo.safe import (
    manifest_safe_xml,
    mtd_msil1c_xml,
    mtd_tl_xml,
    product_start_time,
    safe_names,
    write_zip,
)
from benpipe.demo.spec import (
    DESIGNED_PATCHES,
    GENERATOR_VERSION,
    PRODUCTS,
    REBEN_TILE_IDS,
    DesignedPatch,
    ProductLayout,
    ProductSpec,
    layout_for,
)
from benpipe.errors import ConfigError, InputDataError
from benpipe.fileio import staged_directory
from benpipe.grid import PATCH_SIDE_M
from benpipe.l2a.jp2 import write_jp2
from benpipe.log import Progress
from benpipe.names import BAND_RESOLUTION_M, L1C_BANDS, l2a_name_for, patch_name

logger = logging.getLogger(__name__)

NETRC_TEXT = "machine 127.0.0.1 login demo password demo-password\n"
OVERLAP_MIN_FRACTION = 0.01


@dataclass(frozen=True, slots=True)
class WorldParams:
    """Options of ``benpipe demo-world``."""

    seed: int = 0
    tile_size_px: int = 1200
    #: the world's products: the four demo products, or
    #: :func:`benpipe.demo.spec.world_products` for ``--products N``.
    specs: tuple[ProductSpec, ...] = PRODUCTS
    #: product keys (P1..PN) whose SAFE zips are written; all by default.
    products: tuple[str, ...] = field(default=tuple(p.key for p in PRODUCTS))
    #: write the v1 S1 GeoTIFFs (names and mapping are always written).
    s1_rasters: bool = True
    clc_cell_km2: float = demo_clc.DEFAULT_CELL_KM2
    #: band texture (:mod:`benpipe.demo.raster`); ``resolve_texture`` maps
    #: the CLI's ``auto`` to one of them.
    texture: Texture = "smooth"
    #: generation and JPEG 2000 encoding threads (the bytes do not depend on it)
    threads: int = 1


def resolve_texture(texture: str, tile_size_px: int) -> Texture:
    """``auto`` is realistic for full-size (10 980 px) tiles, smooth otherwise."""
    from benpipe.demo.spec import FULL_TILE_SIZE_PX

    if texture == "auto":
        return "realistic" if tile_size_px == FULL_TILE_SIZE_PX else "smooth"
    if texture == "smooth":
        return "smooth"
    if texture == "realistic":
        return "realistic"
    raise ConfigError(f"unknown texture {texture!r}; use auto, smooth or realistic")


def product_id(l1c: str) -> str:
    """The emulator's product id: ``uuid5(NAMESPACE_URL, "benpipe-demo:<name>.SAFE")``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"benpipe-demo:{l1c}.SAFE"))


def generate_world(out: Path, params: WorldParams, *, overwrite: bool = False) -> Path:
    """Generate the demo world into ``out``; returns the manifest path."""
    keys = [p.key for p in params.specs]
    unknown = sorted(set(params.products) - set(keys))
    if unknown or not params.products:
        raise ConfigError(
            f"unknown demo products {unknown or '(none given)'}; choose among "
            f"{', '.join(keys)}"
        )
    out = out.resolve()
    if out.exists() and not overwrite:
        raise ConfigError(
            f"{out} already exists; pass --overwrite to replace it or choose "
            "another --out"
        )
    started = time.monotonic()
    with staged_directory(out, "demo world", replace=overwrite) as staging:
        _write_world(staging.path, params)
    logger.info("demo world written to %s in %.1f s", out, time.monotonic() - started)
    return out / "manifest.json"


def _write_world(root: Path, params: WorldParams) -> None:
    """The recipe: L1C products → CLC → v1 inputs → countries, catalogue and
    credentials → manifest (expected facts and file hashes)."""
    seed = params.seed
    layouts = {p.key: layout_for(p, params.tile_size_px) for p in params.specs}
    (root / "cdse" / "products").mkdir(parents=True)
    landscapes = _landscapes(seed, layouts, texture=params.texture)
    selected = [p.key for p in params.specs if p.key in params.products]
    progress = Progress("products", total=len(selected), logger=logger)
    for done, key in enumerate(selected, start=1):
        _write_product(
            root, layouts[key], landscapes[key], texture=params.texture,
            threads=params.threads,
        )  # fmt: skip
        progress(done)
    progress.close()
    clc = _write_clc(root, layouts, seed=seed, cell_km2=params.clc_cell_km2)
    v1 = _write_v1(root, layouts, clc.expectations, params)
    write_countries(root / "ne_110m_admin_0_countries.geojson")
    catalogue = _write_catalogue(root, layouts, selected)
    netrc = root / "cdse.netrc"
    netrc.write_text(NETRC_TEXT, encoding="ascii")
    netrc.chmod(0o600)
    manifest = _manifest(params, layouts, selected, catalogue, clc, v1)
    if params.texture != "smooth":
        # Only when not smooth: the default demo's manifest keeps its bytes.
        manifest["texture"] = params.texture
    manifest["files"] = _file_hashes(root)
    (root / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


@dataclass(frozen=True, slots=True)
class _ClcWorld:
    """The CLC layer written, and what its designed patches must yield."""

    polygons: int
    designs: list[tuple[DesignedPatch, ProductLayout]]
    expectations: list[demo_clc.DesignedExpectation]


def _write_clc(
    root: Path, layouts: dict[str, ProductLayout], *, seed: int, cell_km2: float
) -> _ClcWorld:
    """CLC polygons over each cluster of overlapping products (one rng, in order)."""
    designs = [
        (d, layouts[d.product_key])
        for d in DESIGNED_PATCHES
        if d.product_key in layouts
    ]
    rng = np.random.default_rng([seed, 3])
    frames: list[gpd.GeoDataFrame] = []
    taken: set[str] = set()
    for cluster in _clusters([lo for lo in layouts.values() if lo.spec.has_clc]):
        keys = {lo.spec.key for lo in cluster}
        frame = demo_clc.build_clc(
            rng,
            layouts=cluster,
            designs=[(d, lo) for d, lo in designs if d.product_key in keys],
            epsg=cluster[0].spec.epsg,
            cell_km2=cell_km2,
            taken_ids=frozenset(taken),
        )
        taken.update(frame["ID"])
        frames.append(frame)
    if len(frames) > 1:
        frame = gpd.GeoDataFrame(
            pd.concat(frames, ignore_index=True),
            geometry=demo_clc.GEOMETRY_COLUMN,
            crs=frames[0].crs,
        )
    else:
        (frame,) = frames
    demo_clc.write_gpkg(frame, root / "U2018_CLC2018_V2020_20u1.gpkg")
    expectations = [demo_clc.expectation_for(d, lo) for d, lo in designs]
    return _ClcWorld(len(frame), designs, expectations)


@dataclass(frozen=True, slots=True)
class _V1World:
    """The v1 inputs written: patches, products' patches without v1, lists."""

    patches: list[demo_v1.V1Patch]
    without_v1: dict[str, list[tuple[int, int]]]
    counts: dict[str, int]
    by_cell: dict[tuple[str, int, int], str]
    snow: list[str]
    cloud: list[str]


def _write_v1(
    root: Path,
    layouts: dict[str, ProductLayout],
    expectations: list[demo_clc.DesignedExpectation],
    params: WorldParams,
) -> _V1World:
    """tile_names_and_links, s1s2 mapping, footprints, S1 patches, snow/cloud."""
    v1_patches: list[demo_v1.V1Patch] = []
    without_v1: dict[str, list[tuple[int, int]]] = {}
    v1_counts: dict[str, int] = {}
    for spec in params.specs:
        rng = np.random.default_rng([params.seed, 5, int(spec.key[1:])])
        patches, without = demo_v1.select_v1_patches(rng, layouts[spec.key])
        v1_patches.extend(patches)
        without_v1[l2a_name_for(spec.name)] = without
        v1_counts[l2a_name_for(spec.name)] = len(patches)
    repeated = [n for n, k in Counter(p.name for p in v1_patches).items() if k > 1]
    if repeated:
        raise ConfigError(f"the world's v1 names repeat: {sorted(repeated)[:5]}")
    demo_v1.write_tile_names_and_links(root / "tile_names_and_links.csv", v1_patches)
    demo_v1.write_s1s2_mapping(root / "s1s2_mapping.csv", v1_patches)
    (root / "ben-v1-metadata").mkdir()
    for epsg in sorted({p.epsg for p in params.specs}):
        zone = [p for p in v1_patches if layouts[p.product_key].spec.epsg == epsg]
        table = demo_v1.v1_parquet_table(epsg, zone, layouts)
        demo_v1.write_v1_parquet(
            root / "ben-v1-metadata" / f"bigearthnet_v1_spatial_{epsg}.parquet", table
        )
    s1_root = root / "BigEarthNet-S1-v1"
    s1_root.mkdir()
    if params.s1_rasters:
        s1_progress = Progress("S1 patches", total=len(v1_patches), logger=logger)
        n_s1 = demo_v1.write_s1_patches(
            s1_root, v1_patches, layouts, seed=params.seed, progress=s1_progress
        )
        s1_progress.close()
        logger.info("wrote %d S1 GeoTIFFs", n_s1)
    by_cell = {(p.product_key, p.col, p.row): p.name for p in v1_patches}

    def listed(role: str) -> list[str]:
        return sorted(
            by_cell[(e.product_key, e.col, e.row)]
            for e in expectations
            if e.role == role
        )

    snow, cloud = listed("snow"), listed("cloud")
    demo_v1.write_lines(root / "patches_with_seasonal_snow.csv", snow, crlf=True)
    demo_v1.write_lines(root / "patches_with_cloud_and_shadow.csv", cloud, crlf=True)
    return _V1World(v1_patches, without_v1, v1_counts, by_cell, snow, cloud)


def _manifest(
    params: WorldParams,
    layouts: dict[str, ProductLayout],
    selected: list[str],
    catalogue: list[dict[str, object]],
    clc: _ClcWorld,
    v1: _V1World,
) -> dict[str, object]:
    """The facts tests and docs rely on (docs/demo-world.md), without file hashes."""
    return {
        "generator": "benpipe demo-world",
        "generator_version": GENERATOR_VERSION,
        "benpipe_version": __version__,
        "seed": params.seed,
        "tile_size_px": params.tile_size_px,
        "tile_side_m": params.tile_size_px * 10,
        "patch_side_m": PATCH_SIDE_M,
        "products": [
            _product_entry(layouts[p.key], catalogue, p.key in selected)
            for p in params.specs
        ],
        "invalid_patches": {
            l2a_name_for(lo.spec.name): [list(cr) for cr in lo.invalid_patches()]
            for lo in layouts.values()
        },
        "v1_patches": v1.counts,
        "patches_without_v1": {
            k: [list(cr) for cr in v] for k, v in v1.without_v1.items()
        },
        "v1_malformed_names": sorted(p.name for p in v1.patches if p.malformed),
        "overlaps": _overlaps(list(layouts.values())),
        "hand_designed": {
            e.patch: {
                "product": layouts[e.product_key].spec.name,
                "col": e.col,
                "row": e.row,
                "role": e.role,
                "what": e.what,
                "v1_name": v1.by_cell[(e.product_key, e.col, e.row)],
                "pixel_counts": {str(c): n for c, n in e.pixel_counts.items()},
                "unlabeled_fraction": e.unlabeled_fraction,
                "kept": e.kept,
                "labels": e.labels,
            }
            for e in clc.expectations
        },
        "snow": v1.snow,
        "cloud": v1.cloud,
        "s1_groups": {
            l2a_name_for(p.name): list(demo_v1.s1_groups(p)) for p in params.specs
        },
        "s1_rasters": params.s1_rasters,
        "clc": {
            "path": "U2018_CLC2018_V2020_20u1.gpkg",
            "layer": demo_clc.LAYER,
            "geometry_column": demo_clc.GEOMETRY_COLUMN,
            "epsg": demo_clc.CLC_EPSG,
            "polygons": clc.polygons,
            "cell_km2": params.clc_cell_km2,
            "uncovered_strips_utm": _uncovered(clc.designs),
        },
    }


def _clusters(layouts: list[ProductLayout]) -> list[list[ProductLayout]]:
    """Products grouped by UTM zone and (transitive) overlap, in input order.

    Each cluster gets its own fields and CLC polygons, so a world of products
    hundreds of kilometres apart covers only their tiles.
    """
    clusters: list[list[ProductLayout]] = []
    margin = 2 * demo_clc.MARGIN_M

    def near(a: ProductLayout, b: ProductLayout) -> bool:
        return (
            a.spec.epsg == b.spec.epsg
            and a.ulx - margin < b.ulx + b.tile_side_m
            and b.ulx - margin < a.ulx + a.tile_side_m
            and a.uly + margin > b.uly - b.tile_side_m
            and b.uly + margin > a.uly - a.tile_side_m
        )

    for layout in layouts:
        touching = [c for c in clusters if any(near(layout, o) for o in c)]
        if not touching:
            clusters.append([layout])
            continue
        first = touching[0]
        for other in touching[1:]:
            first.extend(other)
            clusters.remove(other)
        first.append(layout)
    return clusters


def _landscapes(
    seed: int, layouts: dict[str, ProductLayout], *, texture: Texture = "smooth"
) -> dict[str, Landscape]:
    """Fields per zone cluster (shared by its products) plus per-product noise
    (and, for the realistic texture, the product's detail streams)."""
    out: dict[str, Landscape] = {}
    clusters = _clusters(list(layouts.values()))
    for members in sorted(clusters, key=lambda c: c[0].spec.epsg):
        epsg = members[0].spec.epsg
        in_zone = [c for c in clusters if c[0].spec.epsg == epsg]
        key = [seed, 1, epsg] + ([in_zone.index(members)] if len(in_zone) > 1 else [])
        left = min(lo.ulx for lo in members)
        top = max(lo.uly for lo in members)
        right = max(lo.ulx + lo.tile_side_m for lo in members)
        bottom = min(lo.uly - lo.tile_side_m for lo in members)
        cover, texture_field = make_zone_fields(
            np.random.default_rng(key),
            left=left,
            top=top,
            width_m=right - left,
            height_m=top - bottom,
        )
        for lo in members:
            noise = SmoothField(
                np.random.default_rng([seed, 2, int(lo.spec.key[1:])]),
                left=lo.ulx,
                top=lo.uly,
                width_m=lo.tile_side_m,
                height_m=lo.tile_side_m,
                octaves=((400.0, 0.15), (80.0, 0.08)),
            )
            detail = (
                Detail(seed=seed, product=int(lo.spec.key[1:]))
                if texture == "realistic"
                else None
            )
            out[lo.spec.key] = Landscape(cover, texture_field, noise, detail)
    return out


def _write_product(
    root: Path,
    layout: ProductLayout,
    landscape: Landscape,
    *,
    texture: Texture = "smooth",
    threads: int = 1,
) -> None:
    spec = layout.spec
    names = safe_names(layout)
    work = root / ".work" / spec.name
    work.mkdir(parents=True)
    files: dict[str, bytes | Path] = {}
    progress = Progress(f"{spec.name} bands", total=len(L1C_BANDS), logger=logger)
    done = 0
    for res in (60, 20, 10):
        fields = resolution_fields(
            landscape, ulx=layout.ulx, uly=layout.uly, res_m=res,
            size_px=layout.size_px(res), threads=threads,
        )  # fmt: skip
        for band in (b for b in L1C_BANDS if BAND_RESOLUTION_M[b] == res):
            data = band_array(
                fields,
                band=band,
                season=spec.season,
                res_m=res,
                nodata_from_m=layout.nodata_from_m,
                detail=landscape.detail,
                threads=threads,
            )
            path = work / f"{band}.jp2"
            write_jp2(
                path, data, epsg=spec.epsg, ulx=layout.ulx, uly=layout.uly,
                res_m=res, options=jp2_options(texture), threads=threads,
            )  # fmt: skip
            del data
            files[names.band_member(band)] = path
            done += 1
            progress(done)
        del fields
    progress.close()
    files[f"{names.root}/MTD_MSIL1C.xml"] = mtd_msil1c_xml(layout, names).encode()
    files[f"{names.root}/GRANULE/{names.granule}/MTD_TL.xml"] = mtd_tl_xml(
        layout, names
    ).encode()
    files[f"{names.root}/manifest.safe"] = manifest_safe_xml(names, files).encode()
    zip_path = root / "cdse" / "products" / f"{spec.name}.zip"
    tmp = zip_path.with_suffix(".zip.part")
    write_zip(tmp, files, names.empty_dirs)
    os.replace(tmp, zip_path)
    shutil.rmtree(work)
    if not any((root / ".work").iterdir()):
        (root / ".work").rmdir()
    logger.info("wrote %s (%d bytes)", zip_path.name, zip_path.stat().st_size)


def write_band_files(
    folder: Path,
    *,
    tile_size_px: int,
    bands: tuple[str, ...],
    seed: int = 0,
    texture: Texture = "realistic",
    threads: int = 1,
) -> dict[str, Path]:
    """Write P1's ``bands`` as ``<folder>/<band>.jp2`` (benchmark inputs).

    P1's position, season and nodata strip at this tile size, with the fields
    of a world holding P1 alone (the zone fields of a larger world span all
    of its products, so their pixels differ).  Existing files are kept (a cache); each file is written under
    a temporary name and renamed.  Returns band -> path.
    """
    layout = layout_for(PRODUCTS[0], tile_size_px)
    landscape = _landscapes(seed, {"P1": layout}, texture=texture)["P1"]
    folder.mkdir(parents=True, exist_ok=True)
    paths = {band: folder / f"{band}.jp2" for band in bands}
    for res in sorted({BAND_RESOLUTION_M[b] for b in bands}, reverse=True):
        todo = [
            b for b in bands if BAND_RESOLUTION_M[b] == res and not paths[b].exists()
        ]
        if not todo:
            continue
        fields = resolution_fields(
            landscape, ulx=layout.ulx, uly=layout.uly, res_m=res,
            size_px=layout.size_px(res), threads=threads,
        )  # fmt: skip
        for band in todo:
            data = band_array(
                fields, band=band, season=layout.spec.season, res_m=res,
                nodata_from_m=layout.nodata_from_m, detail=landscape.detail,
                threads=threads,
            )  # fmt: skip
            tmp = folder / f".{band}.tmp.jp2"
            write_jp2(
                tmp, data, epsg=layout.spec.epsg, ulx=layout.ulx, uly=layout.uly,
                res_m=res, options=jp2_options(texture), threads=threads,
            )  # fmt: skip
            os.replace(tmp, paths[band])
        del fields
    return paths


def _checksums(path: Path) -> list[dict[str, str]]:
    """The CDSE ``Checksum`` list of a zip: MD5, then BLAKE3 (as CDSE orders them)."""
    md5 = hashlib.md5()
    b3 = blake3.blake3()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            md5.update(chunk)
            b3.update(chunk)
    return [
        {"Algorithm": "MD5", "Value": md5.hexdigest()},
        {"Algorithm": "BLAKE3", "Value": b3.hexdigest()},
    ]


def _write_catalogue(
    root: Path, layouts: dict[str, ProductLayout], selected: list[str]
) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for key in selected:
        spec = layouts[key].spec
        zip_path = root / "cdse" / "products" / f"{spec.name}.zip"
        start = product_start_time(spec.name)
        entries.append(
            {
                "Id": product_id(spec.name),
                "Name": f"{spec.name}.SAFE",
                "ContentLength": zip_path.stat().st_size,
                "Checksum": _checksums(zip_path),
                "Online": True,
                "ContentDate": {"Start": start, "End": start},
            }
        )
    entries.sort(key=lambda e: str(e["Name"]))
    (root / "cdse" / "catalogue.json").write_text(
        json.dumps(entries, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return entries


def _product_entry(
    layout: ProductLayout, catalogue: list[dict[str, object]], generated: bool
) -> dict[str, object]:
    spec = layout.spec
    checks = spec.quality_checks
    return {
        "key": spec.key,
        "name": spec.name,
        "l2a_name": l2a_name_for(spec.name),
        "id": product_id(spec.name),
        "zip": f"cdse/products/{spec.name}.zip" if generated else None,
        "generated": generated,
        "mgrs_tile": spec.mgrs,
        "epsg": spec.epsg,
        "ulx": layout.ulx,
        "uly": layout.uly,
        "real_ulx": spec.real_ulx,
        "tile_side_m": layout.tile_side_m,
        "patches_per_side": layout.patches_per_side,
        "origin_shift_m": layout.origin_shift_m,
        "nodata_strip_from_m": layout.nodata_from_m,
        "season": spec.season,
        "product_start_time": product_start_time(spec.name),
        "quality_checks": checks,
        "fails_quality": any(v == "FAILED" for v in checks.values()),
        "has_clc": spec.has_clc,
    }


def _overlaps(layouts: list[ProductLayout]) -> list[list[str]]:
    """Same-season patch pairs of different products overlapping > 1 % (UTM)."""
    pairs: list[list[str]] = []
    patch_area = float(PATCH_SIDE_M * PATCH_SIDE_M)
    for i, a in enumerate(layouts):
        for b in layouts[i + 1 :]:
            if a.spec.season != b.spec.season or a.spec.epsg != b.spec.epsg:
                continue
            cells_a, boxes_a = _patch_boxes(a)
            cells_b, boxes_b = _patch_boxes(b)
            idx_a, idx_b = shapely.STRtree(boxes_b).query(
                boxes_a, predicate="intersects"
            )
            areas = shapely.area(shapely.intersection(boxes_a[idx_a], boxes_b[idx_b]))
            for ia, ib, area in zip(
                idx_a.tolist(), idx_b.tolist(), areas.tolist(), strict=True
            ):
                if area / patch_area > OVERLAP_MIN_FRACTION:
                    (ca, ra), (cb, rb) = cells_a[ia], cells_b[ib]
                    pairs.append(
                        sorted(
                            [
                                patch_name(a.spec.name, col=ca, row=ra),
                                patch_name(b.spec.name, col=cb, row=rb),
                            ]
                        )
                    )
    return sorted(pairs)


def _patch_boxes(
    layout: ProductLayout,
) -> tuple[list[tuple[int, int]], npt.NDArray[np.object_]]:
    n = layout.patches_per_side
    cells = [(c, r) for r in range(n) for c in range(n)]
    bounds = np.array([layout.patch_box(c, r) for c, r in cells], dtype=float)
    return cells, shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])


def _uncovered(
    designs: list[tuple[DesignedPatch, ProductLayout]],
) -> list[list[float]]:
    strips: list[list[float]] = []
    for design, layout in designs:
        for strip, geom in demo_clc.strip_boxes(design, layout):
            if strip.code is None:
                strips.append([float(v) for v in geom.bounds])
    return sorted(strips)


def read_product_names(path: Path) -> list[str]:
    """The L1C names (without ``.SAFE``) of a ``tile,id`` list such as :data:`REBEN_TILE_IDS`."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise InputDataError(
            f"cannot read the product list {path}: {exc}; pass --product-names with "
            f"a tile,id CSV (the repository's {REBEN_TILE_IDS}), run from the "
            "repository root"
        ) from exc
    if not rows or "tile" not in rows[0]:
        raise InputDataError(f"{path}: expected a CSV with a 'tile' column (tile,id)")
    return [row["tile"].removesuffix(".SAFE") for row in rows]


def natural_earth_lowres_path() -> Path:
    """The Natural Earth 110 m shapefile shipped in the pyogrio wheel."""
    base = importlib.resources.files("pyogrio")
    candidate = (
        Path(str(base)) / "tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp"
    )
    if not candidate.exists():
        raise InputDataError(
            f"Natural Earth 110 m countries not found at {candidate}; the installed "
            "pyogrio wheel should ship it (pyogrio/tests/fixtures/naturalearth_lowres). "
            "Reinstall pyogrio from PyPI (pip install --force-reinstall pyogrio)"
        )
    return candidate


def write_countries(path: Path) -> None:
    """GeoJSON (EPSG:4326) with NAME_LONG, NAME and ISO_A3 columns."""
    frame = pyogrio.read_dataframe(natural_earth_lowres_path())
    out = frame[["name", "iso_a3", "geometry"]].copy()
    out.insert(0, "NAME_LONG", out["name"])
    out = out.rename(columns={"name": "NAME", "iso_a3": "ISO_A3"})
    out = out.set_crs("EPSG:4326", allow_override=True)
    pyogrio.write_dataframe(
        out,
        path,
        driver="GeoJSON",
        layer="ne_110m_admin_0_countries",
        layer_options={"RFC7946": "NO", "WRITE_BBOX": "NO"},
    )


def _file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file except the manifest, by relative POSIX path."""
    hashes: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            hashes[path.relative_to(root).as_posix()] = digest.hexdigest()
    return hashes
