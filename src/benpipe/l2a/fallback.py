"""The built-in fallback L1C→L2A converter (``l2a.processor: fallback``).

This is **not sen2cor** and not an atmospheric correction.  It exists so the
pipeline runs where sen2cor 2.11 cannot be installed (CI, the demo world).
It writes the sen2cor 2.11 SAFE layout so every later stage reads it with the
same :mod:`benpipe.l2a.products`, and it marks its products unmistakably
(``<PROCESSOR>benpipe-fallback-dos1</PROCESSOR>`` in ``MTD_MSIL2A.xml``).

Algorithm (``FALLBACK_VERSION`` 2; version 1 wrote the same pixels without
the JPEG 2000 coding bypass), per spectral band at its native
resolution (DOS1-like dark-object subtraction):

* valid pixels are L1C DN ≠ 0; L1C 0 (nodata) stays 0 in every output band;
* ``dark`` = the ``DARK_PERCENTILE`` % percentile of the valid DNs (exact,
  from a histogram);
* ``BOA_DN = L1C_DN − dark + DOS1_REFLECTANCE·Q − BOA_ADD_OFFSET``
  (the dark object is assumed to have 1 % reflectance, transmittances are 1;
  ``Q`` = BOA_QUANTIFICATION_VALUE = the L1C QUANTIFICATION_VALUE;
  ``BOA_ADD_OFFSET`` = the band's L1C RADIO_ADD_OFFSET, 0 before baseline
  04.00, so reflectance = (BOA_DN + BOA_ADD_OFFSET) / Q as in real L2A);
* valid pixels are clipped to [1, 65535], so 0 always means nodata.

The bands are resampled to the sen2cor resolution sets with integer-exact
rules: down-sampling takes the rounded mean of each block (a block holding a 0
becomes 0), up-sampling repeats pixels (nearest).  SCL (20 m and 60 m) comes
from fixed spectral rules, see :func:`scene_classification`.  JPEG 2000 files
are lossless (REVERSIBLE=YES, QUALITY=100) with fixed options
(:data:`JP2_OPTIONS`), and no wall-clock time is written, so converting twice
gives identical bytes, with any thread count.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from benpipe.errors import ProductLayoutError
from benpipe.fileio import staged_directory
from benpipe.l2a.dos1 import (
    SCL_BANDS,
    dark_value,
    dos1_in_place,
    downsample,
    resample,
    scene_classification,
)
from benpipe.l2a.jp2 import write_jp2
from benpipe.l2a.products import (
    L1C_BAND_IDS,
    L2A_RESOLUTION_BANDS,
    L1CProduct,
    open_l1c,
)
from benpipe.l2a.safe import (
    RESOLUTIONS_M,
    SPECIAL_VALUES_XML,
    TileGeocoding,
    product_organisation_xml,
)
from benpipe.log import ProgressCallback
from benpipe.names import BAND_RESOLUTION_M, BANDS, L2A_DISCRIMINATOR, l2a_name_for

logger = logging.getLogger(__name__)

#: Version of the fallback algorithm; bump when output pixels, XML or file
#: bytes change.  2: JPEG 2000 with CODEBLOCK_STYLE=BYPASS (same pixels as 1).
FALLBACK_VERSION = 2
#: Processor tag written into MTD_MSIL2A.xml and reported by the reader.
FALLBACK_PROCESSOR = "benpipe-fallback-dos1"
#: Processing baseline written by sen2cor standalone (name token N9999).
PROCESSING_BASELINE = "99.99"
#: Generation time matching the deterministic name token 20240101T000000.
GENERATION_TIME = "2024-01-01T00:00:00.000000Z"

_BAND_IDS = L1C_BAND_IDS
#: The resolutions of the SCL files (sen2cor writes them at 20 m and 60 m).
SCL_RESOLUTIONS_M = (20, 60)


# ---------------------------------------------------------------- I/O edges


#: Fixed JPEG 2000 creation options: lossless, GDAL's default 1024² tiles, and
#: (since FALLBACK_VERSION 2) selective arithmetic-coding bypass: the lower
#: bit-planes' refinement passes are stored raw, which makes lossless encoding
#: about 30 % and decoding about 35 % cheaper for 2–6 % larger files.  The
#: decoded pixels are the same as without it.
JP2_OPTIONS: dict[str, str] = {
    "REVERSIBLE": "YES",
    "QUALITY": "100",
    "CODEC": "JP2",
    "PROGRESSION": "LRCP",
    "YCC": "NO",
    "CODEBLOCK_STYLE": "BYPASS",
}


def _extract_block(xml_text: str, tag: str) -> str | None:
    """The first ``<tag …>…</tag>`` block of an XML text, verbatim."""
    match = re.search(
        rf"<(?:\w+:)?{tag}\b[^>]*?(?:/>|>.*?</(?:\w+:)?{tag}>)", xml_text, re.DOTALL
    )
    return match.group(0) if match else None


def _image_files(granule: str, prefix: str) -> list[str]:
    return [
        f"GRANULE/{granule}/IMG_DATA/R{res_m}m/{prefix}_{band}_{res_m}m"
        for res_m in RESOLUTIONS_M
        for band in L2A_RESOLUTION_BANDS[res_m]
    ]


def _mtd_msil2a(
    l1c: L1CProduct,
    *,
    l2a_name: str,
    granule: str,
    prefix: str,
    l1c_mtd_text: str,
    offsets: dict[str, int],
    darks: dict[str, int],
) -> str:
    """``MTD_MSIL2A.xml``: the L1C's times, datatake and quality inspections,
    the fallback's processor tag, offsets and dark objects."""
    inspections = _extract_block(l1c_mtd_text, "Quality_Inspections")
    if inspections is None:
        logger.warning(
            "%s: MTD_MSIL1C.xml has no Quality_Inspections; the L2A carries none",
            l1c.name,
        )
        inspections = "<Quality_Inspections/>"
    return "".join(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            "<!-- benpipe fallback L2A: NOT produced by sen2cor and NOT "
            "atmospherically corrected.\n",
            "     Per-band DOS1-like dark-object subtraction of "
            f"{escape(l1c.name)}.SAFE,\n",
            "     see docs/l2a.md. -->\n",
            '<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/'
            'PSD/User_Product_Level-2A.xsd">\n',
            "  <n1:General_Info>\n",
            _l2a_product_info(
                l1c, l2a_name=l2a_name, granule=granule, prefix=prefix, mtd=l1c_mtd_text
            ),
            _l2a_image_characteristics(l1c, offsets=offsets, darks=darks),
            "  </n1:General_Info>\n",
            "  <n1:Quality_Indicators_Info>\n",
            "    <Quality_Control_Checks>\n",
            f"      {inspections}\n",
            "    </Quality_Control_Checks>\n",
            "  </n1:Quality_Indicators_Info>\n",
            "</n1:Level-2A_User_Product>\n",
        )
    )


def _l2a_product_info(
    l1c: L1CProduct, *, l2a_name: str, granule: str, prefix: str, mtd: str
) -> str:
    stop = re.search(r"<PRODUCT_STOP_TIME>([^<]*)<", mtd)
    start = re.search(r"<PRODUCT_START_TIME>([^<]*)<", mtd)
    start_text = start.group(1) if start else l1c.sensing_time.isoformat()
    stop_text = stop.group(1) if stop else start_text
    datatake = _extract_block(mtd, "Datatake") or ""
    organisation = product_organisation_xml(
        f'granuleIdentifier="{escape(granule)}"', _image_files(granule, prefix)
    )
    return f"""\
    <Product_Info>
      <PRODUCT_START_TIME>{escape(start_text)}</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{escape(stop_text)}</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{escape(l2a_name)}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{PROCESSING_BASELINE}</PROCESSING_BASELINE>
      <GENERATION_TIME>{GENERATION_TIME}</GENERATION_TIME>
      <PROCESSOR>{FALLBACK_PROCESSOR}</PROCESSOR>
      <PROCESSOR_VERSION>{FALLBACK_VERSION}</PROCESSOR_VERSION>
      <SOURCE_L1C_PRODUCT_URI>{escape(l1c.name)}.SAFE</SOURCE_L1C_PRODUCT_URI>
      {datatake}
{organisation}\
    </Product_Info>
"""


def _l2a_image_characteristics(
    l1c: L1CProduct, *, offsets: dict[str, int], darks: dict[str, int]
) -> str:
    def per_band(tag: str, values: dict[str, int]) -> str:
        return "".join(
            f'        <{tag} band_id="{_BAND_IDS[b]}">{values[b]}</{tag}>\n'
            for b in BANDS
        )

    spectral = "".join(
        f'        <Spectral_Information bandId="{_BAND_IDS[b]}" physicalBand="{b}">'
        f"<RESOLUTION>{BAND_RESOLUTION_M[b]}</RESOLUTION></Spectral_Information>\n"
        for b in BANDS
    )
    quantification = l1c.quantification_value
    return f"""\
    <Product_Image_Characteristics>
{SPECIAL_VALUES_XML}\
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">{quantification}</BOA_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>
      <BOA_ADD_OFFSET_VALUES_LIST>
{per_band("BOA_ADD_OFFSET", offsets)}\
      </BOA_ADD_OFFSET_VALUES_LIST>
      <FALLBACK_DARK_OBJECT_LIST>
{per_band("DARK_OBJECT_DN", darks)}\
      </FALLBACK_DARK_OBJECT_LIST>
      <Spectral_Information_List>
{spectral}\
      </Spectral_Information_List>
    </Product_Image_Characteristics>
"""


def _tile_geocoding_xml(geo: TileGeocoding, cs_name: str) -> str:
    parts = [
        '    <Tile_Geocoding metadataLevel="Brief">',
        f"      <HORIZONTAL_CS_NAME>{escape(cs_name)}</HORIZONTAL_CS_NAME>",
        f"      <HORIZONTAL_CS_CODE>EPSG:{geo.epsg}</HORIZONTAL_CS_CODE>",
    ]
    for res_m in RESOLUTIONS_M:
        rows, cols = geo.shape_at(res_m)
        parts.append(
            f'      <Size resolution="{res_m}"><NROWS>{rows}</NROWS>'
            f"<NCOLS>{cols}</NCOLS></Size>"
        )
    for res_m in RESOLUTIONS_M:
        parts.append(
            f'      <Geoposition resolution="{res_m}"><ULX>{geo.ulx:g}</ULX>'
            f"<ULY>{geo.uly:g}</ULY><XDIM>{res_m}</XDIM><YDIM>-{res_m}</YDIM>"
            "</Geoposition>"
        )
    parts.append("    </Tile_Geocoding>")
    return "\n".join(parts)


def _mtd_tl(l1c: L1CProduct, *, granule: str, l1c_tl_text: str) -> str:
    cs_name = re.search(r"<HORIZONTAL_CS_NAME>([^<]*)<", l1c_tl_text)
    sensing = re.search(r"<SENSING_TIME[^>]*>([^<]*)<", l1c_tl_text)
    sensing_text = sensing.group(1) if sensing else l1c.sensing_time.isoformat()
    inspections = _extract_block(l1c_tl_text, "Quality_Inspections") or ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- benpipe fallback L2A tile metadata (NOT sen2cor). -->
<n1:Level-2A_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID>{escape(granule)}</TILE_ID>
    <SENSING_TIME>{escape(sensing_text)}</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
{_tile_geocoding_xml(l1c.geocoding, cs_name.group(1) if cs_name else "")}
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info>
    {inspections}
  </n1:Quality_Indicators_Info>
</n1:Level-2A_Tile_ID>
"""


def _file_prefix(l1c: L1CProduct) -> str:
    """``T<tile>_<datatake>`` from the L1C B02 file name."""
    return l1c.band_path("B02").name.removesuffix("_B02.jp2")


def _check_shape(l1c: L1CProduct, band: str, data: np.ndarray) -> None:
    res_m = BAND_RESOLUTION_M[band]
    expected = l1c.geocoding.shape_at(res_m)
    if data.shape != expected:
        raise ProductLayoutError(
            f"product {l1c.name}: L1C band {band} is {data.shape[1]}x{data.shape[0]} "
            f"px, expected {expected[1]}x{expected[0]} px at {res_m} m from MTD_TL.xml"
        )


#: At most this many bands are converted at once, whatever the thread count
#: (memory: each full-size 10 m band in flight holds about 0.5 GB).
MAX_PARALLEL_BANDS = 4


@dataclass
class StageSeconds:
    """Busy seconds of the conversion per stage, summed over its threads.

    ``decode``: reading the L1C bands; ``correct``: dark object, DOS1,
    resampling and the SCL rules; ``encode``: writing the JPEG 2000 files.
    Filled by :func:`convert_fallback` when passed in (thread-safe).
    """

    decode: float = 0.0
    correct: float = 0.0
    encode: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            setattr(self, stage, getattr(self, stage) + seconds)

    @contextmanager
    def clock(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def as_dict(self) -> dict[str, float]:
        return {"decode": self.decode, "correct": self.correct, "encode": self.encode}


def band_order() -> list[str]:
    """The order bands are converted in: largest first, SCL inputs early.

    The four 10 m bands (most of the work) start first so the last tasks
    are small; among the 20 m bands the SCL inputs (B8A, B11) come first so
    the SCL is built while the other bands are still being converted.
    """
    return sorted(
        BANDS,
        key=lambda b: (BAND_RESOLUTION_M[b], b not in SCL_BANDS, BANDS.index(b)),
    )


class _Scheduler:
    """Counts the running tasks and shares the job's threads among them.

    Each JPEG 2000 encoding gets ``threads // running`` OpenJPEG threads (at
    least 1), so the last band alone uses all of them; the bytes do not
    depend on it.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._running = 0
        self._lock = threading.Lock()

    @contextmanager
    def task(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1

    def encode_threads(self) -> int:
        with self._lock:
            return max(1, self.threads // max(1, self._running))


def _write_tree(
    l1c: L1CProduct,
    root: Path,
    *,
    l2a_name: str,
    threads: int,
    progress: ProgressCallback | None,
    stages: StageSeconds,
) -> None:
    """The L2A SAFE tree: folders → 12 bands (+ SCL inputs) → 2 SCLs → metadata.

    Bands are converted in parallel, each by one task (decode on one thread,
    see :func:`benpipe.l2a.products.read_raster`; DOS1; resample; encode),
    at most ``min(threads, MAX_PARALLEL_BANDS)`` at once, in
    :func:`band_order`; the SCL task comes after the 20 m bands.
    """
    granule = "L2A_" + l1c.granule_dir.name.removeprefix("L1C_")
    img = root / "GRANULE" / granule / "IMG_DATA"
    for res_m in RESOLUTIONS_M:
        (img / f"R{res_m}m").mkdir(parents=True)
    for sub in ("AUX_DATA", "QI_DATA"):
        (root / "GRANULE" / granule / sub).mkdir()
    scheduler = _Scheduler(threads)
    jp2 = _Jp2Writer(l1c, img, prefix=_file_prefix(l1c), scheduler=scheduler)
    offsets = {band: l1c.radio_add_offset.get(band, 0) for band in BANDS}
    scl_inputs: dict[int, dict[str, np.ndarray]] = {r: {} for r in SCL_RESOLUTIONS_M}
    order = band_order()
    workers = max(1, min(threads, MAX_PARALLEL_BANDS, len(order)))
    darks: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="band") as pool:
        futures: dict[str, Future[int]] = {}
        scl: Future[None] | None = None

        def scl_task() -> None:
            for band in SCL_BANDS:
                futures[band].result()
            with scheduler.task():
                for res_m, bands in scl_inputs.items():
                    with stages.clock("correct"):
                        classes = scene_classification(
                            bands, quantification=l1c.quantification_value,
                            offsets=offsets,
                        )  # fmt: skip
                    with stages.clock("encode"):
                        jp2.write("SCL", res_m, classes)
                    bands.clear()

        try:
            for band in order:
                if scl is None and BAND_RESOLUTION_M[band] > SCL_RESOLUTIONS_M[0]:
                    # after the 10 m and 20 m bands: its inputs are then done
                    # or nearly, and the small 60 m bands fill the tail
                    scl = pool.submit(scl_task)
                futures[band] = pool.submit(
                    _convert_band, l1c, band, jp2, offsets[band], scl_inputs,
                    scheduler, stages,
                )  # fmt: skip
            if scl is None:
                scl = pool.submit(scl_task)
            for done, converted in enumerate(as_completed(futures.values()), 1):
                converted.result()
                if progress is not None:
                    progress(done, len(order))
            scl.result()
        except BaseException:
            for pending in futures.values():
                pending.cancel()
            if scl is not None:
                scl.cancel()
            raise
        darks = {band: future.result() for band, future in futures.items()}
    l1c_mtd = (l1c.path / "MTD_MSIL1C.xml").read_text(encoding="utf-8")
    l1c_tl = (l1c.granule_dir / "MTD_TL.xml").read_text(encoding="utf-8")
    (root / "MTD_MSIL2A.xml").write_text(
        _mtd_msil2a(
            l1c,
            l2a_name=l2a_name,
            granule=granule,
            prefix=jp2.prefix,
            l1c_mtd_text=l1c_mtd,
            offsets=offsets,
            darks=darks,
        ),
        encoding="utf-8",
    )
    (root / "GRANULE" / granule / "MTD_TL.xml").write_text(
        _mtd_tl(l1c, granule=granule, l1c_tl_text=l1c_tl), encoding="utf-8"
    )


@dataclass(frozen=True, slots=True)
class _Jp2Writer:
    """Writes ``IMG_DATA/R<res>m/<prefix>_<band>_<res>m.jp2`` on the tile grid."""

    l1c: L1CProduct
    img: Path
    prefix: str
    scheduler: _Scheduler

    def write(self, band: str, res_m: int, data: np.ndarray) -> None:
        geo = self.l1c.geocoding
        write_jp2(
            self.img / f"R{res_m}m" / f"{self.prefix}_{band}_{res_m}m.jp2",
            data,
            epsg=geo.epsg,
            ulx=geo.ulx,
            uly=geo.uly,
            res_m=res_m,
            options=JP2_OPTIONS,
            threads=self.scheduler.encode_threads(),
        )


def _convert_band(
    l1c: L1CProduct,
    band: str,
    jp2: _Jp2Writer,
    boa_add_offset: int,
    scl_inputs: dict[int, dict[str, np.ndarray]],
    scheduler: _Scheduler,
    stages: StageSeconds,
) -> int:
    """Decode, DOS1 and write one band at each L2A resolution holding it.

    Returns its dark DN.  The resampled bands the SCL rules need are kept in
    ``scl_inputs``.  DOS1 overwrites the decoded band and each file's array
    is dropped once written, so a 10 m band holds at most its own array,
    its 20 m and 60 m versions and GDAL's copy of the one being encoded.
    """
    with scheduler.task():
        with stages.clock("decode"):
            dn = l1c.read_band(band)
        _check_shape(l1c, band, dn)
        native = BAND_RESOLUTION_M[band]
        targets = [r for r in RESOLUTIONS_M if band in L2A_RESOLUTION_BANDS[r]]
        with stages.clock("correct"):
            dark = dark_value(dn)
            boa = dos1_in_place(
                dn,
                dark=dark,
                quantification=l1c.quantification_value,
                boa_add_offset=boa_add_offset,
            )
            del dn
            coarser = [r for r in targets if r > native]
            factors = tuple(r // native for r in coarser)
            arrays: dict[int, np.ndarray] = {}
            if coarser:
                arrays.update(zip(coarser, downsample(boa, factors), strict=True))
            for res_m in targets:
                if res_m <= native:
                    arrays[res_m] = resample(boa, from_m=native, to_m=res_m)
            del boa
        for res_m in sorted(arrays):
            data = arrays.pop(res_m)
            with stages.clock("encode"):
                jp2.write(band, res_m, data)
            if band in SCL_BANDS and res_m in scl_inputs:
                scl_inputs[res_m][band] = data
            del data
    logger.debug("%s: %s dark DN %d", l1c.name, band, dark)
    return dark


def convert_fallback(
    l1c_safe: Path,
    out_dir: Path,
    *,
    threads: int = 1,
    progress: ProgressCallback | None = None,
    stages: StageSeconds | None = None,
) -> Path:
    """Convert an extracted L1C SAFE into ``out_dir/<L2A name>.SAFE``.

    The L2A name comes from :func:`benpipe.names.l2a_name_for` (``N9999`` and
    the fixed ``20240101T000000`` discriminator).  The tree is written into a
    staging folder next to the output and renamed into place
    (:func:`benpipe.fileio.staged_directory`), so a crash leaves no
    half-written product and a rerun removes what a killed one left.  Returns
    the product path.
    """
    l1c_safe = Path(l1c_safe)
    out_dir = Path(out_dir)
    l1c = open_l1c(l1c_safe)
    l2a_name = l2a_name_for(l1c.name)
    if not l2a_name.endswith(L2A_DISCRIMINATOR):
        raise ProductLayoutError(f"unexpected L2A name {l2a_name} for {l1c.name}")
    final = out_dir / f"{l2a_name}.SAFE"
    stages = StageSeconds() if stages is None else stages
    started = time.monotonic()
    logger.info(
        "fallback converter %s %d (NOT sen2cor): %s -> %s",
        FALLBACK_PROCESSOR,
        FALLBACK_VERSION,
        l1c.name,
        final,
    )
    with staged_directory(final, "L2A product", replace=True) as staging:
        _write_tree(
            l1c,
            staging.path,
            l2a_name=l2a_name,
            threads=threads,
            progress=progress,
            stages=stages,
        )
    logger.info(
        "fallback L2A %s written in %.1f s with %d thread(s); busy seconds over "
        "all threads: decode %.1f, DOS1 + resampling + SCL %.1f, encode %.1f",
        final.name,
        time.monotonic() - started,
        threads,
        stages.decode,
        stages.correct,
        stages.encode,
    )
    return final
