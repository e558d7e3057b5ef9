"""Config checks that the JSON schema cannot express (run at DAG-build time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benpipe.errors import ConfigError


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the key for cross-field problems."""
    patching = config.get("patching", {})
    size_m = patching.get("size_m", 1200)
    res_m = patching.get("resolution_m", 10)
    if size_m % res_m:
        raise ConfigError(
            f"patching.size_m ({size_m}) must be a multiple of "
            f"patching.resolution_m ({res_m})"
        )
    db_url = (config.get("database") or {}).get("url")
    if db_url and "@" in db_url.split("//", 1)[-1]:
        userinfo = db_url.split("//", 1)[-1].split("@", 1)[0]
        if ":" in userinfo:
            raise ConfigError(
                "database.url contains a password; remove it and provide the "
                "password through PGPASSWORD or ~/.pgpass so it never reaches "
                "Snakemake metadata or logs"
            )
