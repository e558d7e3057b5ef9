"""One entry point for the ``convert_l2a`` rule: dispatch on the processor.

The converter that ran is logged, recorded in the JSON sidecar and marked in
the product (fallback: ``PROCESSOR`` tag in ``MTD_MSIL2A.xml``; sen2cor: the
provenance file), so one is never passed off as the other.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from benpipe import __version__
from benpipe.errors import ConfigError, InputDataError, ProductLayoutError
from benpipe.fileio import atomic_write_text
from benpipe.l1c.extract import zip_of
from benpipe.l2a import ALGORITHM_VERSION
from benpipe.l2a.fallback import FALLBACK_PROCESSOR, FALLBACK_VERSION, convert_fallback
from benpipe.l2a.products import open_l2a
from benpipe.l2a.sen2cor import run_sen2cor
from benpipe.log import Progress
from benpipe.names import l2a_name_for

logger = logging.getLogger(__name__)

Processor = Literal["sen2cor", "fallback"]


@dataclass(frozen=True, slots=True)
class L2AParams:
    """The ``l2a.*`` config keys."""

    processor: Processor
    sen2cor_cmd: str = "L2A_Process"
    sen2cor_version: str = "2.11"
    gip_l2a: Path | None = None
    timeout_min: float = 360.0

    def __post_init__(self) -> None:
        if self.processor not in ("sen2cor", "fallback"):
            raise ConfigError(
                f"l2a.processor is {self.processor!r}; expected 'sen2cor' or 'fallback'"
            )


@dataclass(frozen=True, slots=True)
class ConversionResult:
    """What ran and what it produced (the sidecar content)."""

    l2a: str
    l1c: str
    converter: str
    converter_version: str
    algorithm_version: int
    benpipe_version: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def convert_product(
    l1c_safe: Path,
    out_safe: Path,
    *,
    params: L2AParams,
    threads: int = 1,
    log_path: Path | None = None,
    source_zip: Path | None = None,
) -> ConversionResult:
    """Convert ``l1c_safe`` into ``out_safe`` (``…/<L2A name>.SAFE``).

    ``out_safe`` must carry the deterministic name
    :func:`benpipe.names.l2a_name_for` gives for the L1C.  ``source_zip`` is
    the product zip ``l1c_safe`` was extracted from (default: the zip next to
    it, :func:`benpipe.l1c.extract.zip_of`): a damaged L1C is then reported as
    a damaged zip, with the remedy (delete it, rerun).
    """
    l1c_safe = Path(l1c_safe)
    out_safe = Path(out_safe)
    l1c_name = l1c_safe.name.removesuffix(".SAFE")
    expected = f"{l2a_name_for(l1c_name)}.SAFE"
    if out_safe.name != expected:
        raise ConfigError(
            f"output {out_safe} does not match the L2A name of {l1c_name}; "
            f"expected {expected}"
        )
    started = time.monotonic()
    if params.processor == "fallback":
        logger.warning(
            "converter: %s %d, the built-in fallback (NOT sen2cor, not "
            "atmospherically corrected) for %s",
            FALLBACK_PROCESSOR,
            FALLBACK_VERSION,
            l1c_name,
        )
        progress = Progress(f"{l1c_name} bands", total=12, logger=logger)
        try:
            path = convert_fallback(
                l1c_safe, out_safe.parent, threads=threads, progress=progress
            )
        except ProductLayoutError as exc:
            zip_path = source_zip or zip_of(l1c_safe)
            if zip_path is None:
                raise
            raise damaged_zip_error(l1c_name, l1c_safe, zip_path, exc) from exc
        finally:
            progress.close()
    else:
        logger.info("converter: sen2cor (%s) for %s", params.sen2cor_cmd, l1c_name)
        if log_path is None:
            raise ConfigError("the sen2cor converter needs a log_path for its output")
        path = run_sen2cor(
            l1c_safe,
            out_safe.parent,
            cmd=params.sen2cor_cmd,
            expected_version=params.sen2cor_version,
            gip_l2a=params.gip_l2a,
            n_cores=threads,
            timeout_s=params.timeout_min * 60.0,
            log_path=log_path,
        )
    product = open_l2a(path)
    product.validate()
    processor, _, version = product.processor.partition(" ")
    logger.info(
        "%s ready: processor %s, EPSG:%d, tile side %.0f m, quality %s, %.1f s",
        product.name,
        product.processor,
        product.epsg,
        product.tile_side_m,
        "FAILED"
        if product.fails_quality
        else "PASSED"
        if not product.missing_quality_checks
        else f"PASSED by default, no check {', '.join(product.missing_quality_checks)}",
        time.monotonic() - started,
    )
    return ConversionResult(
        l2a=product.name,
        l1c=l1c_name,
        converter=processor,
        converter_version=version,
        algorithm_version=ALGORITHM_VERSION,
        benpipe_version=__version__,
    )


def damaged_zip_error(
    l1c_name: str, l1c_safe: Path, source_zip: Path, exc: ProductLayoutError
) -> InputDataError:
    """A damaged L1C inside an intact product zip: name the zip and the remedy."""
    return InputDataError(
        f"L1C product {l1c_name} is damaged: {exc}. {l1c_safe} was extracted "
        f"from {source_zip}, whose zip structure and CRCs are intact, so the "
        f"product inside the zip is damaged: delete {source_zip} and rerun; the "
        "product is downloaded again and its checksum verified"
    )


def write_sidecar(result: ConversionResult, path: Path) -> None:
    """Write the JSON sidecar atomically."""
    atomic_write_text(Path(path), result.to_json())
