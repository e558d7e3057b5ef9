"""Rule convert_l2a: one L1C SAFE -> results/l2a/<L2A name>.SAFE + JSON sidecar.

Inputs:   l1c     extracted L1C SAFE folder (resources/l1c/<L1C>.SAFE)
Outputs:  l2a     results/l2a/<L2A>.SAFE (sen2cor layout)
          sidecar results/l2a/<L2A>.json (converter, version, algorithm version)
Settings: params.l2a = the l2a.* config keys; threads = SEN2COR_N_CORES.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.l2a.convert import L2AParams, convert_product, write_sidecar
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    settings = snakemake.params.l2a
    gip_l2a = settings["gip_l2a"]
    params = L2AParams(
        processor=settings["processor"],
        sen2cor_cmd=str(settings["sen2cor_cmd"]),
        sen2cor_version=str(settings["sen2cor_version"]),
        gip_l2a=Path(gip_l2a) if gip_l2a else None,
        timeout_min=float(settings["timeout_min"]),
    )
    result = convert_product(
        Path(snakemake.input.l1c),
        Path(snakemake.output.l2a),
        params=params,
        threads=int(snakemake.threads),
        log_path=Path(snakemake.log[0]),
    )
    write_sidecar(result, Path(snakemake.output.sidecar))


main()
