"""Rule build_patch_grid: product row + patch grid (split, season, validity).

Inputs:   l2a      results/l2a/<L2A>.SAFE (metadata and band headers only)
          export_manifest  results/export/s2/<L2A>.json (the invalid patch ids;
                   the product is never decoded here)
          schema   results/db/schema.json
Outputs:  receipt  results/db/receipts/grid/<L2A>.json
Settings: params.patch_side_m, params.reference_season_quirk; the database
          connection from the run settings.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dataset.export import invalid_patches_from_manifest
from benpipe.dataset.patching import build_patch_grid
from benpipe.db.lifecycle import DbSettings
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    params = snakemake.params
    l2a = Path(snakemake.input.l2a)
    build_patch_grid(
        DbSettings.from_mapping(run.database),
        l2a,
        patch_side_m=float(params.patch_side_m),
        reference_season_quirk=bool(params.reference_season_quirk),
        invalid_patches=invalid_patches_from_manifest(
            Path(snakemake.input.export_manifest),
            product=l2a.name.removesuffix(".SAFE"),
            patch_side_m=float(params.patch_side_m),
        ),
        receipt=Path(snakemake.output.receipt),
    )


main()
