"""Tiny, seeded L1C SAFE trees for the L2A tests (built in code, not committed).

The tree mimics an extracted CDSE L1C product: real compact naming, a
PSD 14.2-like MTD_MSIL1C.xml (Datatake, QUANTIFICATION_VALUE,
Quality_Inspections) and MTD_TL.xml (Tile_Geocoding Size/Geoposition), 13
lossless JPEG 2000 bands at 10/20/60 m, and — as CDSE delivers them — no
empty DATASTRIP/*/QI_DATA and GRANULE/*/AUX_DATA folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benpipe.l2a.jp2 import write_jp2
from benpipe.names import BAND_RESOLUTION_M, L1C_BANDS, parse_product_name

L1C_NAME = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
L2A_NAME = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000"
PASSED_ALL = {
    "SENSOR_QUALITY": "PASSED",
    "GEOMETRIC_QUALITY": "PASSED",
    "GENERAL_QUALITY": "PASSED",
    "FORMAT_CORRECTNESS": "PASSED",
    "RADIOMETRIC_QUALITY": "PASSED",
}

# Typical TOA reflectance·10000 per band for three surfaces.
_SURFACES = {
    "veg": dict(B01=1300, B02=900, B03=800, B04=500, B05=1000, B06=2300, B07=2800,
                B08=3000, B8A=3100, B09=900, B10=20, B11=1700, B12=900),
    "water": dict(B01=1200, B02=900, B03=800, B04=700, B05=450, B06=300, B07=250,
                  B08=200, B8A=180, B09=150, B10=10, B11=120, B12=100),
    "cloud": dict(B01=5000, B02=5200, B03=5100, B04=5300, B05=5400, B06=5500,
                  B07=5500, B08=5600, B8A=5600, B09=2500, B10=900, B11=3500,
                  B12=2800),
}  # fmt: skip


def _band_array(band: str, side_px_10m: int, rng: np.random.Generator) -> np.ndarray:
    res_m = BAND_RESOLUTION_M[band]
    n = side_px_10m * 10 // res_m
    rows, cols = np.mgrid[0:n, 0:n]
    frac_r, frac_c = rows / n, cols / n
    base = np.full((n, n), _SURFACES["veg"][band], dtype=np.int32)
    base[(frac_c < 0.3)] = _SURFACES["water"][band]
    base[(frac_r < 0.25) & (frac_c > 0.6)] = _SURFACES["cloud"][band]
    data = base + rng.integers(0, 50, size=(n, n)) + 150  # haze-like offset
    # nodata corner (all bands): lower-right 1/6 x 1/6 of the tile
    data[(frac_r >= 5 / 6) & (frac_c >= 5 / 6)] = 0
    if band == "B05":
        # a nodata strip in one band only (two 20 m rows)
        data[n // 2 : n // 2 + 2, : n // 3] = 0
    return data.astype(np.uint16)


#: Lossless, GDAL's defaults otherwise.
LOSSLESS = {"REVERSIBLE": "YES", "QUALITY": "100"}


def _mtd_msil1c(name: str, checks: dict[str, str], *, radio_offset: bool) -> str:
    product = parse_product_name(name)
    d = product.datatake
    start = f"{d[0:4]}-{d[4:6]}-{d[6:8]}T{d[9:11]}:{d[11:13]}:{d[13:15]}.026Z"
    quality = "\n".join(
        f'        <quality_check checkType="{k}">{v}</quality_check>'
        for k, v in checks.items()
    )
    offsets = ""
    if radio_offset:
        offsets = (
            "<Radiometric_Offset_List>"
            + "".join(
                f'<RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>'
                for i in range(13)
            )
            + "</Radiometric_Offset_List>"
        )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-1C_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{start}</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{name}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{product.baseline[1:3]}.{product.baseline[3:5]}</PROCESSING_BASELINE>
      <GENERATION_TIME>2017-06-13T10:16:08.000000Z</GENERATION_TIME>
      <Datatake datatakeIdentifier="GS2A_{d}_010325_N02.05">
        <SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <SENSING_ORBIT_NUMBER>{int(product.orbit)}</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>
      {offsets}
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>12.5</Cloud_Coverage_Assessment>
    <Technical_Quality_Assessment>
      <DEGRADED_ANC_DATA_PERCENTAGE>0.0</DEGRADED_ANC_DATA_PERCENTAGE>
      <DEGRADED_MSI_DATA_PERCENTAGE>0</DEGRADED_MSI_DATA_PERCENTAGE>
    </Technical_Quality_Assessment>
    <Quality_Control_Checks>
      <Quality_Inspections>
{quality}
      </Quality_Inspections>
      <Failed_Inspections/>
    </Quality_Control_Checks>
  </n1:Quality_Indicators_Info>
</n1:Level-1C_User_Product>
"""


def _mtd_tl(granule: str, *, epsg: int, ulx: float, uly: float, side_px: int) -> str:
    sizes = "".join(
        f'<Size resolution="{r}"><NROWS>{side_px * 10 // r}</NROWS>'
        f"<NCOLS>{side_px * 10 // r}</NCOLS></Size>\n"
        for r in (10, 20, 60)
    )
    geopos = "".join(
        f'<Geoposition resolution="{r}"><ULX>{ulx:g}</ULX><ULY>{uly:g}</ULY>'
        f"<XDIM>{r}</XDIM><YDIM>-{r}</YDIM></Geoposition>\n"
        for r in (10, 20, 60)
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-1C_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">S2A_OPER_MSI_L1C_TL_SGS__20170613T101608_{granule}</TILE_ID>
    <SENSING_TIME metadataLevel="Standard">2017-06-13T10:10:31.026Z</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone {epsg % 100}N</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{epsg}</HORIZONTAL_CS_CODE>
{sizes}{geopos}    </Tile_Geocoding>
  </n1:Geometric_Info>
</n1:Level-1C_Tile_ID>
"""


def make_l1c_safe(
    parent: Path,
    *,
    name: str = L1C_NAME,
    side_px: int = 120,
    epsg: int = 32633,
    ulx: float = 300000.0,
    uly: float = 5900040.0,
    checks: dict[str, str] | None = None,
    radio_offset: bool = False,
    seed: int = 7,
) -> Path:
    """Write ``parent/<name>.SAFE`` (side_px at 10 m, a multiple of 6)."""
    product = parse_product_name(name)
    safe = parent / f"{name}.SAFE"
    granule = f"L1C_T{product.tile}_A010325_{product.discriminator}"
    img = safe / "GRANULE" / granule / "IMG_DATA"
    img.mkdir(parents=True)
    (safe / "DATASTRIP" / f"DS_SGS__{product.discriminator}_S{product.datatake}").mkdir(
        parents=True
    )
    (safe / "manifest.safe").write_text("<xfdu:XFDU/>\n", encoding="utf-8")
    (safe / "MTD_MSIL1C.xml").write_text(
        _mtd_msil1c(name, checks or PASSED_ALL, radio_offset=radio_offset),
        encoding="utf-8",
    )
    (safe / "GRANULE" / granule / "MTD_TL.xml").write_text(
        _mtd_tl(granule, epsg=epsg, ulx=ulx, uly=uly, side_px=side_px),
        encoding="utf-8",
    )
    rng = np.random.default_rng(seed)
    for band in L1C_BANDS:
        data = _band_array(band, side_px, rng)
        if radio_offset:
            data = np.where(data > 0, data + 1000, 0).astype(np.uint16)
        write_jp2(
            img / f"T{product.tile}_{product.datatake}_{band}.jp2",
            data, epsg=epsg, ulx=ulx, uly=uly, res_m=BAND_RESOLUTION_M[band],
            options=LOSSLESS,
        )  # fmt: skip
    return safe
