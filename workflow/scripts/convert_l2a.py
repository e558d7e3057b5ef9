"""Rule convert_l2a: one L1C SAFE -> results/l2a/<L2A name>.SAFE + JSON sidecar.

Inputs:   l1c     extracted L1C SAFE folder (resources/l1c/<L1C>.SAFE)
          gip_l2a the pinned L2A_GIPP.xml (only with sen2cor and l2a.gip_l2a set)
Outputs:  l2a     results/l2a/<L2A>.SAFE (sen2cor layout)
          sidecar results/l2a/<L2A>.json (converter, version, algorithm version)
Settings: params.processor, params.sen2cor_version; the sen2cor command and
          timeout from the run settings; threads = SEN2COR_N_CORES.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.l2a.convert import L2AParams, convert_product, write_sidecar
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    inputs = snakemake.input
    gip_l2a = inputs.get("gip_l2a")  # only with sen2cor and l2a.gip_l2a set
    params = L2AParams(
        processor=snakemake.params.processor,
        sen2cor_cmd=run.sen2cor_cmd,
        sen2cor_version=str(snakemake.params.sen2cor_version),
        gip_l2a=Path(gip_l2a) if gip_l2a else None,
        timeout_min=run.sen2cor_timeout_min,
    )
    result = convert_product(
        Path(inputs.l1c),
        Path(snakemake.output.l2a),
        params=params,
        threads=int(snakemake.threads),
        log_path=Path(snakemake.log[0]),
    )
    write_sidecar(result, Path(snakemake.output.sidecar))


main()
