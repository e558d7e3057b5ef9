"""The products the emulator serves, described the way CDSE describes them.

``<root>/cdse/catalogue.json`` gives what the world generator knows (``Id``,
``Name``, ``ContentLength``, ``Checksum``, ``Online``, ``ContentDate``); the
rest is read from the served zip itself, as CDSE derives it from the product:

* ``MTD_MSIL1C.xml``: sensing start/stop, processing baseline, generation
  time, spacecraft, datatake type, orbit direction, cloud cover, product type,
  datastrip and granule identifiers;
* ``GRANULE/*/MTD_TL.xml``: the tile's CRS, corner and size, reprojected to
  EPSG:4326 for ``Footprint`` (WKT geography) and ``GeoFootprint`` (GeoJSON);
* the granule folder name (absolute orbit) and the product name (tile, relative
  orbit, platform);
* the member list, as the ``Nodes`` tree of the SAFE.

Dates CDSE adds when it ingests a product (``OriginDate``,
``PublicationDate``, ``ModificationDate``, ``ChecksumDate``) are fixed offsets
from the product's generation time, so entities are the same on every start.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, mapping

from benpipe.cdse.emulator.odata import Attribute, Record
from benpipe.errors import InputDataError
from benpipe.names import parse_product_name

EVICTION_DATE = "9999-12-31T23:59:59.999Z"
#: Ingestion delays after the generation time (fixed, so entities are stable).
ORIGIN_DELAY = timedelta(minutes=30)
PUBLICATION_DELAY = timedelta(hours=1)
_COLLECTIONS = {"S1": "SENTINEL-1", "S2": "SENTINEL-2", "S3": "SENTINEL-3"}
_ABS_ORBIT_RE = re.compile(r"_A(\d{6})_")


def iso_ms(value: datetime) -> str:
    """``2017-06-13T10:10:31.026Z``: CDSE's UTC datetime form."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SafeNode:
    """A folder or file inside a product's SAFE (``path`` from the SAFE root's parent)."""

    path: tuple[str, ...]
    member: str | None  # the zip member of a file; None for a folder
    size: int
    children: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServedProduct:
    """One product: its entity fields, attributes, filter record and node tree."""

    id: str
    name: str
    zip_path: Path
    entity: Mapping[str, Any]
    attributes: tuple[Attribute, ...]
    record: Record
    nodes: Mapping[tuple[str, ...], SafeNode] = field(repr=False)

    @property
    def online(self) -> bool:
        return bool(self.entity.get("Online", True))


# ------------------------------------------------------------------ SAFE metadata
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_fields(data: bytes) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(text of each leaf element by local name, attributes by local name)."""
    texts: dict[str, str] = {}
    attrs: dict[str, dict[str, str]] = {}
    for element in ET.fromstring(data).iter():
        name = _local(element.tag)
        if element.text and element.text.strip() and name not in texts:
            texts[name] = element.text.strip()
        if element.attrib and name not in attrs:
            attrs[name] = dict(element.attrib)
    return texts, attrs


def _tile_footprint(data: bytes) -> Polygon | None:
    """The tile's outline in EPSG:4326 from ``MTD_TL.xml`` (None if not geocoded)."""
    root = ET.fromstring(data)
    code = next(
        (e.text for e in root.iter() if _local(e.tag) == "HORIZONTAL_CS_CODE"), None
    )
    geo = next(
        (
            e
            for e in root.iter()
            if _local(e.tag) == "Geoposition" and e.get("resolution") == "10"
        ),
        None,
    )
    size = next(
        (
            e
            for e in root.iter()
            if _local(e.tag) == "Size" and e.get("resolution") == "10"
        ),
        None,
    )
    if not code or geo is None or size is None:
        return None
    values = {_local(e.tag): float(e.text or 0) for e in (*geo, *size)}
    left, top = values["ULX"], values["ULY"]
    right, bottom = left + 10 * values["NCOLS"], top - 10 * values["NROWS"]
    to_wgs84 = Transformer.from_crs(code.strip(), "EPSG:4326", always_xy=True)
    corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
    return Polygon([to_wgs84.transform(x, y) for x, y in corners])


def _members(zip_path: Path) -> dict[str, zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return {info.filename: info for info in archive.infolist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputDataError(
            f"{zip_path}: not a readable zip ({exc}); regenerate the world"
        ) from exc


def read_member(zip_path: Path, member: str) -> bytes:
    """The (decompressed) bytes of one zip member."""
    with zipfile.ZipFile(zip_path) as archive:
        return archive.read(member)


def _node_tree(
    names: Iterable[str], infos: Mapping[str, zipfile.ZipInfo]
) -> dict[tuple[str, ...], SafeNode]:
    children: dict[tuple[str, ...], set[str]] = {(): set()}
    files: dict[tuple[str, ...], zipfile.ZipInfo] = {}
    for name in names:
        parts = tuple(p for p in name.split("/") if p)
        for depth in range(len(parts)):
            children.setdefault(parts[:depth], set()).add(parts[depth])
        if name.endswith("/"):
            children.setdefault(parts, set())
        else:
            files[parts] = infos[name]
    tree: dict[tuple[str, ...], SafeNode] = {}
    for path, kids in children.items():
        if path in files:
            continue
        tree[path] = SafeNode(path, None, 0, tuple(sorted(kids)))
    for path, info in files.items():
        tree[path] = SafeNode(path, info.filename, info.file_size)
    return tree


# ------------------------------------------------------------------ entities
def _attributes(
    name: str, mtd: dict[str, str], mtd_attrs: dict[str, dict[str, str]], granule: str
) -> tuple[Attribute, ...]:
    parsed = parse_product_name(name)
    baseline = (
        mtd.get("PROCESSING_BASELINE")
        or f"{parsed.baseline[1:3]}.{parsed.baseline[3:5]}"
    )
    granule_ids = mtd_attrs.get("Granule", {})
    orbit = _ABS_ORBIT_RE.search(f"_{granule}_")
    values: list[Attribute] = [
        Attribute("authority", "String", "ESA"),
        Attribute("origin", "String", "ESA"),
        Attribute("instrumentShortName", "String", "MSI"),
        Attribute("platformShortName", "String", "SENTINEL-2"),
        Attribute("platformSerialIdentifier", "String", parsed.mission[-1]),
        Attribute(
            "productType", "String", mtd.get("PRODUCT_TYPE", f"S2MSI{parsed.level[1:]}")
        ),
        Attribute(
            "processingLevel",
            "String",
            mtd.get("PRODUCT_TYPE", f"S2MSI{parsed.level[1:]}"),
        ),
        Attribute("processingBaseline", "String", baseline),
        Attribute("processorVersion", "String", baseline),
        Attribute("tileId", "String", parsed.tile),
        Attribute(
            "relativeOrbitNumber",
            "Integer",
            int(mtd.get("SENSING_ORBIT_NUMBER", parsed.orbit)),
        ),
    ]
    if orbit:
        values.append(Attribute("orbitNumber", "Integer", int(orbit.group(1))))
    optional = (
        ("cloudCover", "Double", "Cloud_Coverage_Assessment", float),
        ("orbitDirection", "String", "SENSING_ORBIT_DIRECTION", str),
        ("operationalMode", "String", "DATATAKE_TYPE", str),
        ("beginningDateTime", "DateTimeOffset", "PRODUCT_START_TIME", _parse_time),
        ("endingDateTime", "DateTimeOffset", "PRODUCT_STOP_TIME", _parse_time),
    )
    for attr_name, value_type, key, convert in optional:
        if key in mtd:
            values.append(Attribute(attr_name, value_type, convert(mtd[key])))
    for attr_name, key in (
        ("datastripId", "datastripIdentifier"),
        ("granuleIdentifier", "granuleIdentifier"),
    ):
        if key in granule_ids:
            values.append(Attribute(attr_name, "String", granule_ids[key]))
    return tuple(sorted(values, key=lambda a: a.name))


def attribute_json(attr: Attribute) -> dict[str, Any]:
    value: Any = iso_ms(attr.value) if isinstance(attr.value, datetime) else attr.value
    return {
        "@odata.type": f"#OData.CSC.{attr.value_type}Attribute",
        "Name": attr.name,
        "Value": value,
        "ValueType": attr.value_type,
    }


def _entity(
    entry: Mapping[str, Any],
    mtd: dict[str, str],
    footprint: Polygon | None,
    *,
    online: bool,
) -> dict[str, Any]:
    name = str(entry["Name"])
    parsed = parse_product_name(name)
    sensing = parsed.sensing_time
    generated = (
        _parse_time(mtd["GENERATION_TIME"]) if "GENERATION_TIME" in mtd else sensing
    )
    published = iso_ms(generated + PUBLICATION_DELAY)
    content_date = dict(entry.get("ContentDate") or {})
    content_date.setdefault("Start", mtd.get("PRODUCT_START_TIME", iso_ms(sensing)))
    content_date.setdefault("End", mtd.get("PRODUCT_STOP_TIME", content_date["Start"]))
    checksums = [
        {**item, "ChecksumDate": item.get("ChecksumDate", published)}
        for item in entry.get("Checksum") or []
    ]
    return {
        "Id": str(entry["Id"]),
        "Name": name,
        "ContentType": "application/octet-stream",
        "ContentLength": int(entry.get("ContentLength") or 0),
        "OriginDate": iso_ms(generated + ORIGIN_DELAY),
        "PublicationDate": published,
        "ModificationDate": published,
        "Online": online,
        "EvictionDate": EVICTION_DATE,
        "S3Path": f"/eodata/Sentinel-2/MSI/{parsed.level}/{sensing:%Y/%m/%d}/{name}",
        "Checksum": checksums,
        "ContentDate": content_date,
        "Footprint": (
            f"geography'SRID=4326;{shapely.to_wkt(footprint, rounding_precision=6)}'"
            if footprint is not None
            else None
        ),
        "GeoFootprint": json.loads(json.dumps(mapping(footprint)))
        if footprint is not None
        else None,
    }


def _record(
    entity: Mapping[str, Any],
    attributes: tuple[Attribute, ...],
    footprint: Polygon | None,
) -> Record:
    props: dict[str, Any] = {
        key: entity[key]
        for key in ("Id", "Name", "ContentType", "ContentLength", "Online", "S3Path")
    }
    for key in ("OriginDate", "PublicationDate", "ModificationDate", "EvictionDate"):
        props[key] = _parse_time(entity[key])
    props["ContentDate/Start"] = _parse_time(entity["ContentDate"]["Start"])
    props["ContentDate/End"] = _parse_time(entity["ContentDate"]["End"])
    props["Collection/Name"] = _COLLECTIONS.get(str(entity["Name"])[:2], "")
    return Record(props, attributes, footprint)


def load_product(
    root: Path, entry: Mapping[str, Any], *, online: bool
) -> ServedProduct:
    """Describe one catalogue entry from its zip under ``<root>/cdse/products``."""
    name = str(entry["Name"])
    zip_path = root / "cdse" / "products" / f"{name.removesuffix('.SAFE')}.zip"
    infos = _members(zip_path)
    safe = f"{name.removesuffix('.SAFE')}.SAFE/"
    inside = sorted(m for m in infos if m.startswith(safe))
    if not inside:
        raise InputDataError(
            f"{zip_path}: no member under {safe}; is this the right zip?"
        )
    mtd: dict[str, str] = {}
    mtd_attrs: dict[str, dict[str, str]] = {}
    if f"{safe}MTD_MSIL1C.xml" in infos:
        mtd, mtd_attrs = _xml_fields(read_member(zip_path, f"{safe}MTD_MSIL1C.xml"))
    tile_mtd = next(
        (
            m
            for m in inside
            if re.fullmatch(rf"{re.escape(safe)}GRANULE/[^/]+/MTD_TL\.xml", m)
        ),
        None,
    )
    footprint = _tile_footprint(read_member(zip_path, tile_mtd)) if tile_mtd else None
    granules = sorted(
        {
            m[len(safe) :].split("/")[1]
            for m in inside
            if m.startswith(f"{safe}GRANULE/") and m.count("/") > 2
        }
    )
    attributes = _attributes(name, mtd, mtd_attrs, granules[0] if granules else "")
    entity = _entity(entry, mtd, footprint, online=online)
    return ServedProduct(
        id=entity["Id"],
        name=name,
        zip_path=zip_path,
        entity=entity,
        attributes=attributes,
        record=_record(entity, attributes, footprint),
        nodes=_node_tree(inside, infos),
    )


def load_catalogue(
    root: Path, *, offline: Iterable[str] = ()
) -> dict[str, ServedProduct]:
    """Every product of ``<root>/cdse/catalogue.json``, keyed by id."""
    catalogue = root / "cdse" / "catalogue.json"
    if not catalogue.is_file():
        raise InputDataError(
            f"{catalogue} does not exist; generate the world with "
            "`benpipe demo-world --out <root>` (or point --root at it)"
        )
    entries = json.loads(catalogue.read_text(encoding="utf-8"))
    if isinstance(entries, dict):
        entries = entries.get("value", [])
    offline_names = {n.removesuffix(".SAFE") for n in offline}
    products: dict[str, ServedProduct] = {}
    for entry in entries:
        name = str(entry["Name"]).removesuffix(".SAFE")
        online = bool(entry.get("Online", True)) and name not in offline_names
        product = load_product(root, entry, online=online)
        products[product.id] = product
    return products


# ------------------------------------------------------------------ JSON views
def entity_json(
    product: ServedProduct,
    *,
    expand: Iterable[str] = (),
    select: Iterable[str] | None = None,
    download_base: str = "",
) -> dict[str, Any]:
    """The product as ``Products`` answers it (``$select`` and ``$expand`` applied)."""
    fields = dict(product.entity)
    if select is not None:
        wanted = set(select)
        fields = {k: v for k, v in fields.items() if k in wanted}
    out: dict[str, Any] = {
        "@odata.mediaContentType": "application/octet-stream",
        **fields,
    }
    expand = set(expand)
    if "Attributes" in expand:
        out["Attributes"] = [attribute_json(a) for a in product.attributes]
    if "Assets" in expand:
        out["Assets"] = []  # the demo products carry no quicklook
    if "Locations" in expand:
        out["Locations"] = [
            {
                "FormatType": "Extracted",
                "DownloadLink": f"{download_base}/odata/v1/Products({product.id})/$value",
                "ContentLength": product.entity["ContentLength"],
                "Checksum": product.entity["Checksum"],
                "S3Path": product.entity["S3Path"],
            }
        ]
    return out


def node_json(product: ServedProduct, node: SafeNode, base: str) -> dict[str, Any]:
    """One entry of a ``Nodes`` listing (``uri`` lists its children)."""
    segments = "/".join(f"Nodes({part})" for part in node.path)
    return {
        "Id": node.path[-1],
        "Name": node.path[-1],
        "ContentLength": node.size,
        "ChildrenNumber": len(node.children),
        "Nodes": {"uri": f"{base}/odata/v1/Products({product.id})/{segments}/Nodes"},
    }


def node_listing(
    product: ServedProduct, path: tuple[str, ...], base: str
) -> dict[str, Any] | None:
    """``{"result": [...]}`` for the children of ``path`` (a file lists nothing)."""
    node = product.nodes.get(path)
    if node is None:
        return None
    kids = [product.nodes[(*path, child)] for child in node.children]
    return {"result": [node_json(product, kid, base) for kid in kids]}
