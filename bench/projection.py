"""A measured cost model of a full rebuild, projected per stage and core count.

Inputs (any subset; every figure printed names its source):

* ``--run DIR`` (repeatable): a finished pipeline run (``DIR/benchmarks/<rule>/
  *.tsv`` from the rules' ``benchmark:`` directives, and ``DIR/config.yaml``
  whose inputs point at the ``benpipe demo-world`` world, whose
  ``manifest.json`` gives the tile size and products).  Runs at two or more
  tile sizes let the per-product rules be fitted as ``a + b·pixels``; one
  size gives ``b·pixels`` (proportional).  ``bench/bench_dag.py --run``
  leaves such a run in ``<workdir>/run``.
* ``--wholerun JSON`` (repeatable): ``bench/bench_wholerun.py --json`` output (finalize,
  hash_outputs, package_release, check-dataset at 10^4..10^6 files), fitted
  as ``a + b·files``.
* ``--dag JSON``: ``bench/bench_dag.py --json`` output (DAG build and dry run).

Each stage is fitted on its own size variable (pixels per product, grid or
final patches, dataset files) by least squares on ``a + b·x`` (a, b >= 0),
then projected to the full rebuild (125 products of 10980² px, 1,035,125 grid
patches, 549,488 final patches with 6,593,856 S2 GeoTIFFs, 1,098,976 S1 files
and 549,488 reference maps) on 2, 16 and 64 cores:

* per-product rules: core time = 125 × fitted wall × the rule's threads in
  the workstation profile (the cores Snakemake holds; its sampled
  ``cpu_time`` undercounts jobs over 15 s); wall on C cores = max(core time
  / C, one product's fitted wall) (perfect packing);
* whole-run rules: one job; the parallel ones (hash_outputs, package_release,
  check-dataset) run on all C cores (CPU / C, at least the serial measured
  wall share), the serial ones (finalize, align_v1, …) take their fitted
  wall on any core count;
* peak memory: the fitted peak RSS at the target size (for whole-run file
  stages it shows whether memory stays flat);
* disk: what the stage leaves behind, from the measured bytes per file or
  per pixel.

The reference's published timings (REFERENCE-PIPELINE.md §9) stand beside
each stage.  ``--markdown README.md`` rewrites the README section between
``<!-- projection:begin -->`` and ``<!-- projection:end -->`` with the table,
the date and the machine.  Never asserts times.

    .venv/bin/python bench/projection.py --run /var/tmp/bench-dag/run \\
        --wholerun wholerun.json --dag dag.json --markdown README.md
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BEGIN = "<!-- projection:begin -->"
END = "<!-- projection:end -->"
CORES = (2, 16, 64)
TABLE_HEADER = (
    "| stage | model (x) | points | core-h | "
    + " | ".join(f"wall, {c} cores" for c in CORES)
    + " | peak RSS | disk | reference (§9) |"
)


@dataclass(frozen=True)
class Target:
    """The full rebuild (REFERENCE-PIPELINE.md §9)."""

    products: int = 125
    tile_px: int = 10980
    grid_patches: int = 1_035_125
    final_patches: int = 549_488

    @property
    def s2_files(self) -> int:
        return self.final_patches * 12

    @property
    def s1_files(self) -> int:
        return self.final_patches * 2

    @property
    def files(self) -> int:
        return self.s2_files + self.s1_files + self.final_patches


TARGET = Target()

#: The reference's published timings per stage (REFERENCE-PIPELINE.md §9).
REFERENCE = {
    "download_l1c": "–",
    "convert_l2a": "L1C→L2A: a few hours",
    "build_patch_grid": "invalid regions ≈ 30 min",
    "label_patches": "overlay 3.5–15 h, rasterise 10 min (16 workers), maps 15 min",
    "export_patches": "S2 patch export ≈ 2.5 h",
    "align_v1": "validation and alignment ≈ 1 min",
    "ingest_clc": "CLC upload ≤ 10 min",
    "finalize": "symlinker did not finish in 8 min",
    "hash_outputs": "–",
    "package_release": "zstd -19 (§7.1)",
    "check_dataset": "–",
    "dag": "–",
}


# ------------------------------------------------------------------ fitting
@dataclass(frozen=True)
class Fit:
    """``y = a + b·x`` fitted on ``n`` points (a, b >= 0)."""

    a: float
    b: float
    n: int

    def __call__(self, x: float) -> float:
        return self.a + self.b * x


def fit_linear(points: Sequence[tuple[float, float]]) -> Fit:
    """Least squares of ``a + b·x`` with a, b >= 0 over distinct x.

    One x gives ``b = y / x`` (proportional); a negative intercept is refitted
    through the origin, a negative slope gives the mean as a constant.
    """
    pts = [(float(x), float(y)) for x, y in points if x > 0 and not math.isnan(y)]
    if not pts:
        raise ValueError("no points to fit")
    xs = {x for x, _ in pts}
    if len(xs) == 1:
        x = pts[0][0]
        return Fit(0.0, statistics.fmean(y for _, y in pts) / x, len(pts))
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx
    a = my - b * mx
    if b < 0:
        return Fit(my, 0.0, len(pts))
    if a < 0:
        b = sum(x * y for x, y in pts) / sum(x * x for x, _ in pts)
        return Fit(0.0, b, len(pts))
    return Fit(a, b, len(pts))


# ------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class Measurement:
    """One rule's mean over its benchmark repeats."""

    rule: str
    item: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float


def _number(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "", "NA", "-") else math.nan
    except ValueError:
        return math.nan


def read_tsv(path: Path, rule: str) -> Measurement | None:
    """Mean over the repeats of one Snakemake benchmark file (None when empty)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        return None

    def mean(key: str) -> float:
        values = [v for v in (_number(r.get(key)) for r in rows) if not math.isnan(v)]
        return statistics.fmean(values) if values else math.nan

    return Measurement(rule, path.stem, mean("s"), mean("cpu_time"), mean("max_rss"))


def collect(root: Path) -> dict[str, list[Measurement]]:
    """rule -> measurements, from ``<root>/<rule>/**/*.tsv``."""
    found: dict[str, list[Measurement]] = {}
    if not root.is_dir():
        return found
    for rule_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        items = [read_tsv(p, rule_dir.name) for p in sorted(rule_dir.rglob("*.tsv"))]
        kept = [m for m in items if m is not None]
        if kept:
            found[rule_dir.name] = kept
    return found


@dataclass(frozen=True)
class Run:
    """A finished run: its benchmarks and the size of its world."""

    path: Path
    tile_px: int
    products: int
    final_patches: int
    l1c_bytes_per_product: float
    benchmarks: dict[str, list[Measurement]]


def load_run(path: Path) -> Run:
    """Benchmarks of ``path`` and the tile size / products of its world."""
    config = yaml.safe_load((path / "config.yaml").read_text())
    world = Path(config["inputs"]["tile_names_and_links"]).parent
    manifest = json.loads((world / "manifest.json").read_text())
    zips = sorted((world / "cdse" / "products").glob("*.zip"))
    dataset = path / "results" / "dataset"
    final = 0
    if (dataset / "metadata.parquet").exists():
        import pyarrow.parquet as pq

        final = sum(
            pq.read_metadata(dataset / name).num_rows
            for name in ("metadata.parquet",)
            + ("metadata_for_patches_with_snow_cloud_or_shadow.parquet",)
        )
    return Run(
        path=path,
        tile_px=int(manifest["tile_size_px"]),
        products=len(manifest["products"]),
        final_patches=final,
        l1c_bytes_per_product=(
            statistics.fmean(p.stat().st_size for p in zips) if zips else math.nan
        ),
        benchmarks=collect(path / "benchmarks"),
    )


# ------------------------------------------------------------------ model
@dataclass
class Stage:
    """A stage's fitted costs and its projection."""

    name: str
    model: str
    kind: str  # "product" | "serial" | "parallel"
    x_target: float
    cpu: Fit
    wall: Fit
    rss: Fit | None
    per: int = 1  # jobs (products) at the target
    disk_bytes: float = math.nan
    sources: list[str] = field(default_factory=list)

    @property
    def cpu_h(self) -> float:
        return self.cpu(self.x_target) * self.per / 3600

    def wall_s(self, cores: int) -> float:
        one = self.wall(self.x_target)
        if self.kind == "product":
            return max(self.cpu(self.x_target) * self.per / cores, one)
        if self.kind == "parallel":
            return max(self.cpu(self.x_target) / cores, one / 64)
        return one


#: The workstation profile: its ``set-threads`` are the cores Snakemake
#: reserves for each job of a rule (1 when not set).
PROFILE = (
    Path(__file__).resolve().parent.parent / "workflow/profiles/default/profile.yaml"
)


def profile_threads(path: Path = PROFILE) -> dict[str, int]:
    """rule -> threads of the profile's ``set-threads``."""
    profile = yaml.safe_load(path.read_text()) or {}
    return {str(k): int(v) for k, v in (profile.get("set-threads") or {}).items()}


PER_PRODUCT_RULES = (
    "download_l1c",
    "convert_l2a",
    "build_patch_grid",
    "label_patches",
    "export_patches",
    "qa_product",
)
#: whole-run rules of the runs, by the size they grow with
PATCH_RULES = {"align_v1": "grid_patches", "qa_dataset": "final_patches"}
WHOLERUN_STAGES = {
    "finalize": "serial",
    "hash_outputs": "parallel",
    "package_release": "parallel",
    "check_dataset": "parallel",
}


def product_stages(
    runs: Sequence[Run], target: Target, threads: dict[str, int] | None = None
) -> list[Stage]:
    """Per-product rules cost the cores they hold: wall x the rule's threads.

    Snakemake reserves a job's threads for its whole wall time, so that is
    what 125 products take from a machine.  The benchmark files' ``cpu_time``
    is not used: Snakemake samples it every 30 s after a job's first 15 s and
    misses the CPU after the last sample (up to 30 s x threads per job; a
    full-size conversion measured 88 of its 142 CPU-s).
    """
    threads = profile_threads() if threads is None else threads
    stages = []
    for rule in PER_PRODUCT_RULES:
        pts: dict[str, list[tuple[float, float]]] = {"cpu": [], "wall": [], "rss": []}
        for run in runs:
            for m in run.benchmarks.get(rule, []):
                px = float(run.tile_px) ** 2
                pts["cpu"].append((px, m.wall_s * threads.get(rule, 1)))
                pts["wall"].append((px, m.wall_s))
                pts["rss"].append((px, m.max_rss_mb))
        if not pts["cpu"]:
            continue
        sizes = sorted({r.tile_px for r in runs if rule in r.benchmarks})
        stage = Stage(
            name=rule,
            model="per product (px²)",
            kind="product",
            x_target=float(target.tile_px) ** 2,
            cpu=fit_linear(pts["cpu"]),
            wall=fit_linear(pts["wall"]),
            # memory from one tile size is no basis for a per-pixel slope
            rss=fit_linear(pts["rss"]) if len(sizes) > 1 else None,
            per=target.products,
            sources=[f"runs at {', '.join(map(str, sizes))} px"],
        )
        if rule == "download_l1c":
            zips = [(float(r.tile_px) ** 2, r.l1c_bytes_per_product) for r in runs]
            stage.disk_bytes = fit_linear(zips)(stage.x_target) * target.products
        stages.append(stage)
    for rule, size in PATCH_RULES.items():
        pts_cpu, pts_wall, pts_rss = [], [], []
        for run in runs:
            x = (
                run.products * (run.tile_px // 120) ** 2
                if size == "grid_patches"
                else run.final_patches
            )
            for m in run.benchmarks.get(rule, []):
                pts_cpu.append((x, m.cpu_s))
                pts_wall.append((x, m.wall_s))
                pts_rss.append((x, m.max_rss_mb))
        if pts_cpu and any(x for x, _ in pts_cpu):
            stages.append(
                Stage(
                    name=rule,
                    model=size.replace("_", " "),
                    kind="serial",
                    x_target=float(getattr(target, size)),
                    cpu=fit_linear(pts_cpu),
                    wall=fit_linear(pts_wall),
                    rss=fit_linear(pts_rss)
                    if len({x for x, _ in pts_rss}) > 1
                    else None,
                    sources=[
                        f"runs of {', '.join(str(int(x)) for x, _ in pts_cpu)} {size}"
                    ],
                )
            )
    return stages


def wholerun_stages(results: Sequence[dict[str, Any]], target: Target) -> list[Stage]:
    stages = []
    for name, kind in WHOLERUN_STAGES.items():
        cpu, wall, rss = [], [], []
        for size in results:
            stage = size["stages"].get(name)
            if stage is None:
                continue
            cpu.append((size["files"], stage["cpu_s"]))
            wall.append((size["files"], stage["seconds"]))
            rss.append((size["files"], max(stage["rss_mb"], stage["worker_rss_mb"])))
        if not cpu:
            continue
        bytes_per_file = statistics.fmean(s["bytes"] / s["files"] for s in results)
        disk = math.nan
        if name == "finalize":  # the S1 copies; S2 and maps are hard links
            disk = bytes_per_file * target.files * 0.42
        elif name == "package_release":
            ratio = statistics.fmean(
                sum(s["stages"][name]["zst_bytes"].values()) / s["bytes"]
                for s in results
                if name in s["stages"]
            )
            disk = bytes_per_file * target.files * ratio
        elif name == "hash_outputs":
            disk = 100.0 * target.files
        stages.append(
            Stage(
                name=name,
                model="dataset files",
                kind=kind,
                x_target=float(target.files),
                cpu=fit_linear(cpu),
                wall=fit_linear(wall),
                rss=fit_linear(rss),
                disk_bytes=disk,
                sources=[
                    f"bench_wholerun at {', '.join(f'{int(x):,}' for x, _ in cpu)} files"
                ],
            )
        )
    return stages


def dag_stage(result: dict[str, Any], target: Target) -> Stage:
    """DAG build and dry run, proportional to products (one measured size)."""
    n = float(result["products"])
    return Stage(
        name="dag",
        model="products",
        kind="serial",
        x_target=float(target.products),
        cpu=fit_linear([(n, result["dry_run_s"])]),
        wall=fit_linear([(n, result["dry_run_s"])]),
        rss=None,
        sources=[
            f"bench_dag, {int(n)} products: DAG build {result['dag_s']:.1f} s, "
            f"dry run {result['dry_run_s']:.1f} s"
        ],
    )


# ------------------------------------------------------------------ output
def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def size(nbytes: float) -> str:
    if math.isnan(nbytes):
        return "–"
    return f"{nbytes / 1e9:,.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:,.0f} MB"


def table(stages: Iterable[Stage]) -> list[str]:
    lines = [
        TABLE_HEADER,
        "|---|---|---:|---:|" + "---:|" * len(CORES) + "---:|---:|---|",
    ]
    total_cpu = 0.0
    totals = dict.fromkeys(CORES, 0.0)
    for stage in stages:
        total_cpu += stage.cpu_h
        walls = [stage.wall_s(c) for c in CORES]
        for c, w in zip(CORES, walls, strict=True):
            totals[c] += w
        rss = stage.rss(stage.x_target) if stage.rss else math.nan
        lines.append(
            f"| {stage.name} | {stage.model} | {stage.cpu.n} | {stage.cpu_h:,.2f} | "
            + " | ".join(duration(w) for w in walls)
            + f" | {'–' if math.isnan(rss) else f'{rss:,.0f} MB'} | "
            f"{size(stage.disk_bytes)} | {REFERENCE.get(stage.name, '–')} |"
        )
    lines.append(
        f"| **total** (stages in sequence) | | | **{total_cpu:,.1f}** | "
        + " | ".join(f"**{duration(totals[c])}**" for c in CORES)
        + " | | | whole DB processing ≈ 6 h on 6 cores |"
    )
    return lines


def machine_line(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    return (
        f"Generated by `bench/projection.py` on {now:%Y-%m-%d} (machine: "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"{mem:.0f} GiB; load {load[0]:.1f} when projected)."
    )


def render(
    stages: Sequence[Stage], target: Target, now: dt.datetime | None = None
) -> str:
    sources = sorted({s for stage in stages for s in stage.sources})
    parts = [
        machine_line(now),
        "",
        f"Full rebuild: {target.products} products of {target.tile_px}² px, "
        f"{target.grid_patches:,} grid patches, {target.final_patches:,} final "
        f"patches ({target.s2_files:,} S2 GeoTIFFs, {target.s1_files:,} S1 files, "
        f"{target.final_patches:,} reference maps).",
        "",
        *table(stages),
        "",
        "Fitted from: " + "; ".join(sources) + ". Model: `a + b·x` per stage "
        "(least squares, a, b ≥ 0; one size = proportional). core-h: per-product "
        "rules hold their profile threads for their wall time; whole-run stages: "
        "measured CPU. Per-product rules: wall = max(core-h / cores, one product); "
        "parallel whole-run stages: CPU / cores; serial ones (finalize, align_v1, "
        "the DAG): their fitted wall on any core count. Not modelled: download "
        "bandwidth (≈ 100 GB from CDSE), sen2cor, database contention, stragglers. "
        "Full-size bands have real Sentinel-2 entropy (5.3 bits per pixel at 10 m, "
        "ESA's codestream); the fallback's L2A bands use arithmetic-coding bypass, "
        "which takes about 35 % less CPU to decode than sen2cor's, so export and "
        "labels on sen2cor output cost more; peak RSS is the fitted value at the target "
        "size (an upper bound where fitted on two small sizes; docs/scale.md has "
        "the 10⁶-file figures).",
    ]
    return "\n".join(parts)


def replace_section(text: str, section: str) -> str:
    """``text`` with the part between the projection markers replaced."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise SystemExit(f"expected one {BEGIN} and one {END} in the file")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{section}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, action="append", default=[])
    parser.add_argument(
        "--wholerun",
        type=Path,
        action="append",
        default=[],
        help="bench_wholerun.py --json output (repeatable: sizes from several runs)",
    )
    parser.add_argument("--dag", type=Path, help="bench_dag.py --json output")
    parser.add_argument("--markdown", type=Path, help="rewrite this file's section")
    args = parser.parse_args(argv)
    stages: list[Stage] = []
    if args.run:
        stages += product_stages([load_run(p) for p in args.run], TARGET)
    if args.wholerun:
        sizes = [size for path in args.wholerun for size in _last_json(path)]
        stages += wholerun_stages(sizes, TARGET)
    if args.dag:
        stages.append(dag_stage(_last_json(args.dag), TARGET))
    if not stages:
        parser.error("nothing measured: pass --run, --wholerun and/or --dag")
    section = render(stages, TARGET)
    print(section)
    if args.markdown:
        args.markdown.write_text(replace_section(args.markdown.read_text(), section))
    return 0


def _last_json(path: Path) -> Any:
    """The last line of ``path`` that parses as JSON (the benches print it last)."""
    for line in reversed(path.read_text().splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise SystemExit(f"{path}: no JSON line (run the bench with --json)")


if __name__ == "__main__":
    sys.exit(main())
