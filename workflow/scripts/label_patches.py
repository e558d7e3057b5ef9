"""Rule label_patches: CLC burn, reference maps and labels of one product.

Inputs:   l2a         results/l2a/<L2A>.SAFE (the product; its grid is in PostGIS)
          grid        results/db/receipts/grid/<L2A>.json
          clc         results/db/receipts/clc.json (the CLC sha256 the database
                      must hold)
Outputs:  maps        results/export/reference_maps/<L2A>/<tile_dir>/<patch>/<patch>_reference_map.tif
          receipt     results/db/receipts/labels/<L2A>.json
          qa_preview  results/qa/previews/<L2A>_clc.npz (CLC preview and patch
                      results, from the burnt grid this job holds anyway)
Settings: params.patch_side_m, params.resolution_m, params.unlabeled_max_fraction;
          the database connection from the run settings; threads = the job's
          threads (reference maps written in parallel, same bytes).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dataset.labelling import LabelledTile, label_patches
from benpipe.db.ingest import ingested_sha256
from benpipe.db.lifecycle import DbSettings
from benpipe.log import setup_for_snakemake
from benpipe.qa.previews import clc_preview

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    params = snakemake.params
    preview = Path(snakemake.output.qa_preview)

    def write_preview(tile: LabelledTile) -> None:
        clc_preview(tile).write(preview)

    label_patches(
        DbSettings.from_mapping(run.database),
        Path(snakemake.input.l2a).name.removesuffix(".SAFE"),
        out_dir=Path(snakemake.output.maps),
        unlabeled_max_fraction=float(params.unlabeled_max_fraction),
        patch_side_m=float(params.patch_side_m),
        res_m=float(params.resolution_m),
        clc_sha256=ingested_sha256(Path(snakemake.input.clc)),
        receipt=Path(snakemake.output.receipt),
        on_labelled=write_preview,
        threads=int(snakemake.threads),
    )


main()
