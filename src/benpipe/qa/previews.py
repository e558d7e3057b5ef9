"""Per-product QA side outputs: small arrays computed from arrays already in hand.

A product is decoded once, by ``export_patches`` (ARCHITECTURE §4), and its
CORINE map is burnt once, by ``label_patches``.  Those two jobs hand the big
arrays they hold to the builders here, which keep only a downsampled copy:

* :class:`RgbPreviewBuilder` receives every decoded band from the export
  (``on_band`` hook) and keeps the non-zero block mean of B04, B03 and B02 at
  about 1000 px (0.2 s per 10 m band of a full tile);
* :func:`clc_preview` receives the burnt CLC array and the per-patch results
  of the labelling (its ``on_labelled`` hook) and keeps the centre pixel of
  each block plus (n, n) masks.

Both are written as ``.npz`` files with fixed member order, dates and
compression, so a rerun writes the same bytes; ``qa_product`` draws the
figures from them without touching the product again.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from benpipe.clc import NO_COVERAGE_CODE
from benpipe.errors import InputDataError
from benpipe.fileio import atomic_write_bytes
from benpipe.names import BAND_RESOLUTION_M
from benpipe.qa.core import (
    RGB_BANDS,
    block_mean_nonzero,
    preview_factor,
    sample_block_centres,
)

if TYPE_CHECKING:
    from benpipe.dataset.labelling import LabelledTile

#: Bump when the side outputs' content changes: export_patches and
#: label_patches take it as a param, so a bump reruns them (the figures have
#: their own version, :data:`benpipe.qa.core.ALGORITHM_VERSION`).
PREVIEW_VERSION = 1

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_R = TypeVar("_R")


# ---------------------------------------------------------------- npz edge
def write_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write arrays as a deterministic ``.npz`` (sorted members, fixed dates).

    ``numpy.savez_compressed`` stamps every member with the current time;
    this writes the same format (readable by ``numpy.load``) without it.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(
                member, np.asarray(arrays[name]), allow_pickle=False
            )
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, member.getvalue(), compresslevel=6)
    atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: Path, *, kind: str, keys: Iterable[str]) -> dict[str, Any]:
    """Read a side output, checking its kind, version and members."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputDataError(
            f"QA side output {path} cannot be read ({exc}); delete it and rerun "
            "the job that writes it"
        ) from exc
    found = str(arrays.get("kind", ""))
    version = int(arrays.get("algorithm_version", -1))
    missing = sorted(set(keys) - set(arrays))
    if found != kind or version != PREVIEW_VERSION or missing:
        raise InputDataError(
            f"QA side output {path} is not a version-{PREVIEW_VERSION} {kind!r} "
            f"preview (kind {found!r}, version {version}, missing {missing}); "
            "delete it and rerun the job that writes it"
        )
    return arrays


_SCALARS: dict[str, Any] = {"str": str, "float": float, "bool": bool}


def _write_record(record: Any, path: Path, *, kind: str) -> None:
    """A preview dataclass as ``.npz``: one member per field, plus kind and version."""
    arrays: dict[str, Any] = {
        "kind": np.str_(kind),
        "algorithm_version": np.int64(PREVIEW_VERSION),
    }
    for f in fields(record):
        value = getattr(record, f.name)
        arrays[f.name] = np.asarray(value) if f.type in _SCALARS else value
    write_npz(path, arrays)


def _read_record(cls: type[_R], path: Path, *, kind: str) -> _R:
    """The preview dataclass ``cls`` from a file written by :func:`_write_record`."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    data = read_npz(path, kind=kind, keys=names)
    values = {
        f.name: _SCALARS[str(f.type)](data[f.name])
        if f.type in _SCALARS
        else data[f.name]
        for f in fields(cls)  # type: ignore[arg-type]
    }
    return cls(**values)


# ---------------------------------------------------------------- RGB
@dataclass(frozen=True, slots=True)
class RgbPreview:
    """Downsampled B04/B03/B02 of one product (uint16 reflectance, 0 = nodata)."""

    product: str
    rgb: npt.NDArray[np.uint16]
    pixel_m: float
    tile_side_m: float

    def write(self, path: Path) -> None:
        _write_record(self, path, kind="rgb")

    @classmethod
    def read(cls, path: Path) -> RgbPreview:
        return _read_record(cls, path, kind="rgb")


class RgbPreviewBuilder:
    """Collects the true-colour preview from an export's decoded bands.

    Pass :meth:`add_band` as the export's ``on_band`` hook: it is called with
    every decoded band (from the export's decoding threads) and keeps only the
    downsampled R, G and B.  The tile side follows from the 10 m bands' size.
    """

    def __init__(self, product: str) -> None:
        self.product = product
        self._res_m = BAND_RESOLUTION_M[RGB_BANDS[0]]
        self._side_px: int | None = None
        self._bands: dict[str, npt.NDArray[np.uint16]] = {}
        self._lock = threading.Lock()

    def add_band(self, band: str, data: npt.NDArray[np.uint16]) -> None:
        if band not in RGB_BANDS:
            return
        if data.ndim != 2 or data.shape[0] != data.shape[1]:
            raise InputDataError(
                f"{self.product}: band {band} has shape {data.shape}, expected a "
                "square tile"
            )
        with self._lock:
            if self._side_px is None:
                self._side_px = int(data.shape[0])
            elif self._side_px != data.shape[0]:
                raise InputDataError(
                    f"{self.product}: band {band} is {data.shape[0]} px wide, the "
                    f"other 10 m bands {self._side_px} px"
                )
        small = block_mean_nonzero(data, preview_factor(int(data.shape[0])))
        with self._lock:
            self._bands[band] = small

    def build(self) -> RgbPreview:
        missing = [b for b in RGB_BANDS if b not in self._bands]
        if missing or self._side_px is None:
            raise InputDataError(
                f"{self.product}: the export never passed band(s) {missing} to "
                "the QA preview"
            )
        factor = preview_factor(self._side_px)
        return RgbPreview(
            product=self.product,
            rgb=np.stack([self._bands[b] for b in RGB_BANDS], axis=2),
            pixel_m=float(factor * self._res_m),
            tile_side_m=float(self._side_px * self._res_m),
        )

    def write(self, path: Path) -> RgbPreview:
        """Build the preview and write it to ``path``."""
        preview = self.build()
        preview.write(path)
        return preview


# ---------------------------------------------------------------- CLC
@dataclass(frozen=True, slots=True)
class ClcPreview:
    """Downsampled CLC map and per-patch labelling results of one product.

    ``codes`` holds reference-map codes (999 where no polygon covers a pixel)
    and is empty (0 x 0) when no CLC polygon touches the tile.  The (n, n)
    masks are [row, col]: ``labelled`` (a valid patch the labelling saw),
    ``covered`` (at least one CLC pixel), ``kept``, and the unlabeled
    fraction (NaN where not labelled).
    """

    product: str
    codes: npt.NDArray[np.uint16]
    pixel_m: float
    patch_side_m: float
    labelled: npt.NDArray[np.bool_]
    covered: npt.NDArray[np.bool_]
    kept: npt.NDArray[np.bool_]
    unlabeled_fraction: npt.NDArray[np.float32]
    has_clc: bool
    fails_quality: bool
    unlabeled_max_fraction: float

    def write(self, path: Path) -> None:
        _write_record(self, path, kind="clc")

    @classmethod
    def read(cls, path: Path) -> ClcPreview:
        return _read_record(cls, path, kind="clc")


def clc_preview(tile: LabelledTile) -> ClcPreview:
    """The CLC side output from what ``label_patches`` holds (its hook's view)."""
    n = tile.n
    labelled = np.zeros((n, n), dtype=bool)
    covered = np.zeros((n, n), dtype=bool)
    kept = np.zeros((n, n), dtype=bool)
    fraction = np.full((n, n), np.nan, dtype=np.float32)
    for col, row, result in tile.patches:
        labelled[row, col] = True
        covered[row, col] = result.covered
        kept[row, col] = result.labels.kept
        fraction[row, col] = result.labels.unlabeled_fraction
    if tile.burned is None:
        codes = np.zeros((0, 0), dtype=np.uint16)
        pixel_m = float(tile.res_m)
    else:
        factor = preview_factor(max(tile.burned.shape))
        codes = sample_block_centres(tile.burned, factor).astype(np.uint16)
        codes[codes == 0] = NO_COVERAGE_CODE
        pixel_m = float(factor * tile.res_m)
    return ClcPreview(
        product=tile.product_id,
        codes=codes,
        pixel_m=pixel_m,
        patch_side_m=float(tile.patch_side_m),
        labelled=labelled,
        covered=covered,
        kept=kept,
        unlabeled_fraction=fraction,
        has_clc=tile.burned is not None,
        fails_quality=bool(tile.fails_quality),
        unlabeled_max_fraction=float(tile.unlabeled_max_fraction),
    )
