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

#: The freeze rule that writes each tracked file (workflow/rules/l1c.smk and
#: release.smk); every other tracked file is written by
#: :data:`RELEASE_FREEZE_RULE`.
FREEZE_RULES: dict[str, str] = {
    "bigearthnet_s2_tile_ids.csv": "freeze_tile_ids",
    "cdse_catalogue.csv": "freeze_tile_ids",
    "ben_s2_l1c_hashes.csv": "freeze_l1c_hashes",
    "l1c_content_hashes.csv": "freeze_l1c_hashes",
}
RELEASE_FREEZE_RULE = "freeze_release_artifacts"


def refreeze_hint(tracked_names: Iterable[str]) -> str:
    """The commands that refreeze ``tracked_names``, one per freeze rule.

    ``-f``: the tracked copies exist, so Snakemake would not rerun the rule.
    """
    by_rule: dict[str, list[str]] = {}
    for name in sorted(set(tracked_names)):
        by_rule.setdefault(FREEZE_RULES.get(name, RELEASE_FREEZE_RULE), []).append(name)
    return " and ".join(
        f"`snakemake -f {rule}` ({', '.join(names)})"
        for rule, names in sorted(by_rule.items())
    )


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
