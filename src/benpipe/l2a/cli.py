"""``benpipe convert-l2a`` and ``benpipe l2a-info``: the L2A stage by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("convert-l2a")
@click.argument(
    "l1c_safe", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that receives <L2A name>.SAFE.",
)
@click.option(
    "--processor",
    type=click.Choice(["fallback", "sen2cor"]),
    default="fallback",
    show_default=True,
    help="fallback = built-in DOS1 converter (NOT sen2cor); sen2cor = L2A_Process.",
)
@click.option("--sen2cor-cmd", default="L2A_Process", show_default=True)
@click.option("--sen2cor-version", default="2.11", show_default=True)
@click.option("--gip-l2a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--timeout-min", type=float, default=360.0, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="sen2cor: SEN2COR_N_CORES. fallback: bands converted in parallel (at most "
    "4) and JPEG 2000 encoding threads; the bytes do not depend on it.",
)
def convert_l2a_command(
    l1c_safe: Path,
    out_dir: Path,
    processor: str,
    sen2cor_cmd: str,
    sen2cor_version: str,
    gip_l2a: Path | None,
    timeout_min: float,
    threads: int,
) -> None:
    """Convert one extracted L1C SAFE folder into an L2A SAFE folder.

    Examples:

        benpipe convert-l2a resources/l1c/S2A_MSIL1C_…SAFE --out /tmp/l2a

        benpipe convert-l2a L1C.SAFE --out l2a --processor sen2cor \\
            --sen2cor-cmd /opt/sen2cor/bin/L2A_Process
    """
    from benpipe.l2a.convert import L2AParams, convert_product
    from benpipe.names import l2a_name_for

    params = L2AParams(
        processor="sen2cor" if processor == "sen2cor" else "fallback",
        sen2cor_cmd=sen2cor_cmd,
        sen2cor_version=sen2cor_version,
        gip_l2a=gip_l2a,
        timeout_min=timeout_min,
    )
    name = l2a_name_for(l1c_safe.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = convert_product(
        l1c_safe,
        out_dir / f"{name}.SAFE",
        params=params,
        threads=threads,
        log_path=out_dir / f"{name}.sen2cor.log",
    )
    click.echo(result.to_json(), nl=False)


@click.command("l2a-info")
@click.argument(
    "l2a_safe", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--validate/--no-validate", default=True, show_default=True)
def l2a_info_command(l2a_safe: Path, validate: bool) -> None:
    """Print what the L2A reader sees in a product (JSON) and validate it.

    Examples:

        benpipe l2a-info results/l2a/S2A_MSIL2A_…_20240101T000000.SAFE
    """
    from benpipe.l2a.products import open_l2a
    from benpipe.names import BANDS

    product = open_l2a(l2a_safe)
    if validate:
        product.validate()
    info = {
        "name": product.name,
        "processor": product.processor,
        "epsg": product.epsg,
        "ulx": product.ulx,
        "uly": product.uly,
        "tile_side_m": product.tile_side_m,
        "sensing_time": product.sensing_time.isoformat(),
        "quality_checks": product.quality_checks,
        "fails_quality": product.fails_quality,
        "bands": {
            band: str(product.band_path(band).relative_to(product.path))
            for band in BANDS
        },
        "scl": str(product.scl_path.relative_to(product.path)),
        "validated": validate,
    }
    click.echo(json.dumps(info, indent=2))
