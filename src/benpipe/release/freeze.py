"""Freeze targets: copy reviewed produced artifacts onto their tracked copies.

The one home of freezing, used by every ``freeze_*`` rule (tile ids, L1C
hashes, release hash lists) through ``workflow/scripts/freeze_files.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from benpipe.errors import InputDataError
from benpipe.fileio import atomic_write_bytes

logger = logging.getLogger(__name__)


def freeze_artifacts(pairs: Iterable[tuple[Path, Path]]) -> None:
    """Copy each produced artifact (``src``) to its tracked path (``dst``).

    Bytes are copied as they are, atomically.  Raises :class:`InputDataError`
    naming the missing sources; nothing is copied then.
    """
    pairs = [(Path(src), Path(dst)) for src, dst in pairs]
    missing = [str(src) for src, _ in pairs if not src.is_file()]
    if missing:
        raise InputDataError(
            f"cannot freeze: {', '.join(missing)} missing; run the rules that "
            "produce them first (search_cdse, hash_l1c, hash_outputs, "
            "package_release)"
        )
    for src, dst in pairs:
        atomic_write_bytes(dst, src.read_bytes())
        logger.info("froze %s -> %s", src, dst)
