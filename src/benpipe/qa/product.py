"""Per-product QA figures (rule ``qa_product``): drawn from the side outputs.

Inputs are the two side outputs of :mod:`benpipe.qa.previews` (written by
``export_patches`` and ``label_patches`` from arrays they already held) and
the export manifest (the patches with a nodata pixel).  Nothing here opens
the product: it is never decoded a second time.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benpipe.dataset.layout import SPLITS
from benpipe.errors import InputDataError
from benpipe.fileio import atomic_write_bytes, write_json_atomic
from benpipe.names import parse_patch_name, tile_dir_for
from benpipe.qa.core import (
    ALGORITHM_VERSION,
    Outcome,
    outcome_counts,
    outcome_grid,
    split_grid,
    stretch_rgb,
)
from benpipe.qa.figures import quicklook_png, reference_map_png
from benpipe.qa.previews import ClcPreview, RgbPreview

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProductQa:
    """Facts of one product's QA figures (the page's product table)."""

    product: str
    patches: int
    outcomes: dict[str, int]
    splits: dict[str, int]
    reference_maps: int
    has_clc: bool
    fails_quality: bool
    unlabeled_max_fraction: float

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm_version": ALGORITHM_VERSION,
            "product": self.product,
            "patches": self.patches,
            "outcomes": self.outcomes,
            "splits": self.splits,
            "reference_maps": self.reference_maps,
            "has_clc": self.has_clc,
            "fails_quality": self.fails_quality,
            "unlabeled_max_fraction": self.unlabeled_max_fraction,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ProductQa:
        return cls(
            product=str(payload["product"]),
            patches=int(payload["patches"]),
            outcomes={str(k): int(v) for k, v in payload["outcomes"].items()},
            splits={str(k): int(v) for k, v in payload["splits"].items()},
            reference_maps=int(payload["reference_maps"]),
            has_clc=bool(payload["has_clc"]),
            fails_quality=bool(payload["fails_quality"]),
            unlabeled_max_fraction=float(payload["unlabeled_max_fraction"]),
        )


def nodata_mask(export_manifest: Path, *, product: str, n: int) -> np.ndarray:
    """(n, n) bool, [row, col]: the patches the export found holding a 0 pixel."""
    from benpipe.dataset.export import invalid_patches_from_manifest

    try:
        side = float(json.loads(export_manifest.read_text())["patch_side_m"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(
            f"export manifest {export_manifest} is unreadable ({exc}); delete it "
            "and rerun export_patches"
        ) from exc
    mask = np.zeros((n, n), dtype=bool)
    tile_dir = tile_dir_for(product)
    for pid in invalid_patches_from_manifest(
        export_manifest, product=product, patch_side_m=side
    ):
        name = parse_patch_name(pid)
        if name.tile_dir != tile_dir or name.row >= n or name.col >= n:
            raise InputDataError(
                f"export manifest {export_manifest} lists patch {pid}, which is "
                f"not on the {n}x{n} grid of {product}"
            )
        mask[name.row, name.col] = True
    return mask


def draw_product_figures(
    *,
    rgb_preview: Path,
    clc_preview: Path,
    export_manifest: Path,
    quicklook: Path,
    reference_map: Path,
    summary: Path | None = None,
) -> ProductQa:
    """Draw a product's quicklook and reference-map mosaic from its side outputs."""
    started = time.monotonic()
    rgb = RgbPreview.read(rgb_preview)
    clc = ClcPreview.read(clc_preview)
    if rgb.product != clc.product:
        raise InputDataError(
            f"QA side outputs disagree: {rgb_preview} is of {rgb.product}, "
            f"{clc_preview} of {clc.product}; rerun export_patches and label_patches"
        )
    n = clc.labelled.shape[0]
    splits = split_grid(tile_side_m=rgb.tile_side_m, patch_side_m=clc.patch_side_m)
    if splits.shape != (n, n):
        raise InputDataError(
            f"{rgb.product}: a {rgb.tile_side_m:g} m tile has "
            f"{splits.shape[0]}x{splits.shape[0]} patches of {clc.patch_side_m:g} m, "
            f"but the labelling side output {clc_preview} has {n}x{n}"
        )
    nodata = nodata_mask(export_manifest, product=rgb.product, n=n)
    outcomes = outcome_grid(
        nodata=nodata,
        covered=clc.covered,
        kept=clc.kept,
        fails_quality=clc.fails_quality,
    )
    title = rgb.product
    atomic_write_bytes(
        quicklook,
        quicklook_png(
            stretch_rgb(rgb.rgb),
            pixel_m=rgb.pixel_m,
            outcomes=outcomes,
            splits=splits,
            patch_side_m=clc.patch_side_m,
            title=title,
            unlabeled_max_fraction=clc.unlabeled_max_fraction,
        ),
    )
    has_map = clc.labelled & clc.covered
    atomic_write_bytes(
        reference_map,
        reference_map_png(
            clc.codes,
            pixel_m=clc.pixel_m,
            has_map=has_map,
            patch_side_m=clc.patch_side_m,
            title=title,
        ),
    )
    counts = outcome_counts(outcomes)
    split_counts = np.bincount(splits.ravel(), minlength=len(SPLITS))
    result = ProductQa(
        product=rgb.product,
        patches=n * n,
        outcomes={
            o.describe(unlabeled_max_fraction=clc.unlabeled_max_fraction): counts[o]
            for o in Outcome
        },
        splits={s: int(split_counts[i]) for i, s in enumerate(SPLITS)},
        reference_maps=int(has_map.sum()),
        has_clc=clc.has_clc,
        fails_quality=clc.fails_quality,
        unlabeled_max_fraction=clc.unlabeled_max_fraction,
    )
    if summary is not None:
        write_json_atomic(summary, result.to_json())
    logger.info(
        "%s: QA figures drawn in %.1f s (%s)",
        rgb.product,
        time.monotonic() - started,
        ", ".join(f"{k} {v}" for k, v in result.outcomes.items()),
    )
    return result
