"""The one writer of single-band JPEG 2000 band files, and ESA's codestream.

Used by the fallback converter (its own :data:`benpipe.l2a.fallback.JP2_OPTIONS`)
and by the demo world's L1C bands (smooth or ESA options).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile

#: JPEG 2000 codestream of ESA's L1C/L2A band files, as GDAL JP2OpenJPEG
#: creation options, lossless: 5 resolutions, 256x256 precincts at every
#: resolution, PLT markers, 1024x1024 tiles, 64x64 code-blocks.  The one home
#: of these options: realistic demo and bench bands are written with them, so
#: decode times match real products (docs/demo-world.md, "Texture").
ESA_JP2_OPTIONS: dict[str, str] = {
    "REVERSIBLE": "YES",
    "QUALITY": "100",
    "RESOLUTIONS": "5",
    "PRECINCTS": ",".join(["{256,256}"] * 5),
    "PLT": "YES",
    "BLOCKXSIZE": "1024",
    "BLOCKYSIZE": "1024",
    "CODEBLOCK_WIDTH": "64",
    "CODEBLOCK_HEIGHT": "64",
}


def write_jp2(
    path: Path,
    data: npt.NDArray[np.uint16],
    *,
    epsg: int,
    ulx: float,
    uly: float,
    res_m: int,
    options: Mapping[str, str],
    threads: int = 1,
) -> None:
    """Write one single-band JPEG 2000 with CRS and transform (no nodata tag,
    no ``.aux.xml`` sidecar), with JP2OpenJPEG creation ``options``.

    ``threads`` OpenJPEG encoding threads; the bytes do not depend on them.
    The array goes into a GDAL MEM dataset that :func:`rasterio.shutil.copy`
    encodes (what ``rasterio.open(..., "w")`` does for this driver too, so
    the bytes are the same): that call releases the GIL while encoding,
    whereas closing a JPEG 2000 opened for writing holds it for the whole
    encoding and stalls every other Python thread.
    """
    rows, cols = data.shape
    with (
        rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_NUM_THREADS=str(max(1, threads))),
        MemoryFile() as memfile,
        memfile.open(
            driver="MEM",
            width=cols,
            height=rows,
            count=1,
            dtype=data.dtype.name,
            crs=CRS.from_epsg(epsg),
            transform=Affine(res_m, 0.0, ulx, 0.0, -res_m, uly),
        ) as mem,
    ):
        mem.write(data, 1)
        rasterio.shutil.copy(mem, path, driver="JP2OpenJPEG", **options)
