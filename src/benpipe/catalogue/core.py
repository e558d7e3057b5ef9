"""The patch catalogue as a table: columns, per-patch facts and the pure rules.

No files here.  One row per patch of either metadata parquet, one STAC Item
per row (stac-geoparquet: the top-level STAC fields ``type``,
``stac_version``, ``stac_extensions``, ``id``, ``geometry``, ``bbox``,
``collection``, ``links``, ``assets`` and every other column a flattened Item
property).  docs/catalogue.md lists the columns.

The rules, each a pure function:

* label fractions: the share of the reference map's pixels per BEN-19 class
  and UNLABELED, through :data:`benpipe.clc.CLC_TO_BEN19`;
* overlaps: the pipeline's definition (``benpipe.dataset.alignment``): two
  patches of different products and the same season overlap when
  area(a ∩ b) / (area(a) + area(b)) > 0.5 × ``overlap_threshold``, with the
  patch squares' corners transformed to EPSG:3035;
* the Major TOM 10 km cell of the patch centre (:mod:`.majortom`);
* row order: a Hilbert key of the patch centre (lon/lat on a 2^16 grid),
  then the patch id, so row groups are compact in space and their ``bbox``
  statistics prune well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray

from benpipe.catalogue.majortom import MajorTomGrid
from benpipe.clc import BEN19_CLASSES, CLC_TO_BEN19, UNLABELED
from benpipe.errors import InputDataError
from benpipe.grid import season_of
from benpipe.names import BANDS, parse_patch_name, parse_product_name, parse_s1_name

#: Bump when the catalogue or STAC bytes change for the same inputs.
ALGORITHM_VERSION = 1

CATALOGUE_FILE = "patches.parquet"
STAC_DIR = "stac"
STAC_VERSION = "1.1.0"
ROOT_COLLECTION_ID = "bigearthnet-v2"
#: Rows per parquet row group: 68 groups for the 549,488 published patches.
ROW_GROUP_ROWS = 8192
#: Pixels of a reference map (120 × 120 at 10 m).
MAP_PIXELS = 120 * 120

LABEL_EXTENSION = "https://stac-extensions.github.io/label/v1.0.0/schema.json"
PROJECTION_EXTENSION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EO_EXTENSION = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
SCIENTIFIC_EXTENSION = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"
#: Extensions every Item declares.
ITEM_EXTENSIONS: tuple[str, ...] = (LABEL_EXTENSION, PROJECTION_EXTENSION)

#: The 19 classes then UNLABELED: the order of the fraction columns.
FRACTION_CLASSES: tuple[str, ...] = (*BEN19_CLASSES, UNLABELED)
S1_POLARISATIONS: tuple[str, ...] = ("VV", "VH")
REFERENCE_MAP_ASSET = "labels"
ASSET_KEYS: tuple[str, ...] = (*BANDS, *S1_POLARISATIONS, REFERENCE_MAP_ASSET)
GEOTIFF_TYPE = "image/tiff; application=geotiff"

LABEL_DESCRIPTION = (
    "BEN-19 multi-labels (property 'labels') of the CORINE Land Cover 2018 classes "
    "present in the patch; the reference map (asset 'labels') holds the CLC code of "
    "every 10 m pixel"
)

_SLUG_RE = re.compile(r"[^a-z0-9]+")


def class_slug(name: str) -> str:
    """``Coniferous forest`` -> ``coniferous_forest`` (column-name form)."""
    return _SLUG_RE.sub("_", name.lower()).strip("_")


def fraction_column(name: str) -> str:
    """The fraction column of a class name (or of UNLABELED)."""
    return f"fraction_{class_slug(name)}"


FRACTION_COLUMNS: tuple[str, ...] = tuple(fraction_column(c) for c in FRACTION_CLASSES)


def resolve_class(name: str) -> str:
    """A class name from its exact name, its slug or its fraction column."""
    wanted = name.strip()
    for cls in FRACTION_CLASSES:
        if wanted in (cls, class_slug(cls), fraction_column(cls)):
            return cls
    lowered = wanted.lower()
    for cls in FRACTION_CLASSES:
        if lowered == cls.lower():
            return cls
    raise InputDataError(
        f"unknown class {name!r}; expected one of the 19 BEN classes or UNLABELED "
        f"(name or slug, e.g. 'Coniferous forest' or 'coniferous_forest')"
    )


# ---------------------------------------------------------------- fractions
def _code_lut() -> NDArray[np.int16]:
    lut = np.full(1000, -1, dtype=np.int16)
    for code, cls in CLC_TO_BEN19.items():
        lut[code] = FRACTION_CLASSES.index(cls)
    return lut


_CODE_TO_CLASS = _code_lut()


def class_fractions(
    reference_map: NDArray[np.integer], *, where: str
) -> NDArray[np.float64]:
    """Pixel share of each of :data:`FRACTION_CLASSES` in one reference map.

    Raises :class:`InputDataError` naming ``where`` for a code outside the
    CLC nomenclature (``benpipe.clc``) or an empty map.
    """
    values = np.asarray(reference_map).ravel()
    if values.size == 0:
        raise InputDataError(f"{where}: empty reference map")
    if values.max() >= _CODE_TO_CLASS.size:
        raise InputDataError(
            f"{where}: pixel value {int(values.max())} is not a CORINE code; reference maps hold "
            "CLC 2018 codes (111…523) and 999"
        )
    classes = _CODE_TO_CLASS[values]
    if classes.min() < 0:
        unknown = sorted({int(v) for v in values[classes < 0]})
        raise InputDataError(
            f"{where}: pixel values {unknown[:10]} are not CORINE codes; reference maps "
            "hold CLC 2018 codes (111…523) and 999"
        )
    counts = np.bincount(classes, minlength=len(FRACTION_CLASSES))
    return counts.astype(np.float64) / float(values.size)


# ---------------------------------------------------------------- facts
@dataclass(frozen=True, slots=True)
class PatchFacts:
    """What the GeoTIFFs tell about one patch: native grid and label fractions."""

    epsg: int
    left: float
    bottom: float
    right: float
    top: float
    fractions: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class TileRef:
    """The L1C product of a dataset tile folder, from the frozen tile-id table."""

    l1c_product: str
    l2a_product: str
    cdse_id: str


# ---------------------------------------------------------------- geometry
def _squares(
    left: NDArray[np.float64],
    bottom: NDArray[np.float64],
    right: NDArray[np.float64],
    top: NDArray[np.float64],
) -> NDArray[np.float64]:
    """(N, 5, 2) counter-clockwise rings of axis-aligned squares."""
    xs = np.stack([left, right, right, left, left], axis=1)
    ys = np.stack([bottom, bottom, top, top, bottom], axis=1)
    return np.stack([xs, ys], axis=2)


def transform_rings(
    rings: NDArray[np.float64], epsg: NDArray[np.int64], to_epsg: int
) -> NDArray[np.float64]:
    """Transform the vertices of ``rings`` (one source EPSG per ring)."""
    from pyproj import Transformer

    out = np.empty_like(rings)
    for code in np.unique(epsg):
        mask = epsg == code
        transformer = Transformer.from_crs(int(code), to_epsg, always_xy=True)
        x, y = transformer.transform(rings[mask, :, 0], rings[mask, :, 1])
        out[mask, :, 0] = x
        out[mask, :, 1] = y
    return out


@dataclass(frozen=True, slots=True)
class Footprints:
    """Patch squares in EPSG:4326 (lon/lat) and EPSG:3035, and their centres."""

    wgs84: NDArray[np.object_]
    laea: NDArray[np.object_]
    centre_lon: NDArray[np.float64]
    centre_lat: NDArray[np.float64]


def footprints(
    epsg: NDArray[np.int64],
    left: NDArray[np.float64],
    bottom: NDArray[np.float64],
    right: NDArray[np.float64],
    top: NDArray[np.float64],
) -> Footprints:
    """The squares' corners transformed to lon/lat and to EPSG:3035 (vertices only,
    as PostGIS ``ST_Transform`` does for the pipeline's ``geom_3035``)."""
    rings = _squares(left, bottom, right, top)
    wgs84 = shapely.polygons(transform_rings(rings, epsg, 4326))
    laea = shapely.polygons(transform_rings(rings, epsg, 3035))
    centres = np.stack([(left + right) / 2, (bottom + top) / 2], axis=1)[:, None, :]
    centre = transform_rings(centres, epsg, 4326)
    return Footprints(wgs84, laea, centre[:, 0, 0], centre[:, 0, 1])


def overlapping_patches(
    laea: NDArray[np.object_],
    products: Sequence[str],
    seasons: Sequence[str],
    *,
    overlap_threshold: float,
) -> list[list[int]]:
    """For each patch, the indices of the patches that overlap it.

    The pipeline's rule (``benpipe.dataset.alignment``): a different product,
    the same season, and area(a ∩ b) / (area(a) + area(b)) >
    0.5 × ``overlap_threshold`` in EPSG:3035.
    """
    n = len(laea)
    result: list[list[int]] = [[] for _ in range(n)]
    if n == 0:
        return result
    tree = shapely.STRtree(laea)
    left, right = tree.query(laea, predicate="intersects")
    product_arr = np.asarray(products, dtype=object)
    season_arr = np.asarray(seasons, dtype=object)
    keep = (product_arr[left] != product_arr[right]) & (
        season_arr[left] == season_arr[right]
    )
    left, right = left[keep], right[keep]
    inter = shapely.area(shapely.intersection(laea[left], laea[right]))
    share = inter / (shapely.area(laea[left]) + shapely.area(laea[right]))
    keep = share > 0.5 * overlap_threshold
    for a, b in zip(left[keep].tolist(), right[keep].tolist(), strict=True):
        result[a].append(b)
    return result


def hilbert_key(
    lon: NDArray[np.float64], lat: NDArray[np.float64], *, order: int = 16
) -> NDArray[np.uint64]:
    """Hilbert-curve index of lon/lat points on a 2^order × 2^order world grid."""
    side = 1 << order
    x = np.clip(((lon + 180.0) / 360.0 * side).astype(np.int64), 0, side - 1)
    y = np.clip(((lat + 90.0) / 180.0 * side).astype(np.int64), 0, side - 1)
    d = np.zeros(x.shape, dtype=np.uint64)
    s = side >> 1
    while s > 0:
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += (s * s * ((3 * rx) ^ ry)).astype(np.uint64)
        # rotate the quadrant
        flip = ry == 0
        swap_x = np.where(flip & (rx == 1), side - 1 - x, x)
        swap_y = np.where(flip & (rx == 1), side - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return d


# ---------------------------------------------------------------- the table
def _asset_type() -> pa.DataType:
    return pa.struct(
        [
            pa.field("href", pa.string()),
            pa.field("type", pa.string()),
            pa.field("roles", pa.list_(pa.string())),
        ]
    )


BBOX_TYPE = pa.struct(
    [
        pa.field("xmin", pa.float64()),
        pa.field("ymin", pa.float64()),
        pa.field("xmax", pa.float64()),
        pa.field("ymax", pa.float64()),
    ]
)
LINK_TYPE = pa.struct(
    [
        pa.field("rel", pa.string()),
        pa.field("href", pa.string()),
        pa.field("type", pa.string()),
    ]
)

#: The catalogue's Arrow schema, in column order.
CATALOGUE_SCHEMA = pa.schema(
    [
        pa.field("type", pa.string()),
        pa.field("stac_version", pa.string()),
        pa.field("stac_extensions", pa.list_(pa.string())),
        pa.field("id", pa.string()),
        pa.field("geometry", pa.binary()),
        pa.field("bbox", BBOX_TYPE),
        pa.field("collection", pa.string()),
        pa.field("links", pa.list_(LINK_TYPE)),
        pa.field("assets", pa.struct([pa.field(k, _asset_type()) for k in ASSET_KEYS])),
        pa.field("datetime", pa.timestamp("us", tz="UTC")),
        pa.field("platform", pa.string()),
        pa.field("constellation", pa.string()),
        pa.field("instruments", pa.list_(pa.string())),
        pa.field("proj:code", pa.string()),
        pa.field("proj:bbox", pa.list_(pa.float64())),
        pa.field("label:type", pa.string()),
        pa.field("label:properties", pa.list_(pa.string())),
        pa.field("label:description", pa.string()),
        pa.field("patch_id", pa.string()),
        pa.field("tile", pa.string()),
        pa.field("l2a_product", pa.string()),
        pa.field("l1c_product", pa.string()),
        pa.field("cdse_id", pa.string()),
        pa.field("season", pa.string()),
        pa.field("split", pa.string()),
        pa.field("country", pa.string()),
        pa.field("labels", pa.list_(pa.string())),
        *[pa.field(c, pa.float64()) for c in FRACTION_COLUMNS],
        pa.field("contains_seasonal_snow", pa.bool_()),
        pa.field("contains_cloud_or_shadow", pa.bool_()),
        pa.field("s1_name", pa.string()),
        pa.field("s2v1_name", pa.string()),
        pa.field("overlapping_patches", pa.list_(pa.string())),
        pa.field("grid_cell", pa.string()),
    ]
)

#: The metadata columns the catalogue takes over unchanged.
METADATA_COLUMNS: tuple[str, ...] = (
    "patch_id",
    "labels",
    "split",
    "country",
    "s1_name",
    "s2v1_name",
    "contains_seasonal_snow",
    "contains_cloud_or_shadow",
)


def asset_hrefs(patch_id: str, s1_name: str) -> dict[str, str]:
    """Paths of a patch's files relative to the dataset root (published layout)."""
    tile_dir = parse_patch_name(patch_id).tile_dir
    s2 = f"BigEarthNet-S2/{tile_dir}/{patch_id}/{patch_id}"
    group = parse_s1_name(s1_name).group
    s1 = f"BigEarthNet-S1/{group}/{s1_name}/{s1_name}"
    hrefs = {band: f"{s2}_{band}.tif" for band in BANDS}
    hrefs.update({pol: f"{s1}_{pol}.tif" for pol in S1_POLARISATIONS})
    hrefs[REFERENCE_MAP_ASSET] = (
        f"Reference_Maps/{tile_dir}/{patch_id}/{patch_id}_reference_map.tif"
    )
    return hrefs


def _asset_roles(key: str) -> list[str]:
    return ["labels", "labels-raster"] if key == REFERENCE_MAP_ASSET else ["data"]


def tile_collection_href(tile_dir: str) -> str:
    """Path of a tile's Collection, relative to the catalogue folder."""
    return f"{STAC_DIR}/{tile_dir}/collection.json"


@dataclass(frozen=True, slots=True)
class MetadataPart:
    """The catalogue columns that follow from the metadata and the tile-id table
    alone (no GeoTIFF needed), one entry per metadata row."""

    data: dict[str, list[Any]]
    tile_dirs: list[str]
    refs: list[TileRef]
    sensing: list[datetime]
    seasons: list[str]
    tiles: list[str]
    platforms: list[str]

    @property
    def ids(self) -> list[str]:
        return list(self.data["patch_id"])


def describe_metadata(
    metadata: pa.Table, tiles: Mapping[str, TileRef], *, reference_season_quirk: bool
) -> MetadataPart:
    """Products, sensing time and season of every metadata row.

    Raises :class:`InputDataError` naming the tile folders that the tile-id
    table does not cover.
    """
    data = {c: metadata.column(c).to_pylist() for c in METADATA_COLUMNS}
    tile_dirs = [parse_patch_name(pid).tile_dir for pid in data["patch_id"]]
    missing = sorted(set(tile_dirs) - set(tiles))
    if missing:
        raise InputDataError(
            f"{len(missing)} tile folder(s) of the metadata have no L1C product in the "
            f"tile-id table: {missing[:5]}; pass the table of the dataset "
            "(--tile-ids, e.g. tracked-artifacts/reben-v2.0/bigearthnet_s2_tile_ids.csv)"
        )
    refs = [tiles[t] for t in tile_dirs]
    products = {t: parse_product_name(tiles[t].l2a_product) for t in set(tile_dirs)}
    sensing = [products[t].sensing_time for t in tile_dirs]
    seasons: list[str] = [
        season_of(t, reference_quirk=reference_season_quirk) for t in sensing
    ]
    return MetadataPart(
        data=data,
        tile_dirs=tile_dirs,
        refs=refs,
        sensing=sensing,
        seasons=seasons,
        tiles=[products[t].tile for t in tile_dirs],
        platforms=[f"sentinel-2{products[t].mission[-1].lower()}" for t in tile_dirs],
    )


def build_table(
    metadata: pa.Table,
    facts: Sequence[PatchFacts],
    tiles: Mapping[str, TileRef],
    *,
    overlap_threshold: float,
    reference_season_quirk: bool,
    grid: MajorTomGrid | None = None,
) -> pa.Table:
    """The catalogue rows, in their final (spatial) order.

    ``metadata``: the rows of both metadata parquets (columns
    :data:`METADATA_COLUMNS`); ``facts[i]`` belongs to ``metadata`` row i;
    ``tiles``: dataset tile folder -> :class:`TileRef`.
    """
    n = metadata.num_rows
    if len(facts) != n:
        raise ValueError(f"{len(facts)} facts for {n} metadata rows")
    meta = describe_metadata(
        metadata, tiles, reference_season_quirk=reference_season_quirk
    )
    data, ids, tile_dirs = meta.data, meta.ids, meta.tile_dirs

    epsg = np.array([f.epsg for f in facts], dtype=np.int64)
    left = np.array([f.left for f in facts], dtype=np.float64)
    bottom = np.array([f.bottom for f in facts], dtype=np.float64)
    right = np.array([f.right for f in facts], dtype=np.float64)
    top = np.array([f.top for f in facts], dtype=np.float64)
    shapes = footprints(epsg, left, bottom, right, top)
    overlaps = overlapping_patches(
        shapes.laea, tile_dirs, meta.seasons, overlap_threshold=overlap_threshold
    )
    cells = (grid or MajorTomGrid()).cell_names(shapes.centre_lon, shapes.centre_lat)
    bounds = shapely.bounds(shapes.wgs84)
    fractions = np.array([f.fractions for f in facts], dtype=np.float64).reshape(
        n, len(FRACTION_CLASSES)
    )

    columns: dict[str, Any] = {
        "type": ["Feature"] * n,
        "stac_version": [STAC_VERSION] * n,
        "stac_extensions": [list(ITEM_EXTENSIONS)] * n,
        "id": ids,
        "geometry": list(shapely.to_wkb(shapes.wgs84, byte_order=1, flavor="iso")),
        "bbox": [
            {"xmin": b[0], "ymin": b[1], "xmax": b[2], "ymax": b[3]}
            for b in bounds.tolist()
        ],
        "collection": tile_dirs,
        "links": [
            [
                {
                    "rel": "collection",
                    "href": tile_collection_href(t),
                    "type": "application/json",
                }
            ]
            for t in tile_dirs
        ],
        "assets": [
            {
                key: {"href": href, "type": GEOTIFF_TYPE, "roles": _asset_roles(key)}
                for key, href in asset_hrefs(pid, s1).items()
            }
            for pid, s1 in zip(ids, data["s1_name"], strict=True)
        ],
        "datetime": meta.sensing,
        "platform": meta.platforms,
        "constellation": ["sentinel-2"] * n,
        "instruments": [["msi"]] * n,
        "proj:code": [f"EPSG:{e}" for e in epsg.tolist()],
        "proj:bbox": np.stack([left, bottom, right, top], axis=1).tolist(),
        "label:type": ["vector"] * n,
        "label:properties": [["labels"]] * n,
        "label:description": [LABEL_DESCRIPTION] * n,
        "patch_id": ids,
        "tile": meta.tiles,
        "l2a_product": [r.l2a_product for r in meta.refs],
        "l1c_product": [r.l1c_product for r in meta.refs],
        "cdse_id": [r.cdse_id for r in meta.refs],
        "season": meta.seasons,
        "split": data["split"],
        "country": data["country"],
        "labels": data["labels"],
        **{c: fractions[:, i] for i, c in enumerate(FRACTION_COLUMNS)},
        "contains_seasonal_snow": data["contains_seasonal_snow"],
        "contains_cloud_or_shadow": data["contains_cloud_or_shadow"],
        "s1_name": data["s1_name"],
        "s2v1_name": data["s2v1_name"],
        "overlapping_patches": [sorted(ids[j] for j in o) for o in overlaps],
        "grid_cell": cells,
    }
    table = pa.table(
        [pa.array(columns[f.name], type=f.type) for f in CATALOGUE_SCHEMA],
        schema=CATALOGUE_SCHEMA,
    )
    key = hilbert_key(shapes.centre_lon, shapes.centre_lat)
    order = sorted(range(n), key=lambda i: (int(key[i]), ids[i].encode("utf-8")))
    return table.take(pa.array(order, type=pa.int64()))


def geo_metadata(table: pa.Table) -> dict[str, object]:
    """The GeoParquet 1.1 ``geo`` metadata of a catalogue table."""
    from pyproj import CRS

    if table.num_rows:
        bbox = table.column("bbox").combine_chunks()
        overall = [
            float(np.min(bbox.field("xmin"))),
            float(np.min(bbox.field("ymin"))),
            float(np.max(bbox.field("xmax"))),
            float(np.max(bbox.field("ymax"))),
        ]
    else:
        overall = []
    column: dict[str, object] = {
        "encoding": "WKB",
        "geometry_types": ["Polygon"],
        "crs": CRS.from_epsg(4326).to_json_dict(),
        "orientation": "counterclockwise",
        "edges": "planar",
        "covering": {
            "bbox": {
                "xmin": ["bbox", "xmin"],
                "ymin": ["bbox", "ymin"],
                "xmax": ["bbox", "xmax"],
                "ymax": ["bbox", "ymax"],
            }
        },
    }
    if overall:
        column["bbox"] = overall
    return {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": column},
    }
