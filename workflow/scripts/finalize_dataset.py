"""Rule finalize_dataset: metadata parquets and the published dataset tree."""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dataset.finalize import FinalizeInputs, finalize_dataset
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    inputs = FinalizeInputs(
        label_mapping=Path(snakemake.input.labels),
        s2v1_mapping=Path(snakemake.input.s2v1),
        split_mapping=Path(snakemake.input.split),
        country_mapping=Path(snakemake.input.country),
        s1s2_mapping=Path(snakemake.input.s1s2_mapping),
        seasonal_snow_list=Path(snakemake.input.snow),
        cloud_shadow_list=Path(snakemake.input.cloud),
    )
    progress = Progress("assembled patches")
    finalize_dataset(
        inputs,
        s2_roots=[Path(p) for p in snakemake.input.s2_dirs],
        reference_map_roots=[Path(p) for p in snakemake.input.map_dirs],
        s1_root=Path(snakemake.input.s1_root),
        out_dir=Path(snakemake.output.dataset),
        manifest_path=Path(snakemake.output.manifest),
        progress=progress,
    )
    progress.close()


main()
