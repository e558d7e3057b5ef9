"""Writers for L1C SAFE metadata and deterministic zip archives.

The XML mimics the real compact-naming L1C products (PSD 14): the fields the
pipeline reads are real and in their real places; the rest is trimmed.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from benpipe.demo.spec import ProductLayout
from benpipe.l2a.safe import SPECIAL_VALUES_XML, product_organisation_xml
from benpipe.names import BAND_RESOLUTION_M, L1C_BANDS, parse_product_name

#: Fixed timestamp of every zip entry (no wall clock in the data).
ZIP_DATE_TIME = (2024, 1, 1, 0, 0, 0)

_RESOLUTIONS = (10, 20, 60)
_UTM_NAMES = {32629: "WGS84 / UTM zone 29N", 32633: "WGS84 / UTM zone 33N"}


@dataclass(frozen=True, slots=True)
class SafeNames:
    """Folder and file names inside one L1C SAFE."""

    product: str
    granule: str
    datastrip: str
    datatake: str
    tile: str

    @property
    def root(self) -> str:
        return f"{self.product}.SAFE"

    def band_member(self, band: str) -> str:
        return (
            f"{self.root}/GRANULE/{self.granule}/IMG_DATA/"
            f"T{self.tile}_{self.datatake}_{band}.jp2"
        )

    @property
    def empty_dirs(self) -> tuple[str, ...]:
        return (
            f"{self.root}/AUX_DATA/",
            f"{self.root}/HTML/",
            f"{self.root}/rep_info/",
            f"{self.root}/DATASTRIP/{self.datastrip}/QI_DATA/",
            f"{self.root}/GRANULE/{self.granule}/AUX_DATA/",
            f"{self.root}/GRANULE/{self.granule}/QI_DATA/",
        )


def safe_names(layout: ProductLayout) -> SafeNames:
    product = parse_product_name(layout.spec.name)
    return SafeNames(
        product=product.name,
        granule=(
            f"L1C_T{product.tile}_A{layout.spec.abs_orbit:06d}_{product.discriminator}"
        ),
        datastrip=f"DS_SGS__{product.discriminator}_S{product.datatake}",
        datatake=product.datatake,
        tile=product.tile,
    )


def _iso_ms(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def product_start_time(name: str) -> str:
    """``PRODUCT_START_TIME`` of a product, e.g. ``2017-06-13T10:10:31.026Z``."""
    start = parse_product_name(name).sensing_time + timedelta(milliseconds=26)
    return _iso_ms(start)


_L1C_ROOT = (
    '<n1:Level-1C_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/'
    'User_Product_Level-1C.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="https://psd-14.sentinel2.eo.esa.int/PSD/'
    'User_Product_Level-1C.xsd">'
)
#: The Geometric_Info and Auxiliary_Data_Info blocks (the same for every product).
_L1C_GEOMETRIC_AND_AUXILIARY = """\
  <n1:Geometric_Info>
    <Product_Footprint>
      <Product_Footprint>
        <Global_Footprint>
          <EXT_POS_LIST>Not computed by the demo world</EXT_POS_LIST>
        </Global_Footprint>
      </Product_Footprint>
      <RASTER_CS_TYPE>POINT</RASTER_CS_TYPE>
      <PIXEL_ORIGIN>1</PIXEL_ORIGIN>
    </Product_Footprint>
    <Coordinate_Reference_System>
      <GEO_TABLES version="1">EPSG</GEO_TABLES>
      <HORIZONTAL_CS_TYPE>GEOGRAPHIC</HORIZONTAL_CS_TYPE>
    </Coordinate_Reference_System>
  </n1:Geometric_Info>
  <n1:Auxiliary_Data_Info>
    <PRODUCTION_DEM_TYPE>S2__OPER_DEM_GLOBEF_PDMC_19800101T000000_S19800101T000000</PRODUCTION_DEM_TYPE>
  </n1:Auxiliary_Data_Info>
"""


def mtd_msil1c_xml(layout: ProductLayout, names: SafeNames) -> str:
    """The product metadata ``MTD_MSIL1C.xml``."""
    return "".join(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            _L1C_ROOT + "\n",
            "  <n1:General_Info>\n",
            _l1c_product_info(layout, names),
            _l1c_image_characteristics(),
            "  </n1:General_Info>\n",
            _L1C_GEOMETRIC_AND_AUXILIARY,
            _l1c_quality_indicators(layout.spec.quality_checks),
            "</n1:Level-1C_User_Product>\n",
        )
    )


def _l1c_product_info(layout: ProductLayout, names: SafeNames) -> str:
    spec = layout.spec
    product = parse_product_name(spec.name)
    start = product_start_time(spec.name)
    generation = datetime.strptime(product.discriminator, "%Y%m%dT%H%M%S")
    baseline = f"{product.baseline[1:3]}.{product.baseline[3:5]}"
    spacecraft = "Sentinel-2A" if product.mission == "S2A" else "Sentinel-2B"
    granule = (
        f'datastripIdentifier="{product.mission}_OPER_MSI_L1C_DS_SGS__'
        f'{product.discriminator}_S{product.datatake}_N{baseline}" '
        f'granuleIdentifier="{product.mission}_OPER_MSI_L1C_TL_SGS__'
        f'{product.discriminator}_A{spec.abs_orbit:06d}_T{names.tile}_N{baseline}"'
    )
    image_files = (
        f"GRANULE/{names.granule}/IMG_DATA/T{names.tile}_{names.datatake}_{band}"
        for band in L1C_BANDS
    )
    datatake = f"G{product.mission}_{product.datatake}_{spec.abs_orbit:06d}_N{baseline}"
    return f"""\
    <Product_Info>
      <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{start}</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{names.root}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <GENERATION_TIME>{generation:%Y-%m-%dT%H:%M:%S}.000000Z</GENERATION_TIME>
      <PREVIEW_IMAGE_URL>Not applicable</PREVIEW_IMAGE_URL>
      <PREVIEW_GEO_INFO>Not applicable</PREVIEW_GEO_INFO>
      <Datatake datatakeIdentifier="{datatake}">
        <SPACECRAFT_NAME>{spacecraft}</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>{start}</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>{int(product.orbit)}</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
{product_organisation_xml(granule, image_files)}\
    </Product_Info>
"""


def _l1c_image_characteristics() -> str:
    spectral = "".join(
        f'        <Spectral_Information bandId="{i}" physicalBand="{_physical(band)}">\n'
        f"          <RESOLUTION>{BAND_RESOLUTION_M[band]}</RESOLUTION>\n"
        "        </Spectral_Information>\n"
        for i, band in enumerate(L1C_BANDS)
    )
    return f"""\
    <Product_Image_Characteristics>
{SPECIAL_VALUES_XML}\
      <Image_Display_Order>
        <RED_CHANNEL>3</RED_CHANNEL>
        <GREEN_CHANNEL>2</GREEN_CHANNEL>
        <BLUE_CHANNEL>1</BLUE_CHANNEL>
      </Image_Display_Order>
      <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>
      <Reflectance_Conversion>
        <U>1.0</U>
      </Reflectance_Conversion>
      <Spectral_Information_List>
{spectral}\
      </Spectral_Information_List>
    </Product_Image_Characteristics>
"""


def _l1c_quality_indicators(quality_checks: dict[str, str]) -> str:
    checks = "".join(
        f'        <quality_check checkType="{check}">{status}</quality_check>\n'
        for check, status in quality_checks.items()
    )
    return f"""\
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>0.0</Cloud_Coverage_Assessment>
    <Technical_Quality_Assessment>
      <DEGRADED_ANC_DATA_PERCENTAGE>0.0</DEGRADED_ANC_DATA_PERCENTAGE>
      <DEGRADED_MSI_DATA_PERCENTAGE>0</DEGRADED_MSI_DATA_PERCENTAGE>
    </Technical_Quality_Assessment>
    <Quality_Control_Checks>
      <Quality_Inspections>
{checks}\
      </Quality_Inspections>
      <Failed_Inspections />
    </Quality_Control_Checks>
  </n1:Quality_Indicators_Info>
"""


def _physical(band: str) -> str:
    """Physical band name as in the MTD (B1 ... B8A ... B12)."""
    return band if band in ("B8A", "B10", "B11", "B12") else f"B{int(band[1:])}"


def mtd_tl_xml(layout: ProductLayout, names: SafeNames) -> str:
    """The tile metadata ``GRANULE/<granule>/MTD_TL.xml``."""
    spec = layout.spec
    product = parse_product_name(spec.name)
    sensing = product_start_time(spec.name)
    baseline = f"{product.baseline[1:3]}.{product.baseline[3:5]}"
    sizes = "\n".join(
        f'      <Size resolution="{res}">\n'
        f"        <NROWS>{layout.size_px(res)}</NROWS>\n"
        f"        <NCOLS>{layout.size_px(res)}</NCOLS>\n"
        "      </Size>"
        for res in _RESOLUTIONS
    )
    positions = "\n".join(
        f'      <Geoposition resolution="{res}">\n'
        f"        <ULX>{layout.ulx:.0f}</ULX>\n"
        f"        <ULY>{layout.uly:.0f}</ULY>\n"
        f"        <XDIM>{res}</XDIM>\n"
        f"        <YDIM>-{res}</YDIM>\n"
        "      </Geoposition>"
        for res in _RESOLUTIONS
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-1C_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">{product.mission}_OPER_MSI_L1C_TL_SGS__{product.discriminator}_A{spec.abs_orbit:06d}_T{names.tile}_N{baseline}</TILE_ID>
    <DATASTRIP_ID metadataLevel="Standard">{product.mission}_OPER_MSI_L1C_DS_SGS__{product.discriminator}_S{product.datatake}_N{baseline}</DATASTRIP_ID>
    <DOWNLINK_PRIORITY metadataLevel="Standard">NOMINAL</DOWNLINK_PRIORITY>
    <SENSING_TIME metadataLevel="Standard">{sensing}</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>{_UTM_NAMES.get(spec.epsg, f"EPSG:{spec.epsg}")}</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{spec.epsg}</HORIZONTAL_CS_CODE>
{sizes}
{positions}
    </Tile_Geocoding>
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info metadataLevel="Standard">
    <Image_Content_QI>
      <CLOUDY_PIXEL_PERCENTAGE>0.0</CLOUDY_PIXEL_PERCENTAGE>
      <DEGRADED_MSI_DATA_PERCENTAGE>0</DEGRADED_MSI_DATA_PERCENTAGE>
    </Image_Content_QI>
  </n1:Quality_Indicators_Info>
</n1:Level-1C_Tile_ID>
"""


def manifest_safe_xml(names: SafeNames, files: dict[str, bytes | Path]) -> str:
    """An XFDU ``manifest.safe`` listing every data file with size and MD5."""
    objects = []
    for i, member in enumerate(sorted(files)):
        content = files[member]
        data = content.read_bytes() if isinstance(content, Path) else content
        href = "./" + member.removeprefix(names.root + "/")
        mime = "application/octet-stream" if member.endswith(".jp2") else "text/xml"
        objects.append(
            f'    <dataObject ID="obj{i:03d}">\n'
            f'      <byteStream mimeType="{mime}" size="{len(data)}">\n'
            f'        <fileLocation locatorType="URL" href="{href}"/>\n'
            f'        <checksum checksumName="MD5">{hashlib.md5(data).hexdigest()}'
            "</checksum>\n"
            "      </byteStream>\n"
            "    </dataObject>"
        )
    body = "\n".join(objects)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel/1.1" version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product">
  <informationPackageMap>
    <xfdu:contentUnit ID="S2_Level-1C_Product" unitType="Product_Level-1C" textInfo="SENTINEL-2 MSI Level-1C User Product" dmdID="acquisitionPeriod platform" pdiID="processing">
      <metadataPointer href="./MTD_MSIL1C.xml"/>
    </xfdu:contentUnit>
  </informationPackageMap>
  <dataObjectSection>
{body}
  </dataObjectSection>
</xfdu:XFDU>
"""


def write_zip(
    zip_path: Path, files: dict[str, bytes | Path], dirs: Iterable[str]
) -> None:
    """Write a deterministic zip: sorted entries, fixed times and modes.

    ``files`` maps member names to bytes or to a file to copy; ``dirs`` are
    explicit directory entries (ending in ``/``); every parent directory of a
    member gets an entry too.
    """
    all_dirs = set(dirs)
    for member in files:
        parts = member.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            all_dirs.add("/".join(parts[:i]) + "/")
    entries: list[str] = sorted(all_dirs | set(files))
    with zipfile.ZipFile(zip_path, "w", allowZip64=True) as zf:
        for member in entries:
            info = zipfile.ZipInfo(member, date_time=ZIP_DATE_TIME)
            info.create_system = 3
            if member.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                info.compress_type = zipfile.ZIP_STORED
                zf.writestr(info, b"")
                continue
            info.external_attr = 0o100644 << 16
            content = files[member]
            if isinstance(content, Path):
                info.compress_type = zipfile.ZIP_STORED
                info.file_size = content.stat().st_size
                with content.open("rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, content, compresslevel=6)
