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
import pyarrow.compute as pc
import shapely
from numpy.typing import NDArray

from benpipe.catalogue.majortom import MajorTomGrid
from benpipe.clc import BEN19_CLASSES, CLC_TO_BEN19, UNLABELED
from benpipe.dataset.layout import (
    MAPS_TREE,
    METADATA_COLUMNS,
    S1_POLARISATIONS,
    S1_TREE,
    S2_TREE,
)
from benpipe.errors import InputDataError
from benpipe.grid import season_of
from benpipe.names import BANDS, parse_product_name

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

#: Season -> code (for grouping; the strings are stored).
SEASON_CODES: dict[str, int] = {"spring": 0, "summer": 1, "fall": 2, "winter": 3}
#: The 19 classes then UNLABELED: the order of the fraction columns.
FRACTION_CLASSES: tuple[str, ...] = (*BEN19_CLASSES, UNLABELED)
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
    """What the GeoTIFFs tell about the patches (one entry per patch, columnar):
    native EPSG and bounds, and the :data:`FRACTION_CLASSES` shares (n × 20)."""

    epsg: NDArray[np.int64]
    left: NDArray[np.float64]
    bottom: NDArray[np.float64]
    right: NDArray[np.float64]
    top: NDArray[np.float64]
    fractions: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.epsg.shape[0])

    @classmethod
    def from_rows(
        cls,
        epsg: Sequence[int],
        bounds: Sequence[tuple[float, float, float, float]],
        fractions: Sequence[NDArray[np.float64]] | NDArray[np.float64],
    ) -> PatchFacts:
        box = np.asarray(bounds, dtype=np.float64).reshape(-1, 4)
        return cls(
            epsg=np.asarray(epsg, dtype=np.int64),
            left=box[:, 0].copy(),
            bottom=box[:, 1].copy(),
            right=box[:, 2].copy(),
            top=box[:, 3].copy(),
            fractions=np.asarray(fractions, dtype=np.float64).reshape(
                -1, len(FRACTION_CLASSES)
            ),
        )

    @classmethod
    def concat(cls, parts: Sequence[PatchFacts]) -> PatchFacts:
        if not parts:
            return cls.from_rows([], [], np.zeros((0, len(FRACTION_CLASSES))))
        return cls(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in ("epsg", "left", "bottom", "right", "top", "fractions")
            )
        )


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


def overlap_pairs(
    laea: NDArray[np.object_],
    products: NDArray[np.int64],
    seasons: NDArray[np.int64],
    *,
    overlap_threshold: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Index pairs (a, b) of overlapping patches, both directions.

    The pipeline's rule (``benpipe.dataset.alignment``): a different product,
    the same season, and area(a ∩ b) / (area(a) + area(b)) >
    0.5 × ``overlap_threshold`` in EPSG:3035.  ``products`` and ``seasons``
    are codes (equal code = same product / season).
    """
    if len(laea) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    tree = shapely.STRtree(laea)
    left, right = tree.query(laea, predicate="intersects")
    keep = (products[left] != products[right]) & (seasons[left] == seasons[right])
    left, right = left[keep], right[keep]
    inter = shapely.area(shapely.intersection(laea[left], laea[right]))
    share = inter / (shapely.area(laea[left]) + shapely.area(laea[right]))
    keep = share > 0.5 * overlap_threshold
    return left[keep].astype(np.int64), right[keep].astype(np.int64)


def _codes(values: Sequence[str]) -> NDArray[np.int64]:
    _, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    return codes.astype(np.int64)


def overlapping_patches(
    laea: NDArray[np.object_],
    products: Sequence[str],
    seasons: Sequence[str],
    *,
    overlap_threshold: float,
) -> list[list[int]]:
    """For each patch, the indices of the patches that overlap it (:func:`overlap_pairs`)."""
    left, right = overlap_pairs(
        laea, _codes(products), _codes(seasons), overlap_threshold=overlap_threshold
    )
    result: list[list[int]] = [[] for _ in range(len(laea))]
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
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


_PATCH_ID_PATTERN = (
    r"^S2[AB]_MSIL2A_[0-9]{8}T[0-9]{6}_N[0-9]{4}_R[0-9]{3}_T[0-9]{2}[A-Z]{3}"
    r"_[0-9]{2}_[0-9]{2}$"
)
_S1_NAME_PATTERN = (
    r"^S1[AB]_IW_GRDH_1SDV_[0-9]{8}T[0-9]{6}_[0-9]{2}[A-Z]{3}_[0-9]{1,2}_[0-9]{1,2}$"
)
_S1_SUFFIX_PATTERN = r"_[0-9]{2}[A-Z]{3}_[0-9]{1,2}_[0-9]{1,2}$"


def _require_pattern(values: pa.Array, pattern: str, what: str, example: str) -> None:
    ok = pc.match_substring_regex(values, pattern)
    if values.null_count or not pc.all(ok).as_py():
        bad = values.filter(pc.invert(pc.fill_null(ok, False)))
        first = bad[0].as_py() if len(bad) else None
        raise InputDataError(
            f"{what} {first!r} does not look like {example}; the metadata parquets "
            "must hold the published names"
        )


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def asset_hrefs(patch_id: str, s1_name: str) -> dict[str, str]:
    """Paths of a patch's files relative to the dataset root (published layout)."""
    table = _asset_href_arrays(pa.array([patch_id]), pa.array([s1_name]))
    return {key: str(value[0].as_py()) for key, value in table.items()}


def _asset_href_arrays(ids: pa.Array, s1_names: pa.Array) -> dict[str, pa.Array]:
    _require_pattern(
        ids,
        _PATCH_ID_PATTERN,
        "patch id",
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57",
    )
    _require_pattern(
        s1_names,
        _S1_NAME_PATTERN,
        "S1 name",
        "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57",
    )
    tile_dirs = pc.utf8_slice_codeunits(ids, 0, -6)
    s2 = _join(f"{S2_TREE}/", tile_dirs, "/", ids, "/", ids)
    groups = pc.replace_substring_regex(s1_names, _S1_SUFFIX_PATTERN, "")
    s1 = _join(f"{S1_TREE}/", groups, "/", s1_names, "/", s1_names)
    hrefs = {band: _join(s2, f"_{band}.tif") for band in BANDS}
    hrefs.update({pol: _join(s1, f"_{pol}.tif") for pol in S1_POLARISATIONS})
    hrefs[REFERENCE_MAP_ASSET] = _join(
        f"{MAPS_TREE}/", tile_dirs, "/", ids, "/", ids, "_reference_map.tif"
    )
    return hrefs


def _asset_roles(key: str) -> list[str]:
    return ["labels", "labels-raster"] if key == REFERENCE_MAP_ASSET else ["data"]


def tile_collection_href(tile_dir: str) -> str:
    """Path of a tile's Collection, relative to the catalogue folder."""
    return f"{STAC_DIR}/{tile_dir}/collection.json"


def _const(value: object, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n)


@dataclass(frozen=True, slots=True)
class MetadataPart:
    """What follows from the metadata and the tile-id table alone (no GeoTIFF):
    per tile folder its product, sensing time and season, and the tile of
    every row (``tile_index``)."""

    ids: pa.Array
    tile_list: list[str]
    tile_index: NDArray[np.int64]
    refs: list[TileRef]
    sensing: list[datetime]
    seasons: list[str]
    tiles: list[str]
    platforms: list[str]

    def per_row(self, values: Sequence[Any], type_: pa.DataType) -> pa.Array:
        """Per-tile ``values`` expanded to one entry per row."""
        return pa.array(values, type=type_).take(pa.array(self.tile_index))


def describe_metadata(
    metadata: pa.Table, tiles: Mapping[str, TileRef], *, reference_season_quirk: bool
) -> MetadataPart:
    """Products, sensing time and season of the tile folders of the metadata.

    Raises :class:`InputDataError` naming the tile folders that the tile-id
    table does not cover, or a malformed patch id.
    """
    ids = metadata.column("patch_id").combine_chunks()
    _require_pattern(
        ids,
        _PATCH_ID_PATTERN,
        "patch id",
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57",
    )
    tile_dirs = pc.utf8_slice_codeunits(ids, 0, -6)
    unique = pc.unique(tile_dirs)
    tile_list = sorted(unique.to_pylist(), key=lambda t: t.encode())
    missing = [t for t in tile_list if t not in tiles]
    if missing:
        raise InputDataError(
            f"{len(missing)} tile folder(s) of the metadata have no L1C product in the "
            f"tile-id table: {missing[:5]}; pass the table of the dataset "
            "(--tile-ids, e.g. tracked-artifacts/reben-v2.0/bigearthnet_s2_tile_ids.csv)"
        )
    tile_index = pc.index_in(tile_dirs, value_set=pa.array(tile_list)).to_numpy()
    refs = [tiles[t] for t in tile_list]
    products = [parse_product_name(r.l2a_product) for r in refs]
    sensing = [p.sensing_time for p in products]
    return MetadataPart(
        ids=ids,
        tile_list=tile_list,
        tile_index=tile_index.astype(np.int64),
        refs=refs,
        sensing=sensing,
        seasons=[season_of(t, reference_quirk=reference_season_quirk) for t in sensing],
        tiles=[p.tile for p in products],
        platforms=[f"sentinel-2{p.mission[-1].lower()}" for p in products],
    )


def _list_of(values: pa.Array, offsets: NDArray[np.int64]) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values)


def build_table(
    metadata: pa.Table,
    facts: PatchFacts,
    tiles: Mapping[str, TileRef],
    *,
    overlap_threshold: float,
    reference_season_quirk: bool,
    grid: MajorTomGrid | None = None,
) -> pa.Table:
    """The catalogue rows, in their final (spatial) order.

    ``metadata``: the rows of both metadata parquets (columns
    :data:`METADATA_COLUMNS`); ``facts`` entry i belongs to ``metadata`` row i;
    ``tiles``: dataset tile folder -> :class:`TileRef`.  Built column by
    column with Arrow kernels, so memory stays a few times the table size.
    """
    n = metadata.num_rows
    if len(facts) != n:
        raise ValueError(f"{len(facts)} facts for {n} metadata rows")
    shapes = footprints(facts.epsg, facts.left, facts.bottom, facts.right, facts.top)
    # final row order first (Hilbert key of the centre, then id bytes), so
    # the large columns are built once, already in order
    ids_in = metadata.column("patch_id").combine_chunks()
    rank_in = np.empty(n, dtype=np.int64)
    rank_in[pc.sort_indices(ids_in).to_numpy()] = np.arange(n)
    key = hilbert_key(shapes.centre_lon, shapes.centre_lat).astype(np.int64)
    order = np.lexsort((rank_in, key))
    metadata = metadata.take(pa.array(order, type=pa.int64()))
    facts = PatchFacts(
        *(
            getattr(facts, name)[order]
            for name in ("epsg", "left", "bottom", "right", "top", "fractions")
        )
    )
    shapes = Footprints(
        shapes.wgs84[order],
        shapes.laea[order],
        shapes.centre_lon[order],
        shapes.centre_lat[order],
    )
    rank = rank_in[order]

    meta = describe_metadata(
        metadata, tiles, reference_season_quirk=reference_season_quirk
    )
    ids = meta.ids
    tile_dirs = meta.per_row(meta.tile_list, pa.string())
    season_codes = (
        np.array([SEASON_CODES[s] for s in meta.seasons], dtype=np.int64)[
            meta.tile_index
        ]
        if n
        else np.zeros(0, dtype=np.int64)
    )
    left, right = overlap_pairs(
        shapes.laea, meta.tile_index, season_codes, overlap_threshold=overlap_threshold
    )
    pair_order = np.lexsort((rank[right], left))
    left, right = left[pair_order], right[pair_order]
    overlap_offsets = np.concatenate([[0], np.cumsum(np.bincount(left, minlength=n))])
    cells = (grid or MajorTomGrid()).cell_names(shapes.centre_lon, shapes.centre_lat)
    bounds = shapely.bounds(shapes.wgs84)
    hrefs = _asset_href_arrays(ids, metadata.column("s1_name").combine_chunks())
    asset_type = _asset_type()
    assets = pa.StructArray.from_arrays(
        [
            pa.StructArray.from_arrays(
                [
                    hrefs[key],
                    _const(GEOTIFF_TYPE, n, pa.string()),
                    _const(_asset_roles(key), n, pa.list_(pa.string())),
                ],
                fields=list(asset_type),
            )
            for key in ASSET_KEYS
        ],
        fields=[pa.field(key, asset_type) for key in ASSET_KEYS],
    )
    links = _list_of(
        pa.StructArray.from_arrays(
            [
                _const("collection", n, pa.string()),
                _join(f"{STAC_DIR}/", tile_dirs, "/collection.json"),
                _const("application/json", n, pa.string()),
            ],
            fields=list(LINK_TYPE),
        ),
        np.arange(n + 1),
    )
    native = np.stack([facts.left, facts.bottom, facts.right, facts.top], axis=1)
    columns: dict[str, Any] = {
        "type": _const("Feature", n, pa.string()),
        "stac_version": _const(STAC_VERSION, n, pa.string()),
        "stac_extensions": _const(list(ITEM_EXTENSIONS), n, pa.list_(pa.string())),
        "id": ids,
        "geometry": pa.array(
            shapely.to_wkb(shapes.wgs84, byte_order=1, flavor="iso"), type=pa.binary()
        ),
        "bbox": pa.StructArray.from_arrays(
            [pa.array(bounds[:, i]) for i in range(4)], fields=list(BBOX_TYPE)
        ),
        "collection": tile_dirs,
        "links": links,
        "assets": assets,
        "datetime": meta.per_row(meta.sensing, pa.timestamp("us", tz="UTC")),
        "platform": meta.per_row(meta.platforms, pa.string()),
        "constellation": _const("sentinel-2", n, pa.string()),
        "instruments": _const(["msi"], n, pa.list_(pa.string())),
        "proj:code": pa.array([f"EPSG:{e}" for e in facts.epsg.tolist()], pa.string()),
        "proj:bbox": _list_of(pa.array(native.ravel()), np.arange(0, 4 * n + 1, 4)),
        "label:type": _const("vector", n, pa.string()),
        "label:properties": _const(["labels"], n, pa.list_(pa.string())),
        "label:description": _const(LABEL_DESCRIPTION, n, pa.string()),
        "patch_id": ids,
        "tile": meta.per_row(meta.tiles, pa.string()),
        "l2a_product": meta.per_row([r.l2a_product for r in meta.refs], pa.string()),
        "l1c_product": meta.per_row([r.l1c_product for r in meta.refs], pa.string()),
        "cdse_id": meta.per_row([r.cdse_id for r in meta.refs], pa.string()),
        "season": meta.per_row(meta.seasons, pa.string()),
        **{c: metadata.column(c) for c in METADATA_COLUMNS if c != "patch_id"},
        **{c: pa.array(facts.fractions[:, i]) for i, c in enumerate(FRACTION_COLUMNS)},
        "overlapping_patches": _list_of(ids.take(pa.array(right)), overlap_offsets),
        "grid_cell": pa.array(cells, pa.string()),
    }
    table = pa.table(
        [
            pa.chunked_array(columns[f.name]).cast(f.type)
            if isinstance(columns[f.name], pa.ChunkedArray)
            else columns[f.name].cast(f.type)
            for f in CATALOGUE_SCHEMA
        ],
        schema=CATALOGUE_SCHEMA,
    )
    return table


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
