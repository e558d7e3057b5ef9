"""Shared SAFE helpers: metadata XML parsing and writing, band-file discovery.

Both product levels share the tile geocoding of ``GRANULE/*/MTD_TL.xml``
(``HORIZONTAL_CS_CODE``, ``Size`` and ``Geoposition`` per resolution) and the
``Quality_Inspections`` block of the product metadata (``quality_check
checkType=…`` with ``PASSED``/``FAILED``).  XML is parsed namespace-agnostic,
so PSD 14.2 (2017 products) and later PSD versions read the same way.  The
blocks that L1C (demo world) and L2A (fallback converter) product metadata
write alike come from :func:`product_organisation_xml` and
:data:`SPECIAL_VALUES_XML`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benpipe.errors import ProductLayoutError

#: Resolutions (m) of a Sentinel-2 tile raster set.
RESOLUTIONS_M: tuple[int, ...] = (10, 20, 60)

#: Quality checks whose non-``PASSED`` value marks a failing product
#: (the reference's failing-quality view, REFERENCE-PIPELINE §5.2 D15).
FAILING_CHECK_TYPES: tuple[str, ...] = (
    "GEOMETRIC_QUALITY",
    "GENERAL_QUALITY",
    "RADIOMETRIC_QUALITY",
    "SENSOR_QUALITY",
)


@dataclass(frozen=True, slots=True)
class TileGeocoding:
    """Tile geocoding from ``MTD_TL.xml`` (all resolutions share the corner)."""

    epsg: int
    ulx: float
    uly: float
    #: resolution (m) -> (nrows, ncols)
    sizes_px: dict[int, tuple[int, int]]

    @property
    def tile_side_m(self) -> float:
        """Tile side in metres from the 10 m (else finest) raster size."""
        res_m = min(self.sizes_px)
        nrows, ncols = self.sizes_px[res_m]
        return float(ncols * res_m)

    def shape_at(self, res_m: int) -> tuple[int, int]:
        """(rows, cols) of a raster of this tile at ``res_m``."""
        side_m = self.tile_side_m
        if res_m in self.sizes_px:
            return self.sizes_px[res_m]
        side_px = round(side_m / res_m)
        return (side_px, side_px)


def local_name(tag: str) -> str:
    """Element tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def parse_xml(path: Path, *, product: str) -> ET.Element:
    """Parse a metadata XML file or raise :class:`ProductLayoutError`."""
    if not path.is_file():
        raise ProductLayoutError(
            f"product {product}: metadata file {path} is missing; "
            "the SAFE tree is incomplete (re-extract or re-run the conversion)"
        )
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ProductLayoutError(
            f"product {product}: {path} is not well-formed XML ({exc})"
        ) from exc


def find_all(root: ET.Element, name: str) -> list[ET.Element]:
    """All descendants with local name ``name``, in document order."""
    return [el for el in root.iter() if local_name(el.tag) == name]


def find_text(root: ET.Element, name: str, *, product: str, path: Path) -> str:
    """Text of the first descendant called ``name``; raise when absent."""
    for el in root.iter():
        if local_name(el.tag) == name and el.text is not None and el.text.strip():
            return el.text.strip()
    raise ProductLayoutError(
        f"product {product}: {path.name} has no <{name}> element; "
        "expected a Sentinel-2 product metadata file"
    )


def find_optional_text(root: ET.Element, name: str) -> str | None:
    """Text of the first descendant called ``name``, or None."""
    for el in root.iter():
        if local_name(el.tag) == name and el.text is not None:
            return el.text.strip()
    return None


def parse_utc(text: str, *, product: str, what: str) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SS(.ffffff)Z`` as an aware UTC datetime."""
    cleaned = text.strip().removesuffix("Z")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ProductLayoutError(
        f"product {product}: {what} {text!r} is not an ISO UTC time "
        "(expected e.g. 2017-06-13T10:10:31.026Z)"
    )


def parse_quality_checks(root: ET.Element) -> dict[str, str]:
    """``Quality_Inspections`` as checkType -> PASSED/FAILED (document order)."""
    checks: dict[str, str] = {}
    for el in find_all(root, "quality_check"):
        check_type = el.get("checkType")
        if check_type:
            checks[check_type] = (el.text or "").strip()
    return checks


def fails_quality(checks: dict[str, str]) -> bool:
    """True when any reference-filtered check is present and not PASSED."""
    return any(
        checks[name] != "PASSED" for name in FAILING_CHECK_TYPES if name in checks
    )


def parse_tile_geocoding(mtd_tl: Path, *, product: str) -> TileGeocoding:
    """Read EPSG, upper-left corner and per-resolution sizes from MTD_TL.xml."""
    root = parse_xml(mtd_tl, product=product)
    code = find_text(root, "HORIZONTAL_CS_CODE", product=product, path=mtd_tl)
    if not code.upper().startswith("EPSG:"):
        raise ProductLayoutError(
            f"product {product}: HORIZONTAL_CS_CODE {code!r} in {mtd_tl} is not "
            "an EPSG code (expected e.g. EPSG:32633)"
        )
    epsg = int(code.split(":", 1)[1])
    sizes: dict[int, tuple[int, int]] = {}
    for el in find_all(root, "Size"):
        res_m = int(el.get("resolution", "0"))
        nrows = find_optional_text(el, "NROWS")
        ncols = find_optional_text(el, "NCOLS")
        if res_m and nrows and ncols:
            sizes[res_m] = (int(nrows), int(ncols))
    corners: dict[int, tuple[float, float]] = {}
    for el in find_all(root, "Geoposition"):
        res_m = int(el.get("resolution", "0"))
        ulx_text = find_optional_text(el, "ULX")
        uly_text = find_optional_text(el, "ULY")
        if res_m and ulx_text and uly_text:
            corners[res_m] = (float(ulx_text), float(uly_text))
    if not sizes or not corners:
        raise ProductLayoutError(
            f"product {product}: {mtd_tl} lacks Tile_Geocoding Size/Geoposition "
            "elements; cannot locate the tile"
        )
    if len(set(corners.values())) != 1:
        raise ProductLayoutError(
            f"product {product}: {mtd_tl} gives different upper-left corners per "
            f"resolution {sorted(corners.items())}; expected one corner"
        )
    sides = {res_m * ncols for res_m, (nrows, ncols) in sizes.items()} | {
        res_m * nrows for res_m, (nrows, ncols) in sizes.items()
    }
    if len(sides) != 1:
        raise ProductLayoutError(
            f"product {product}: {mtd_tl} sizes {sorted(sizes.items())} do not "
            "describe one square tile at every resolution"
        )
    corner_x, corner_y = next(iter(corners.values()))
    return TileGeocoding(
        epsg=epsg, ulx=corner_x, uly=corner_y, sizes_px=dict(sorted(sizes.items()))
    )


def single_subdir(parent: Path, *, product: str) -> Path:
    """The one sub-folder of ``parent`` (GRANULE/, DATASTRIP/)."""
    if not parent.is_dir():
        raise ProductLayoutError(
            f"product {product}: folder {parent} is missing from the SAFE tree"
        )
    subdirs = sorted(p for p in parent.iterdir() if p.is_dir())
    if len(subdirs) != 1:
        raise ProductLayoutError(
            f"product {product}: expected exactly one folder in {parent}, found "
            f"{len(subdirs)} ({', '.join(p.name for p in subdirs) or 'none'})"
        )
    return subdirs[0]


def find_band_file(folder: Path, suffix: str, *, product: str) -> Path:
    """The single ``*_<suffix>`` file in ``folder`` (e.g. ``B02_10m.jp2``)."""
    matches = sorted(folder.glob(f"*_{suffix}")) if folder.is_dir() else []
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise ProductLayoutError(
            f"product {product}: expected one file *_{suffix} in {folder}, "
            f"found {found}"
        )
    return matches[0]


# ---------------------------------------------------------------- writing
#: The ``Special_Values`` of a product MTD (nodata 0, saturated 65535), at
#: the indentation of ``Product_Image_Characteristics``.
SPECIAL_VALUES_XML = """\
      <Special_Values>
        <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
      </Special_Values>
"""


def product_organisation_xml(
    granule_attributes: str, image_files: Iterable[str]
) -> str:
    """``Query_Options`` and ``Product_Organisation`` of a compact-SAFE product MTD.

    ``granule_attributes`` are the ``Granule`` element's identifier
    attributes (already escaped); ``image_files`` the ``IMAGE_FILE`` paths
    without extension.  Indented for ``Product_Info``, ends with a newline.
    """
    files = "".join(
        f"            <IMAGE_FILE>{path}</IMAGE_FILE>\n" for path in image_files
    )
    return (
        '      <Query_Options completeSingleTile="true">\n'
        "        <PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>\n"
        "      </Query_Options>\n"
        "      <Product_Organisation>\n"
        "        <Granule_List>\n"
        f'          <Granule {granule_attributes} imageFormat="JPEG2000">\n'
        f"{files}"
        "          </Granule>\n"
        "        </Granule_List>\n"
        "      </Product_Organisation>\n"
    )
