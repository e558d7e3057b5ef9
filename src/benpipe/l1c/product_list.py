"""The L1C product list: BigEarthNet v1 ``tile_names_and_links.csv`` to names.

:func:`derive_l1c_names` reads the v1 CSV (or ``.csv.bz2``; no header, CRLF)
and returns the unique L1C names with ``.SAFE`` as the CDSE catalogue spells
them (REFERENCE-PIPELINE.md §2); :func:`read_names_file` reads the list back.
"""

from __future__ import annotations

import bz2
import csv
import io
import logging
from pathlib import Path

from benpipe.errors import InputDataError, NamingError
from benpipe.names import parse_product_name

logger = logging.getLogger(__name__)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".bz2":
        return io.TextIOWrapper(bz2.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115


def derive_l1c_names(csv_path: Path) -> list[str]:
    """Sorted unique L1C names (``….SAFE``) of a v1 ``tile_names_and_links`` CSV.

    The file has no header and three columns: v1 patch, L1C name with
    ``.SAFE``, old SciHub link.  Every name is validated.
    """
    first_line: dict[str, int] = {}
    rows = 0
    with _open_text(Path(csv_path)) as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) != 3:
                raise InputDataError(
                    f"{csv_path} line {line_no}: expected 3 columns (v1 patch, "
                    f"L1C name.SAFE, link), found {len(row)}: {row!r}; is this "
                    "BigEarthNet v1 tile_names_and_links.csv?"
                )
            first_line.setdefault(row[1], line_no)
            rows += 1
    names: set[str] = set()
    for raw, line_no in first_line.items():
        tile = raw.strip()
        if not tile.endswith(".SAFE"):
            raise InputDataError(
                f"{csv_path} line {line_no}: L1C name {tile!r} lacks the "
                "'.SAFE' suffix of the v1 tile_names_and_links.csv format"
            )
        try:
            parsed = parse_product_name(tile.removesuffix(".SAFE"))
        except NamingError as exc:
            raise InputDataError(f"{csv_path} line {line_no}: {exc}") from exc
        if parsed.level != "L1C":
            raise InputDataError(
                f"{csv_path} line {line_no}: {tile} is not an L1C product"
            )
        names.add(tile)
    if not names:
        raise InputDataError(f"{csv_path} holds no rows; expected v1 patch rows")
    logger.info("%d rows, %d unique L1C products in %s", rows, len(names), csv_path)
    return sorted(names)


def read_names_file(path: Path) -> list[str]:
    """Names written by :func:`benpipe.fileio.write_lines_atomic` (one per line)."""
    return [
        line.strip()
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
