"""CDSE OData catalogue: exact-name search, the frozen id table and its sidecar.

One anonymous query per product (REFERENCE-PIPELINE.md §2), in the form the
CDSE documentation recommends (the collection first, for performance):
``GET {catalogue_url}/Products?$filter=Collection/Name eq 'SENTINEL-2' and
Name eq '<name>.SAFE'``, following ``@odata.nextLink`` until the last page;
exactly one match is required.  Results are written as

* ``bigearthnet_s2_tile_ids.csv``: ``tile,id`` sorted by tile, LF (the
  reference format), and
* ``cdse_catalogue.csv``: ``tile,id,content_length,md5,online,blake3``, the
  sidecar the downloader verifies against (BLAKE3 when present, else MD5;
  files written before the ``blake3`` column existed are still read),

plus ``diff.md`` comparing both with their tracked copies.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from benpipe.cdse.retry import (
    RetryPolicy,
    TransientError,
    call_with_retries,
    is_transient,
)
from benpipe.cdse.session import new_session
from benpipe.csvdiff import diff_keyed_csv
from benpipe.errors import CatalogueError, InputDataError
from benpipe.fileio import atomic_write_text

logger = logging.getLogger(__name__)

#: Bump when the bytes of the search outputs change (2: sidecar ``blake3`` column).
ALGORITHM_VERSION = 2

SIDECAR_HEADER = ("tile", "id", "content_length", "md5", "online", "blake3")
#: The header before the ``blake3`` column; still accepted by :func:`read_sidecar`.
SIDECAR_HEADER_V1 = SIDECAR_HEADER[:5]

#: Checksum algorithms the downloader verifies, most preferred first.
CHECKSUM_ALGORITHMS = ("BLAKE3", "MD5")


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """The fields of a CDSE product the pipeline relies on."""

    name: str  # with .SAFE
    id: str
    content_length: int
    md5: str | None
    online: bool
    blake3: str | None = None

    def checksum(self, algorithm: str) -> str | None:
        """The lower-case hex value for ``algorithm`` (``MD5``/``BLAKE3``), if known."""
        return {"MD5": self.md5, "BLAKE3": self.blake3}.get(algorithm.upper())

    def preferred_checksum(self) -> tuple[str, str] | None:
        """``(algorithm, hex)`` to verify with: BLAKE3, else MD5, else None."""
        for algorithm in CHECKSUM_ALGORITHMS:
            value = self.checksum(algorithm)
            if value:
                return algorithm, value
        return None


def entry_from_json(item: Mapping[str, Any]) -> CatalogueEntry:
    """Normalise one OData product object (never byte-compare raw JSON)."""
    values: dict[str, str] = {}
    for checksum in item.get("Checksum") or []:
        algorithm = str(checksum.get("Algorithm", "")).upper()
        if algorithm in CHECKSUM_ALGORITHMS and checksum.get("Value"):
            values[algorithm] = str(checksum["Value"]).lower()
    online = item.get("Online", True)
    return CatalogueEntry(
        name=str(item["Name"]),
        id=str(item["Id"]),
        content_length=int(item.get("ContentLength") or 0),
        md5=values.get("MD5"),
        online=bool(online) if online is not None else True,
        blake3=values.get("BLAKE3"),
    )


#: CDSE collection of a product, from the first two letters of its name.
COLLECTIONS = {"S1": "SENTINEL-1", "S2": "SENTINEL-2", "S3": "SENTINEL-3"}


def odata_quote(value: str) -> str:
    """An OData string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def name_filter(name: str) -> str:
    """The documented exact-name filter: collection first, then ``Name eq``."""
    collection = COLLECTIONS.get(name[:2])
    exact = f"Name eq {odata_quote(name)}"
    return (
        f"Collection/Name eq {odata_quote(collection)} and {exact}"
        if collection
        else exact
    )


def _get_json(
    session: requests.Session,
    url: str,
    params: Mapping[str, str] | None,
    timeout_s: float,
) -> Any:
    try:
        resp = session.get(url, params=params, timeout=timeout_s)
    except requests.RequestException as exc:
        raise TransientError(exc.__class__.__name__) from exc
    if is_transient(resp.status_code):
        raise TransientError.from_response(resp)
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise CatalogueError(
            f"catalogue query {resp.url} answered HTTP {resp.status_code}: "
            f"{resp.text[:200]!r}; check cdse.catalogue_url"
        )
    try:
        return resp.json()
    except ValueError as exc:
        raise CatalogueError(
            f"catalogue query {resp.url} did not return JSON; check cdse.catalogue_url"
        ) from exc


def query_products(
    odata_filter: str,
    *,
    catalogue_url: str,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    top: int = 20,
    what: str = "catalogue query",
) -> Iterator[dict[str, Any]]:
    """Every product matching ``odata_filter``, page by page (``@odata.nextLink``).

    A next link is followed only on the catalogue's own host.
    """
    session = session or new_session()
    policy = policy or RetryPolicy()
    url: str | None = f"{catalogue_url.rstrip('/')}/Products"
    params: dict[str, str] | None = {"$filter": odata_filter, "$top": str(top)}
    host = urlparse(catalogue_url).hostname
    while url is not None:
        body = call_with_retries(
            functools.partial(_get_json, session, url, params, policy.timeout_s),
            policy=policy,
            what=what,
        )
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list):
            raise CatalogueError(
                f"{what} returned no 'value' list; check cdse.catalogue_url"
            )
        yield from values
        url, params = body.get("@odata.nextLink"), None
        if url is not None and urlparse(url).hostname != host:
            raise CatalogueError(
                f"{what}: the next page link points to another host "
                f"({urlparse(url).hostname}); check cdse.catalogue_url"
            )


def search_product(
    name: str,
    *,
    catalogue_url: str,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> CatalogueEntry:
    """Look up one product by exact name (with ``.SAFE``); exactly one match."""
    values = list(
        query_products(
            name_filter(name),
            catalogue_url=catalogue_url,
            session=session,
            policy=policy,
            what=f"catalogue search for {name}",
        )
    )
    if len(values) != 1:
        candidates = (
            ", ".join(f"{v.get('Name')} ({v.get('Id')})" for v in values[:10]) or "none"
        )
        raise CatalogueError(
            f"catalogue search for {name} gave {len(values)} matches, expected "
            f"exactly 1 (candidates: {candidates}); the product may have been "
            "deleted or re-processed (check the CDSE DeletedProducts endpoint) "
            "before freezing a new id"
        )
    entry = entry_from_json(values[0])
    if entry.name != name:
        raise CatalogueError(
            f"catalogue search for {name} returned {entry.name}; expected an "
            "exact name match"
        )
    return entry


def lookup_product_by_id(
    product_id: str,
    *,
    catalogue_url: str,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> CatalogueEntry | None:
    """The live catalogue entry of ``product_id``, or None if it is unknown."""
    session = session or new_session()
    policy = policy or RetryPolicy()
    url = f"{catalogue_url.rstrip('/')}/Products({product_id})"
    body = call_with_retries(
        lambda: _get_json(session, url, {}, policy.timeout_s),
        policy=policy,
        what=f"catalogue lookup of {product_id}",
    )
    if body is None:
        return None
    if isinstance(body, dict) and "value" in body and isinstance(body["value"], list):
        if len(body["value"]) != 1:
            return None
        body = body["value"][0]
    return entry_from_json(body)


def search_products(
    names: Sequence[str],
    *,
    catalogue_url: str,
    policy: RetryPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[CatalogueEntry]:
    """Search every name; collect all failures into one :class:`CatalogueError`."""
    session = new_session()
    entries: list[CatalogueEntry] = []
    failures: list[str] = []
    for done, name in enumerate(sorted(set(names)), start=1):
        try:
            entries.append(
                search_product(
                    name, catalogue_url=catalogue_url, session=session, policy=policy
                )
            )
        except CatalogueError as exc:
            failures.append(str(exc))
        if progress is not None:
            progress(done, len(names))
    if failures:
        raise CatalogueError(
            f"{len(failures)} of {len(names)} products did not resolve to exactly "
            "one CDSE product:\n" + "\n".join(failures)
        )
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise CatalogueError("two product names resolved to the same CDSE id")
    return sorted(entries, key=lambda e: e.name)


# ------------------------------------------------------------------ files
def _csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_tile_ids(entries: Sequence[CatalogueEntry], path: Path) -> None:
    """``tile,id`` sorted by tile, LF (the reference ``bigearthnet_s2_tile_ids.csv``)."""
    rows = sorted((e.name, e.id) for e in entries)
    atomic_write_text(path, _csv_text(("tile", "id"), rows))


def write_sidecar(entries: Sequence[CatalogueEntry], path: Path) -> None:
    """``tile,id,content_length,md5,online,blake3`` sorted by tile."""
    rows = sorted(
        (
            e.name,
            e.id,
            e.content_length,
            e.md5 or "",
            "true" if e.online else "false",
            e.blake3 or "",
        )
        for e in entries
    )
    atomic_write_text(path, _csv_text(SIDECAR_HEADER, rows))


def read_sidecar(path: Path) -> dict[str, CatalogueEntry]:
    """Sidecar rows keyed by CDSE id.

    Files from before the ``blake3`` column (header ``SIDECAR_HEADER_V1``)
    are read with an empty BLAKE3, so they verify with MD5.
    """
    out: dict[str, CatalogueEntry] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) not in (SIDECAR_HEADER, SIDECAR_HEADER_V1):
            raise InputDataError(
                f"{path}: header {reader.fieldnames}, expected {list(SIDECAR_HEADER)} "
                f"(or the older {list(SIDECAR_HEADER_V1)}); regenerate it with "
                "search_cdse + freeze_tile_ids"
            )
        for row in reader:
            out[row["id"]] = CatalogueEntry(
                name=row["tile"],
                id=row["id"],
                content_length=int(row["content_length"] or 0),
                md5=(row["md5"] or "").lower() or None,
                online=row["online"] == "true",
                blake3=(row.get("blake3") or "").lower() or None,
            )
    return out


def _sidecar_as_pairs(path: Path, out: Path) -> None:
    """Rewrite a sidecar as ``tile,<id len md5 online blake3>`` for the keyed diff."""
    entries = read_sidecar(path)
    rows = sorted(
        (
            e.name,
            f"{e.id} {e.content_length} {e.md5 or '-'} {e.online} {e.blake3 or '-'}",
        )
        for e in entries.values()
    )
    atomic_write_text(out, _csv_text(("tile", "record"), rows))


def search_cdse(
    names_file: Path,
    *,
    catalogue_url: str,
    out_tile_ids: Path,
    out_catalogue: Path,
    out_diff: Path,
    tracked_dir: Path,
    policy: RetryPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[CatalogueEntry]:
    """Resolve every name of ``names_file`` and write the three search outputs."""
    from benpipe.l1c.product_list import read_names_file

    names = read_names_file(names_file)
    logger.info("searching %d products at %s", len(names), catalogue_url)
    entries = search_products(
        names, catalogue_url=catalogue_url, policy=policy, progress=progress
    )
    write_tile_ids(entries, out_tile_ids)
    write_sidecar(entries, out_catalogue)
    offline = [e.name for e in entries if not e.online]
    tracked_dir = Path(tracked_dir)
    sections = [
        "# CDSE search compared with the tracked copies",
        "",
        f"{len(entries)} products resolved; {len(offline)} offline"
        + (f": {', '.join(offline)}" if offline else "")
        + ".",
        "",
        "If anything differs, the CDSE sources changed and the dataset will",
        "probably differ too. Review, then run the freeze_tile_ids target.",
        "",
        diff_keyed_csv(
            out_tile_ids,
            tracked_dir / "bigearthnet_s2_tile_ids.csv",
            title="bigearthnet_s2_tile_ids.csv",
        ),
    ]
    tracked_sidecar = tracked_dir / "cdse_catalogue.csv"
    if tracked_sidecar.exists():
        tmp_new = out_diff.with_name(f".{out_diff.name}.new.csv")
        tmp_old = out_diff.with_name(f".{out_diff.name}.old.csv")
        try:
            _sidecar_as_pairs(out_catalogue, tmp_new)
            _sidecar_as_pairs(tracked_sidecar, tmp_old)
            section = diff_keyed_csv(tmp_new, tmp_old, title="cdse_catalogue.csv")
        finally:
            tmp_new.unlink(missing_ok=True)
            tmp_old.unlink(missing_ok=True)
        sections.append(section.replace(str(tmp_old), str(tracked_sidecar)))
    else:
        sections.append(
            diff_keyed_csv(out_catalogue, tracked_sidecar, title="cdse_catalogue.csv")
        )
    atomic_write_text(out_diff, "\n".join(sections))
    return entries
