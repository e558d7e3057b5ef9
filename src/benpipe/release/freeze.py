"""Freeze targets: copy reviewed produced artifacts onto their tracked copies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from benpipe.errors import InputDataError
from benpipe.fileio import atomic_write_bytes

logger = logging.getLogger(__name__)


def freeze_artifacts(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Copy each produced artifact to its tracked path (atomically).

    Raises :class:`InputDataError` naming a missing source; nothing is copied
    then.
    """
    missing = [str(src) for src, _ in pairs if not src.is_file()]
    if missing:
        raise InputDataError(
            f"cannot freeze: {', '.join(missing)} missing; run the pipeline "
            "(hash_outputs, package_release) first"
        )
    for src, dst in pairs:
        atomic_write_bytes(dst, src.read_bytes())
        logger.info("froze %s -> %s", src, dst)
