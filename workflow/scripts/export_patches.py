"""Rule export_patches: 12 GeoTIFFs per valid patch of one L2A product."""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dataset.export import export_patches
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    progress = Progress("exported patches")
    export_patches(
        Path(snakemake.input.l2a),
        Path(snakemake.output.patches),
        patch_side_m=int(snakemake.params.patch_side_m),
        manifest_path=Path(snakemake.output.manifest),
        threads=int(snakemake.threads),
        progress=progress,
    )
    progress.close()


main()
