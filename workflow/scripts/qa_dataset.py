"""Rule qa_dataset: dataset figures and the gallery from results/dataset.

Inputs:   dataset    results/dataset (the two parquets and the GeoTIFFs only)
          countries  inputs.countries (outlines for the patch map)
Outputs:  results/qa/dataset/<figure>.png, results/qa/gallery/<nn>_<class>.png,
          results/qa/dataset/summary.json
Settings: params.samples_per_class.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import setup_for_snakemake
from benpipe.qa.dataset import build_dataset_figures

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    build_dataset_figures(
        Path(snakemake.input.dataset),
        Path(snakemake.output.summary).parent.parent,
        countries=Path(snakemake.input.countries),
        samples_per_class=int(snakemake.params.samples_per_class),
    )


main()
