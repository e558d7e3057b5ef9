"""Benchmark: ``benpipe query`` over a full-size synthetic catalogue.

Builds a seeded synthetic catalogue of ``--patches`` rows (default 550,000,
about the 549,488 published patches; ``benpipe.catalogue.synthetic``: real
schema, Hilbert row order, 8192-row groups), writes it as the pipeline does,
then times several queries, cold (first run in this process) and warm
(median of ``--repeat`` runs).  It prints figures; it never asserts times.
The goal is < 1 s per query.

    .venv/bin/python bench/bench_query.py                 # ~2 min to build
    .venv/bin/python bench/bench_query.py --patches 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import shapely

from benpipe.catalogue.core import geo_metadata
from benpipe.catalogue.io import write_catalogue_parquet
from benpipe.catalogue.query import Query, parse_time, run_query, summarize
from benpipe.catalogue.synthetic import synthetic_catalogue


def queries(bounds: tuple[float, float, float, float]) -> dict[str, Query]:
    west, south, east, north = bounds
    cx, cy = (west + east) / 2, (south + north) / 2
    small = (cx, cy, cx + 0.3, cy + 0.2)
    area = shapely.Point(cx, cy).buffer(0.5)
    return {
        "everything (counts only)": Query(),
        "split=test": Query(splits=("test",)),
        "country+season+split+labels-any+no-snow-cloud": Query(
            countries=("Finland",),
            seasons=("summer",),
            splits=("test",),
            labels_any=("Coniferous forest", "Inland wetlands"),
            no_snow_cloud=True,
        ),
        "labels-all (2 classes)": Query(labels_all=("Arable land", "Pastures")),
        "min-fraction Coniferous forest=0.5": Query(
            min_fractions=(("Coniferous forest", 0.5),)
        ),
        "time window (one month)": Query(
            start=parse_time("2017-07-01"), end=parse_time("2017-07-31", end=True)
        ),
        f"bbox {tuple(round(v, 2) for v in small)}": Query(bbox=small),
        "intersects (0.5 deg disc)": Query(intersects=area),
        "bbox + labels-any + min-fraction": Query(
            bbox=small,
            labels_any=("Mixed forest",),
            min_fractions=(("Mixed forest", 0.2),),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patches", type=int, default=550_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--keep", type=Path, default=None, help="Write the catalogue here."
    )
    args = parser.parse_args()

    start = time.perf_counter()
    table = synthetic_catalogue(args.patches, seed=args.seed)
    built = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / "patches.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        write_catalogue_parquet(
            table, path, geo=geo_metadata(table), stac={"version": "1.0.0"}
        )
        written = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        print(
            f"synthetic catalogue: {table.num_rows} rows, built in {built:.1f} s, "
            f"written in {written:.1f} s, {size_mb:.1f} MB"
        )
        g = geo_metadata(table)["columns"]["geometry"]["bbox"]  # type: ignore[index]
        print(f"{'query':55s} {'rows':>8s} {'cold s':>8s} {'warm s':>8s}")
        for name, query in queries(tuple(g)).items():  # type: ignore[arg-type]
            start = time.perf_counter()
            result = run_query(path, query)
            summarize(result)
            cold = time.perf_counter() - start
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = run_query(path, query)
                summarize(result)
                times.append(time.perf_counter() - start)
            print(
                f"{name:55s} {result.num_rows:8d} {cold:8.3f} "
                f"{statistics.median(times):8.3f}"
            )


if __name__ == "__main__":
    main()
