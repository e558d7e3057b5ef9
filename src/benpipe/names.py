"""The one home of product, patch and v1 names.

Every name in the dataset is a pure function of a product name and a patch's
(col, row); nothing here depends on iteration order.  Formats follow
REFERENCE-PIPELINE.md §2, §4, §5.0, §5.4 and §6.2.

* L1C product: ``S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608``
  (the catalogue name adds ``.SAFE``).
* L2A product: ``S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000``.
* tile directory (product without discriminator):
  ``S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP``.
* patch: ``<tile directory>_<col:02d>_<row:02d>``.
* v1 S2 patch: ``S2A_MSIL2A_20170613T101031_26_57`` (x,y unpadded; the time
  token may be malformed, see :func:`parse_v1_patch_name`).
* v1 S1 patch: ``S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57``; its group is
  the name without ``_<MGRS>_<x>_<y>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from benpipe.errors import NamingError

L2A_BASELINE = "N9999"
L2A_DISCRIMINATOR = "20240101T000000"

PRODUCT_RE = re.compile(
    r"^(?P<mission>S2[AB])_MSI(?P<level>L1C|L2A)_(?P<datatake>\d{8}T\d{6})"
    r"_(?P<baseline>N\d{4})_R(?P<orbit>\d{3})_T(?P<tile>\d{2}[A-Z]{3})"
    r"_(?P<discriminator>\d{8}T\d{6})$"
)
#: Snakemake wildcard constraint for an L1C product name (no ``.SAFE``).
L1C_WILDCARD = r"S2[AB]_MSIL1C_\d{8}T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}_\d{8}T\d{6}"
#: Snakemake wildcard constraint for an L2A product name (no ``.SAFE``).
L2A_WILDCARD = r"S2[AB]_MSIL2A_\d{8}T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}_\d{8}T\d{6}"

_PATCH_RE = re.compile(
    r"^(?P<tile_dir>S2[AB]_MSIL2A_\d{8}T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3})"
    r"_(?P<col>\d{2})_(?P<row>\d{2})$"
)
_V1_RE = re.compile(
    r"^(?P<mission>S2[AB])_(?P<level>MSIL(?:1B|1C|2A))_(?P<date>\d{8})T(?P<time>\d{5,6})"
    r"_(?P<x>\d{1,2})_(?P<y>\d{1,2})$"
)
_S1_RE = re.compile(
    r"^(?P<group>S1[AB]_IW_GRDH_1SDV_\d{8}T\d{6})_(?P<mgrs>\d{2}[A-Z]{3})"
    r"_(?P<x>\d{1,2})_(?P<y>\d{1,2})$"
)


@dataclass(frozen=True, slots=True)
class ProductName:
    """A parsed Sentinel-2 product name (L1C or L2A), without ``.SAFE``."""

    mission: str
    level: str
    datatake: str
    baseline: str
    orbit: str
    tile: str
    discriminator: str

    @property
    def name(self) -> str:
        return (
            f"{self.mission}_MSI{self.level}_{self.datatake}_{self.baseline}"
            f"_R{self.orbit}_T{self.tile}_{self.discriminator}"
        )

    @property
    def safe_name(self) -> str:
        return f"{self.name}.SAFE"

    @property
    def sensing_time(self) -> datetime:
        """Datatake start time in UTC, from the name (24-hour clock)."""
        return datetime.strptime(self.datatake, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)

    @property
    def tile_dir(self) -> str:
        """Product name without its discriminator (the dataset's tile folder)."""
        return (
            f"{self.mission}_MSI{self.level}_{self.datatake}_{self.baseline}"
            f"_R{self.orbit}_T{self.tile}"
        )

    def to_l2a(self) -> ProductName:
        """The deterministic L2A name sen2cor (patched) or the fallback gives."""
        return ProductName(
            mission=self.mission,
            level="L2A",
            datatake=self.datatake,
            baseline=L2A_BASELINE,
            orbit=self.orbit,
            tile=self.tile,
            discriminator=L2A_DISCRIMINATOR,
        )


def parse_product_name(name: str) -> ProductName:
    """Parse an L1C or L2A product name; a trailing ``.SAFE`` or ``.zip`` is ignored."""
    stem = name
    for suffix in (".zip", ".SAFE"):
        stem = stem.removesuffix(suffix)
    match = PRODUCT_RE.match(stem)
    if match is None:
        raise NamingError(
            f"product name {name!r} does not look like a Sentinel-2 product name; "
            "expected e.g. S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
            "(.SAFE)"
        )
    return ProductName(**match.groupdict())


def l2a_name_for(l1c_name: str) -> str:
    """L2A product name (no ``.SAFE``) for an L1C product name."""
    return parse_product_name(l1c_name).to_l2a().name


def tile_dir_for(product_name: str) -> str:
    """Dataset tile folder for an L1C or L2A product (always the L2A form)."""
    product = parse_product_name(product_name)
    if product.level != "L2A":
        product = product.to_l2a()
    return product.tile_dir


def patch_name(product_name: str, *, col: int, row: int) -> str:
    """Patch id ``<tile dir>_<col:02d>_<row:02d>`` (REFERENCE-PIPELINE §5.4)."""
    if col < 0 or row < 0 or col > 99 or row > 99:
        raise NamingError(
            f"patch index col={col}, row={row} of {product_name} is outside 0..99"
        )
    return f"{tile_dir_for(product_name)}_{col:02d}_{row:02d}"


@dataclass(frozen=True, slots=True)
class PatchName:
    tile_dir: str
    col: int
    row: int

    @property
    def name(self) -> str:
        return f"{self.tile_dir}_{self.col:02d}_{self.row:02d}"


def parse_patch_name(name: str) -> PatchName:
    match = _PATCH_RE.match(name)
    if match is None:
        raise NamingError(
            f"patch id {name!r} does not match "
            "<S2A|S2B>_MSIL2A_<YYYYMMDDThhmmss>_N9999_R<ooo>_T<zzBBB>_<xx>_<yy>"
        )
    return PatchName(
        tile_dir=match["tile_dir"], col=int(match["col"]), row=int(match["row"])
    )


@dataclass(frozen=True, slots=True)
class V1PatchName:
    """A BigEarthNet v1 S2 patch name."""

    name: str
    mission: str
    level: str
    sensing_time: datetime
    col: int
    row: int


def parse_v1_patch_name(name: str) -> V1PatchName:
    """Parse a v1 S2 patch name, repairing its known time-token defects.

    v1 names sometimes carry a 5-digit time (hour without leading zero:
    ``T94160``) or seconds 60-99; both are repaired as the reference does
    (§5.0).  The time is informational only: v1 alignment never uses it.
    """
    match = _V1_RE.match(name)
    if match is None:
        raise NamingError(
            f"v1 patch name {name!r} does not match "
            "<S2A|S2B>_MSIL2A_<YYYYMMDD>T<hhmmss>_<x>_<y>"
        )
    time_token = match["time"]
    if len(time_token) == 5:
        time_token = "0" + time_token
    if int(time_token[4:6]) >= 60:
        time_token = time_token[:4] + "59"
    try:
        sensing = datetime.strptime(match["date"] + time_token, "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise NamingError(
            f"v1 patch name {name!r} has an unparseable time {match['time']!r}"
        ) from exc
    return V1PatchName(
        name=name,
        mission=match["mission"],
        level=match["level"],
        sensing_time=sensing.replace(tzinfo=UTC),
        col=int(match["x"]),
        row=int(match["y"]),
    )


def v1_patch_name(l1c_name: str, *, col: int, row: int) -> str:
    """The well-formed v1 name of a patch of ``l1c_name`` (x,y unpadded)."""
    product = parse_product_name(l1c_name)
    return f"{product.mission}_MSIL2A_{product.datatake}_{col}_{row}"


@dataclass(frozen=True, slots=True)
class S1Name:
    name: str
    group: str
    mgrs: str
    col: int
    row: int


def parse_s1_name(name: str) -> S1Name:
    """Parse a v1 S1 patch name; ``group`` drops ``_<MGRS>_<x>_<y>`` (§6.2)."""
    match = _S1_RE.match(name)
    if match is None:
        raise NamingError(
            f"S1 patch name {name!r} does not match "
            "S1[AB]_IW_GRDH_1SDV_<YYYYMMDDThhmmss>_<MGRS>_<x>_<y>"
        )
    return S1Name(
        name=name,
        group=match["group"],
        mgrs=match["mgrs"],
        col=int(match["x"]),
        row=int(match["y"]),
    )


#: The 12 spectral bands of the dataset, in the reference's file-name form.
BANDS: tuple[str, ...] = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B11",
    "B12",
)
#: Native resolution in metres of every L1C band (B10 is L1C only).
BAND_RESOLUTION_M: dict[str, int] = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B10": 60,
    "B11": 20,
    "B12": 20,
}
#: The 13 L1C bands in product order: the 12 dataset bands with the cirrus band
#: B10 between B09 and B11.
L1C_BANDS: tuple[str, ...] = (*BANDS[:10], "B10", *BANDS[10:])

#: The 10 countries of BigEarthNet (Natural Earth ``NAME_LONG``), sorted.
BEN_COUNTRIES: tuple[str, ...] = (
    "Austria",
    "Belgium",
    "Finland",
    "Ireland",
    "Kosovo",
    "Lithuania",
    "Luxembourg",
    "Portugal",
    "Serbia",
    "Switzerland",
)
