"""Rule export_patches: 12 GeoTIFFs per valid patch of one L2A product.

Inputs:   l2a         results/l2a/<L2A>.SAFE
Outputs:  patches     results/export/s2/<L2A>/<tile_dir>/<patch>/<patch>_<band>.tif
          manifest    results/export/s2/<L2A>.json
          qa_preview  results/qa/previews/<L2A>_rgb.npz (true-colour preview,
                      from the bands this job decodes anyway)
Settings: params.patch_side_m; threads = decode and write threads.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dataset.export import export_patches
from benpipe.log import Progress, setup_for_snakemake
from benpipe.qa.previews import RgbPreviewBuilder

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    l2a = Path(snakemake.input.l2a)
    preview = RgbPreviewBuilder(l2a.name.removesuffix(".SAFE"))
    progress = Progress("exported patches")
    export_patches(
        l2a,
        Path(snakemake.output.patches),
        patch_side_m=int(snakemake.params.patch_side_m),
        manifest_path=Path(snakemake.output.manifest),
        threads=int(snakemake.threads),
        progress=progress,
        on_band=preview.add_band,
    )
    progress.close()
    preview.write(Path(snakemake.output.qa_preview))


main()
