"""Config checks that the JSON schema cannot express (run at DAG-build time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benpipe.db.url import parse_database_url
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
    if db_url:
        parse_database_url(str(db_url))  # ConfigError: not PostgreSQL, or a password
