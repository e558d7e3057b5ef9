"""Rule build_catalogue: the patch catalogue and STAC of the assembled dataset.

Inputs: ``dataset`` (results/dataset, published layout).
Outputs: ``catalogue`` (results/catalogue/patches.parquet, GeoParquet 1.1 and
stac-geoparquet), ``stac`` (results/catalogue/stac: Collections, and static
Items for small datasets).
Settings: the frozen L1C name -> CDSE id table
``<tracked_dir>/bigearthnet_s2_tile_ids.csv`` (run settings; its digest
``params.tile_ids_sha256`` reruns the rule after a refreeze), ``overlap_threshold``
and ``reference_season_quirk`` (patching.*); the job's threads read the
reference maps.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.catalogue.build import build_catalogue
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    progress = Progress("reference maps read")
    build_catalogue(
        Path(snakemake.input.dataset),
        Path(snakemake.output.catalogue).parent,
        tile_ids=run.tracked_dir / "bigearthnet_s2_tile_ids.csv",
        overlap_threshold=float(snakemake.params.overlap_threshold),
        reference_season_quirk=bool(snakemake.params.reference_season_quirk),
        workers=int(snakemake.threads),
        overwrite=True,
        progress=progress,
    )
    progress.close()


main()
