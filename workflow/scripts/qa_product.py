"""Rule qa_product: a product's quicklook and reference-map mosaic.

Inputs:   rgb, clc         results/qa/previews/<L2A>_{rgb,clc}.npz (side outputs of
                           export_patches and label_patches)
          export_manifest  results/export/s2/<L2A>.json (the nodata patches)
Outputs:  quicklook, reference_map  results/qa/products/<L2A>_*.png
          summary          results/qa/products/<L2A>.json (patch outcome counts)
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import setup_for_snakemake
from benpipe.qa.product import draw_product_figures

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    draw_product_figures(
        rgb_preview=Path(snakemake.input.rgb),
        clc_preview=Path(snakemake.input.clc),
        export_manifest=Path(snakemake.input.export_manifest),
        quicklook=Path(snakemake.output.quicklook),
        reference_map=Path(snakemake.output.reference_map),
        summary=Path(snakemake.output.summary),
    )


main()
