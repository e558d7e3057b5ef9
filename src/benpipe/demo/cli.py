"""``benpipe demo-world``: write the seeded synthetic demo world."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from benpipe.demo.spec import PRODUCTS, REBEN_TILE_IDS


def _parse_products(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | int:
    keys = {p.key: p.key for p in PRODUCTS} | {p.name: p.key for p in PRODUCTS}
    if value is None:
        return tuple(p.key for p in PRODUCTS)
    if value.strip().isdigit():
        count = int(value)
        if count < 1:
            raise click.BadParameter(
                "expected at least 1 product", param_hint="--products"
            )
        return count
    chosen: list[str] = []
    for item in (v.strip() for v in value.split(",")):
        item = item.removesuffix(".SAFE")
        if item not in keys:
            raise click.BadParameter(
                f"unknown product {item!r}; use P1..P4 or a full L1C name: "
                + ", ".join(f"{p.key}={p.name}" for p in PRODUCTS),
                param_hint="--products",
            )
        chosen.append(keys[item])
    return tuple(sorted(set(chosen)))


@click.command("demo-world")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to create (e.g. resources/demo-world).",
)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; the same seed gives byte-identical files.")  # fmt: skip
@click.option(
    "--tile-size-px",
    type=int,
    default=1200,
    show_default=True,
    help="Tile side in 10 m pixels: a multiple of 6 in 1200..10980. 1200 gives "
    "12 km tiles (10x10 patches); 10980 gives full-size tiles for benchmarks.",
)
@click.option(
    "--products",
    callback=_parse_products,
    default=None,
    metavar="N|NAME[,NAME]",
    help="A number N: a world of N products (P1..P4, then the products of "
    "--product-names at their real MGRS tile corners), all zips written. "
    "Names (P1..P4 or L1C names): write only these SAFE zips of the four-product "
    "world; all other files are always written. Default: the four products.",
)
@click.option(
    "--product-names",
    type=click.Path(dir_okay=False, path_type=Path),
    default=str(REBEN_TILE_IDS),
    show_default=True,
    help="tile,id CSV whose L1C names become products 5..N of --products N.",
)
@click.option(
    "--only-first",
    is_flag=True,
    help="Shortcut for --products P1 (one product, e.g. a full-size benchmark).",
)
@click.option(
    "--s1-rasters/--no-s1-rasters",
    default=True,
    show_default=True,
    help="Write the v1 S1 GeoTIFFs (about 115 kB per v1 patch; names and "
    "mapping are written either way).",
)
@click.option(
    "--clc-cell-km2",
    type=click.FloatRange(min=0.05),
    default=3.0,
    show_default=True,
    help="Average area of a random CLC polygon (a full-size tile gets ~4 000).",
)
@click.option(
    "--texture",
    type=click.Choice(["auto", "smooth", "realistic"]),
    default="auto",
    show_default=True,
    help="Band texture. smooth: the default demo's frozen bytes (about 3.3 bits "
    "per pixel as lossless JPEG 2000). realistic: fields, edges and "
    "brightness-dependent noise, about 5.3 bits per pixel at 10 m like real "
    "Sentinel-2 L2A, written with ESA's codestream options. auto: realistic "
    "at --tile-size-px 10980, smooth otherwise.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads for generating and JPEG 2000-encoding the bands; the bytes do "
    "not depend on it. Default: the number of CPUs.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def demo_world(
    out: Path,
    seed: int,
    tile_size_px: int,
    products: tuple[str, ...] | int,
    product_names: Path,
    only_first: bool,
    s1_rasters: bool,
    clc_cell_km2: float,
    texture: str,
    threads: int | None,
    overwrite: bool,
) -> None:
    """Write the synthetic demo world (L1C zips, v1 files, CLC, countries).

    The layout is described in docs/demo-world.md; manifest.json lists the
    facts the pipeline must reproduce (invalid patches, overlaps, designed
    patches and their labels).

    \b
    Examples:
      benpipe demo-world --out resources/demo-world
      benpipe demo-world --out /tmp/w --seed 7 --overwrite
      benpipe demo-world --out /tmp/full --tile-size-px 10980 --only-first \\
          --no-s1-rasters
      benpipe demo-world --out /tmp/w125 --products 125 --no-s1-rasters
      benpipe demo-world --out /tmp/real --texture realistic --threads 2
    """
    from benpipe.demo.spec import check_tile_size_px, world_products
    from benpipe.demo.world import (
        WorldParams,
        generate_world,
        read_product_names,
        resolve_texture,
    )
    from benpipe.errors import ConfigError, InputDataError

    try:
        check_tile_size_px(tile_size_px)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--tile-size-px") from exc
    if out.exists() and not overwrite:
        raise click.BadParameter(
            f"{out} exists; pass --overwrite to replace it", param_hint="--out"
        )
    specs = PRODUCTS
    if isinstance(products, int):
        if only_first:
            raise click.BadParameter(
                "--only-first selects a zip of the four-product world; drop it "
                "with --products N",
                param_hint="--only-first",
            )
        try:
            specs = world_products(products, read_product_names(product_names))
        except (ConfigError, InputDataError) as exc:
            raise click.BadParameter(str(exc), param_hint="--products") from exc
        products = tuple(p.key for p in specs)
    if only_first:
        products = ("P1",)
    params = WorldParams(
        seed=seed,
        tile_size_px=tile_size_px,
        specs=specs,
        products=products,
        s1_rasters=s1_rasters,
        clc_cell_km2=clc_cell_km2,
        texture=resolve_texture(texture, tile_size_px),
        threads=threads or os.cpu_count() or 1,
    )
    started = time.monotonic()
    manifest = generate_world(out, params, overwrite=overwrite)
    click.echo(f"demo world: {manifest} ({time.monotonic() - started:.1f} s)")
