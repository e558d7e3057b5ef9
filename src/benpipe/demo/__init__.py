"""The synthetic demo world (``benpipe demo-world``).

A small but complete, seeded input universe in the real formats: L1C SAFE zips,
the v1 CSV/parquet files, v1 S1 patches, a CLC 2018 GeoPackage and Natural
Earth countries, plus a ``manifest.json`` of the facts the pipeline must
reproduce.  See ``docs/demo-world.md``.
"""

from __future__ import annotations

from benpipe.demo.world import WorldParams, generate_world

__all__ = ["WorldParams", "generate_world"]
