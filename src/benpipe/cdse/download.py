"""CDSE product download: resumable, bounded retries, verified, atomic.

``Downloader.download(id, dest)`` fetches ``{download_url}/Products(<id>)/$value``:

* bytes go to ``<dest>.part``; an existing ``.part`` is resumed with an HTTP
  ``Range`` request (a server that ignores it restarts from zero), and only a
  complete, verified file is renamed to ``dest`` (``os.replace``);
* 429 (honouring ``Retry-After``), 5xx, timeouts, connection resets and
  truncated bodies (checked against ``Content-Length``/``Content-Range``) are
  retried with exponential backoff and jitter, at most ``max_attempts`` times
  (:func:`benpipe.cdse.retry.call_with_retries`, the one retry loop);
* a 401 triggers a token refresh, then one new password grant, then an
  :class:`AuthenticationError` (these renewals do not count as attempts);
* redirects are followed by hand so the ``Authorization`` header survives the
  catalogue → download host hop (CDSE answers ``301``; ``requests`` drops the
  header across hosts) but is only ever sent to the configured CDSE hosts,
  their sibling hosts (same parent domain, e.g. ``*.dataspace.copernicus.eu``)
  or loopback; the session never adds ``~/.netrc`` credentials
  (:mod:`benpipe.cdse.session`);
* the bytes are hashed while they stream (a resumed ``.part`` prefix is
  hashed from disk first) and checked against the frozen sidecar or, when it
  has no checksum for the id, the live catalogue: BLAKE3 when the entry has
  one (~10x cheaper than MD5), else MD5, else no check (logged); on a
  mismatch the file is deleted and downloaded once more (a new budget of
  attempts), then
  :class:`ChecksumMismatchError` naming the algorithm and both values;
* an offline product (``Online: false``) raises :class:`ProductUnavailableError`.
"""

from __future__ import annotations

import csv
import fcntl
import functools
import hashlib
import http.client
import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import blake3
import requests

from benpipe.cdse.auth import TokenManager
from benpipe.cdse.catalogue import (
    CHECKSUM_ALGORITHMS,
    CatalogueEntry,
    lookup_product_by_id,
    read_sidecar,
)
from benpipe.cdse.retry import (
    RetryPolicy,
    TransientError,
    call_with_retries,
    is_transient,
)
from benpipe.cdse.session import new_session
from benpipe.errors import (
    AuthenticationError,
    BenpipeError,
    CatalogueError,
    ChecksumMismatchError,
    DownloadError,
    ProductUnavailableError,
)
from benpipe.fileio import atomic_write_text

logger = logging.getLogger(__name__)

#: Bump when the bytes of download outputs change (they do not: zips are as served).
ALGORITHM_VERSION = 1

CHUNK_BYTES = 1 << 20
_REDIRECTS = (301, 302, 303, 307, 308)
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_OFFLINE_HELP = (
    "it is offline (Deferred Available Data); order it in the CDSE Data "
    "Workspace (https://dataspace.copernicus.eu/browser), wait until it is "
    "online, then rerun"
)

ERROR_CSV_HEADER = ("product", "id", "error", "attempts")


@dataclass(frozen=True, slots=True)
class CdseSettings:
    """The ``cdse:`` config section (no credentials: they are looked up lazily)."""

    catalogue_url: str
    download_url: str
    token_url: str
    client_id: str = "cdse-public"
    netrc: Path | None = None
    max_attempts: int = 8
    backoff_initial_s: float = 2.0
    backoff_max_s: float = 120.0
    timeout_s: float = 120.0

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            timeout_s=self.timeout_s,
        )

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> CdseSettings:
        """Build from a ``cdse`` config mapping (or rule params of the same keys)."""
        netrc = cfg.get("netrc")
        return cls(
            catalogue_url=str(cfg["catalogue_url"]),
            download_url=str(cfg["download_url"]),
            token_url=str(cfg["token_url"]),
            client_id=str(cfg.get("client_id") or "cdse-public"),
            netrc=Path(netrc) if netrc else None,
            max_attempts=int(cfg.get("max_attempts", 8)),
            backoff_initial_s=float(cfg.get("backoff_initial_s", 2.0)),
            backoff_max_s=float(cfg.get("backoff_max_s", 120.0)),
            timeout_s=float(cfg.get("timeout_s", 120.0)),
        )

    def trusted_hosts(self) -> set[str]:
        urls = (self.catalogue_url, self.download_url, self.token_url)
        return {h for u in urls if (h := urlparse(u).hostname)}


def _new_hasher(algorithm: str) -> Any:
    """An incremental hasher for a catalogue algorithm name."""
    if algorithm == "BLAKE3":
        return blake3.blake3()
    if algorithm == "MD5":
        return hashlib.md5()  # noqa: S324 (integrity check, not security)
    raise ValueError(f"unsupported checksum algorithm {algorithm!r}")


def _update_from_file(hasher: Any, path: Path) -> None:
    with open(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            hasher.update(chunk)


def hash_file(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` with ``algorithm`` (``BLAKE3`` or ``MD5``)."""
    hasher = _new_hasher(algorithm)
    _update_from_file(hasher, path)
    return str(hasher.hexdigest())


def choose_checksum(
    label: str, frozen: CatalogueEntry | None, live: CatalogueEntry | None
) -> tuple[str, str] | None:
    """``(algorithm, expected hex)`` to verify ``label`` with, or None.

    The frozen sidecar row wins when it has a checksum, else the live
    catalogue entry; within an entry BLAKE3 is preferred over MD5.  A live
    value that differs from the frozen one of the same algorithm is logged
    (CDSE changed the product since the freeze).
    """
    if frozen is not None and (chosen := frozen.preferred_checksum()) is not None:
        if live is not None:
            for algorithm in CHECKSUM_ALGORITHMS:
                old, new = frozen.checksum(algorithm), live.checksum(algorithm)
                if old and new and old != new:
                    logger.warning(
                        "%s: catalogue %s %s differs from the frozen %s; CDSE "
                        "changed the product since the freeze",
                        label,
                        algorithm,
                        new,
                        old,
                    )
        return chosen
    return live.preferred_checksum() if live is not None else None


@dataclass
class DownloadStats:
    """Counters of one download, filled in as it goes (also on failure)."""

    attempts: int = 0
    bytes_transferred: int = 0
    resumed_from: int = 0
    auth_renewals: int = 0
    checksum_redownloads: int = 0
    statuses: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """A finished, verified download.

    ``checksum_algorithm`` (``BLAKE3``/``MD5``) and ``checksum`` (hex) are the
    verified digest, both None when the catalogue offered no checksum.
    """

    product_id: str
    name: str
    path: Path
    size_bytes: int
    checksum_algorithm: str | None
    checksum: str | None
    attempts: int
    bytes_transferred: int
    resumed_from: int
    elapsed_s: float


class _Unauthorized(Exception):
    """The download service answered 401 (internal)."""


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    if not value:
        return None
    match = _CONTENT_RANGE_RE.match(value.strip())
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


def _unsatisfied_total(value: str | None) -> int | None:
    """The size in a 416 answer's ``Content-Range: bytes */<size>``."""
    match = re.match(r"bytes \*/(\d+)", value or "")
    return int(match.group(1)) if match else None


def is_trusted_redirect(src: str, dst: str, trusted_hosts: set[str]) -> bool:
    """Whether the bearer token may follow a redirect from ``src`` to ``dst``."""
    s, d = urlparse(src), urlparse(dst)
    if s.scheme == "https" and d.scheme != "https":
        return False
    host = d.hostname or ""
    if host in trusted_hosts:
        return True
    if host in _LOOPBACK and (s.hostname or "") in _LOOPBACK:
        return True
    for trusted in trusted_hosts:
        labels = trusted.split(".")
        if len(labels) >= 3 and host.endswith("." + ".".join(labels[1:])):
            return d.scheme == "https"
    return False


@dataclass
class _Transfer:
    """One download in progress: its URL, partial file, checksum and token."""

    url: str
    part: Path
    label: str
    stats: DownloadStats
    progress: Callable[[int, int], None] | None
    algorithm: str | None
    token: str

    def count_attempt(self, attempt: int) -> None:
        self.stats.attempts += 1


class Downloader:
    """Downloads CDSE products by id; share one instance across threads."""

    def __init__(
        self,
        settings: CdseSettings,
        *,
        token_manager: TokenManager | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.settings = settings
        self.policy = settings.policy
        self.tokens = token_manager or TokenManager(
            settings.token_url,
            client_id=settings.client_id,
            netrc_path=settings.netrc,
            timeout_s=settings.timeout_s,
            policy=settings.policy,
        )
        self.chunk_bytes = chunk_bytes
        self._trusted = settings.trusted_hosts()

    # -- public
    def download(
        self,
        product_id: str,
        dest: Path,
        *,
        name: str | None = None,
        expected: CatalogueEntry | None = None,
        check_catalogue: bool = True,
        progress: Callable[[int, int], None] | None = None,
        stats: DownloadStats | None = None,
    ) -> DownloadResult:
        """Download one product to ``dest`` (see the module docstring).

        ``expected`` (a frozen sidecar row) gives the checksum to verify;
        without one the live catalogue's is used (BLAKE3 preferred over MD5,
        see :func:`choose_checksum`).  ``check_catalogue=False`` skips the live
        lookup (no offline check, no verification unless ``expected`` has a
        checksum).  ``progress(done, total)`` is called as bytes arrive.
        ``stats`` is filled in as the download goes, also when it fails.
        """
        started = time.monotonic()
        stats = stats if stats is not None else DownloadStats()
        label = f"{name or 'product'} ({product_id})"
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        with new_session() as session:
            live = (
                self._live_entry(session, product_id, label)
                if check_catalogue
                else None
            )
            algorithm, expected_hex = self._checksum_plan(
                label, expected, live, check_catalogue
            )
            if part.exists():
                logger.info(
                    "%s: found partial file %s (%d bytes)",
                    label,
                    part,
                    part.stat().st_size,
                )
            transfer = _Transfer(
                url=f"{self.settings.download_url.rstrip('/')}/Products({product_id})/$value",
                part=part,
                label=label,
                stats=stats,
                progress=progress,
                algorithm=algorithm,
                token=self.tokens.get_token(),
            )
            digest, size = self._fetch_verified(session, transfer, expected_hex)
        os.replace(part, dest)
        elapsed = time.monotonic() - started
        logger.info(
            "%s: %d bytes in %.1f s (%d attempts, %d transferred, %s)",
            label,
            size,
            elapsed,
            stats.attempts,
            stats.bytes_transferred,
            f"{algorithm} verified" if algorithm else "not verified",
        )
        return DownloadResult(
            product_id=product_id,
            name=name or product_id,
            path=dest,
            size_bytes=size,
            checksum_algorithm=algorithm,
            checksum=digest,
            attempts=stats.attempts,
            bytes_transferred=stats.bytes_transferred,
            resumed_from=stats.resumed_from,
            elapsed_s=elapsed,
        )

    # -- the steps of a download
    def _live_entry(
        self, session: requests.Session, product_id: str, label: str
    ) -> CatalogueEntry:
        """The live catalogue entry; unknown or offline products fail here."""
        live = lookup_product_by_id(
            product_id,
            catalogue_url=self.settings.catalogue_url,
            session=session,
            policy=self.policy,
        )
        if live is None:
            raise ProductUnavailableError(
                f"{label} is not in the CDSE catalogue (deleted or "
                "re-processed?); rerun search_cdse and review its diff.md"
            )
        if not live.online:
            raise ProductUnavailableError(f"{label}: {_OFFLINE_HELP}")
        return live

    @staticmethod
    def _checksum_plan(
        label: str,
        expected: CatalogueEntry | None,
        live: CatalogueEntry | None,
        check_catalogue: bool,
    ) -> tuple[str | None, str | None]:
        """``(algorithm, expected hex)`` to verify with, logged; ``(None, None)`` if none."""
        checksum = choose_checksum(label, expected, live)
        if checksum:
            logger.info("%s: verifying with %s %s", label, *checksum)
            return checksum
        if not check_catalogue:
            logger.info(
                "%s: no frozen checksum and no catalogue lookup: not verified", label
            )
        else:
            logger.warning(
                "%s: the catalogue has no MD5 or BLAKE3 checksum; the download "
                "is not verified",
                label,
            )
        return None, None

    def _fetch_verified(
        self, session: requests.Session, t: _Transfer, expected_hex: str | None
    ) -> tuple[str | None, int]:
        """Download into ``t.part`` until its bytes match ``expected_hex`` (two rounds)."""
        for round_ in (1, 2):
            digest, size = call_with_retries(
                functools.partial(self._attempt_authorised, session, t),
                policy=self.policy,
                what=f"{t.label}: download",
                advice=(
                    f"the partial file {t.part.name} is kept and a rerun resumes "
                    "it; if this persists, contact CDSE support"
                ),
                on_attempt=t.count_attempt,
            )
            if not expected_hex or digest == expected_hex.lower():
                return digest, size
            t.part.unlink(missing_ok=True)
            if round_ == 1:
                t.stats.checksum_redownloads += 1
                logger.warning(
                    "%s: %s %s does not match the catalogue %s; deleted, "
                    "downloading once more",
                    t.label,
                    t.algorithm,
                    digest,
                    expected_hex,
                )
        raise ChecksumMismatchError(
            f"{t.label}: {t.algorithm} {digest} of the downloaded bytes "
            f"differs from the catalogue {t.algorithm} {expected_hex} twice; "
            "the file was deleted. If CDSE re-packaged the product, rerun "
            "search_cdse, review diff.md and freeze_tile_ids; otherwise "
            "contact CDSE support"
        )

    def _attempt_authorised(
        self, session: requests.Session, t: _Transfer
    ) -> tuple[str | None, int]:
        """One attempt; a 401 refreshes the token, a second one logs in again."""
        for renewal in range(3):
            try:
                return self._attempt(session, t)
            except _Unauthorized:
                if renewal == 2:
                    break
                t.stats.auth_renewals += 1
                if renewal == 0:
                    logger.info("%s: token rejected (401); refreshing", t.label)
                else:
                    logger.info("%s: token rejected again; logging in again", t.label)
                t.token = self.tokens.renew(t.token, force_login=renewal == 1)
        raise AuthenticationError(
            f"{t.label}: the download service rejected a fresh token "
            "(HTTP 401 after refresh and a new login); check the "
            "account and cdse.download_url"
        )

    def _get(
        self, session: requests.Session, url: str, headers: dict[str, str]
    ) -> requests.Response:
        """GET, following redirects by hand so the token survives trusted hops."""
        hdrs = dict(headers)
        for _ in range(6):
            resp = session.get(
                url,
                headers=hdrs,
                stream=True,
                allow_redirects=False,
                timeout=(self.policy.timeout_s, self.policy.timeout_s),
            )
            location = resp.headers.get("Location")
            if resp.status_code not in _REDIRECTS or not location:
                return resp
            resp.close()
            target = urljoin(url, location)
            if "Authorization" in hdrs and not is_trusted_redirect(
                url, target, self._trusted
            ):
                logger.warning(
                    "redirect to untrusted host %s: not forwarding the token",
                    urlparse(target).hostname,
                )
                hdrs.pop("Authorization")
            logger.debug("redirected to host %s", urlparse(target).hostname)
            url = target
        raise DownloadError(f"too many redirects fetching {url.split('?')[0]}")

    def _attempt(
        self, session: requests.Session, t: _Transfer
    ) -> tuple[str | None, int]:
        """One GET (resuming ``t.part``); returns (hex digest or None, size)."""
        offset = t.part.stat().st_size if t.part.exists() else 0
        headers = {"Authorization": f"Bearer {t.token}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = self._get(session, t.url, headers)
        except requests.RequestException as exc:
            raise TransientError(exc.__class__.__name__) from exc
        with resp:
            t.stats.statuses.append(resp.status_code)
            complete = self._check_answer(resp, t, offset)
            if complete is not None:
                return complete
            return self._receive(resp, t, offset)

    def _check_answer(
        self, resp: requests.Response, t: _Transfer, offset: int
    ) -> tuple[str | None, int] | None:
        """Raise for an answer without the bytes; a (digest, size) if already complete."""
        status = resp.status_code
        if status in (200, 206):
            return None
        if status == 401:
            raise _Unauthorized()
        if status == 416 and offset:
            cr = _parse_content_range(resp.headers.get("Content-Range"))
            total = (
                cr[2] if cr else _unsatisfied_total(resp.headers.get("Content-Range"))
            )
            if total == offset:
                return (hash_file(t.part, t.algorithm) if t.algorithm else None), offset
            t.part.unlink(missing_ok=True)
            raise TransientError("HTTP 416 (stale partial file discarded)", status=416)
        if is_transient(status):
            raise TransientError.from_response(resp)
        if status == 404:
            raise ProductUnavailableError(
                f"{t.label}: the download service does not know this id (HTTP "
                "404); the product may have been deleted; rerun search_cdse "
                "and review the diff"
            )
        if status in (409, 422):
            raise ProductUnavailableError(
                f"{t.label}: the download service refused it (HTTP {status}: "
                f"{resp.text[:200]!r}); {_OFFLINE_HELP}"
            )
        if status == 403:
            raise AuthenticationError(
                f"{t.label}: access forbidden (HTTP 403: {resp.text[:200]!r}); "
                "check that the account may download this product"
            )
        raise DownloadError(
            f"{t.label}: unexpected HTTP {status} from the download service",
            status_code=status,
        )

    def _start_point(
        self, resp: requests.Response, t: _Transfer, offset: int
    ) -> tuple[int, int | None, str, Any]:
        """(offset, total size or None, file mode, hasher) for a 200 or 206 answer."""
        hasher = _new_hasher(t.algorithm) if t.algorithm else None
        total: int | None = None
        if resp.status_code == 206:
            cr = _parse_content_range(resp.headers.get("Content-Range"))
            if cr is None or cr[0] != offset:
                t.part.unlink(missing_ok=True)
                raise TransientError("unexpected Content-Range; restarting", status=206)
            total = cr[2]
            if hasher is not None:
                _update_from_file(hasher, t.part)
            if t.stats.resumed_from == 0:
                t.stats.resumed_from = offset
            logger.info("%s: resuming at byte %d", t.label, offset)
            mode = "ab"
        else:
            if offset:
                logger.info("%s: server ignored Range; restarting at byte 0", t.label)
            offset, mode = 0, "wb"
        length_header = resp.headers.get("Content-Length")
        if total is None and length_header and length_header.isdigit():
            total = offset + int(length_header)
        return offset, total, mode, hasher

    def _receive(
        self, resp: requests.Response, t: _Transfer, offset: int
    ) -> tuple[str | None, int]:
        """Write the body to ``t.part`` while hashing it; check its length."""
        offset, total, mode, hasher = self._start_point(resp, t, offset)
        received = 0
        with open(t.part, mode) as out:
            for chunk in self._chunks(resp, offset):
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                received += len(chunk)
                t.stats.bytes_transferred += len(chunk)
                if t.progress is not None and total:
                    t.progress(offset + received, total)
        size = offset + received
        if total is not None and size < total:
            raise TransientError(f"truncated body ({size} of {total} bytes)")
        if total is not None and size > total:
            t.part.unlink(missing_ok=True)
            raise TransientError(
                f"body longer than announced ({size} > {total}); restarting"
            )
        return (str(hasher.hexdigest()) if hasher is not None else None), size

    def _chunks(
        self, resp: requests.Response, offset: int
    ) -> Iterator[memoryview | bytes]:
        """Body chunks; network errors become :class:`TransientError`.

        Fast path: ``readinto`` a reused buffer straight from the underlying
        ``http.client`` response (no per-chunk allocation); falls back to
        ``iter_content`` when the body is content-encoded or the urllib3
        internals differ.
        """
        fp = getattr(resp.raw, "_fp", None)
        fast = (
            fp is not None
            and hasattr(fp, "readinto")
            and not resp.headers.get("Content-Encoding")
        )
        received = 0
        try:
            if fast and fp is not None:
                buf = bytearray(self.chunk_bytes)
                view = memoryview(buf)
                while n := fp.readinto(view):
                    received += n
                    yield view[:n]
            else:
                for chunk in resp.iter_content(self.chunk_bytes):
                    received += len(chunk)
                    yield chunk
        except (requests.RequestException, OSError, http.client.HTTPException) as exc:
            raise TransientError(
                f"stream interrupted at byte {offset + received} "
                f"({exc.__class__.__name__})"
            ) from exc


# ------------------------------------------------------------------ error CSV
def record_outcome(
    error_csv: Path, *, product: str, product_id: str, error: str | None, attempts: int
) -> None:
    """Upsert (``error``) or remove (``None``) the product's row of the error CSV.

    ``product,id,error,attempts`` sorted by product; safe across concurrent
    jobs (``flock`` on a sibling lock file).
    """
    error_csv = Path(error_csv)
    if error is None and not error_csv.exists():
        return
    error_csv.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(
        error_csv.with_name(error_csv.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        rows: dict[str, tuple[str, str, str, str]] = {}
        if error_csv.exists():
            with open(error_csv, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    rows[row["product"]] = (
                        row["product"],
                        row["id"],
                        row["error"],
                        row["attempts"],
                    )
        if error is None:
            if product not in rows:
                return
            rows.pop(product)
        else:
            flat = " ".join(error.split())
            rows[product] = (product, product_id, flat, str(attempts))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(ERROR_CSV_HEADER)
        writer.writerows(rows[k] for k in sorted(rows))
        atomic_write_text(error_csv, buffer.getvalue())
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _frozen_entry(
    tracked_catalogue: Path | None, name: str, product_id: str
) -> CatalogueEntry | None:
    """The frozen sidecar row of ``product_id``; its name must be ``name``."""
    if tracked_catalogue is None or not Path(tracked_catalogue).exists():
        return None
    expected = read_sidecar(Path(tracked_catalogue)).get(product_id)
    if expected is not None and expected.name.removesuffix(".SAFE") != name:
        raise CatalogueError(
            f"{tracked_catalogue} maps id {product_id} to {expected.name}, "
            f"not {name}.SAFE; re-freeze with search_cdse + freeze_tile_ids"
        )
    return expected


def fetch_l1c(
    name: str,
    product_id: str,
    dest: Path,
    *,
    settings: CdseSettings,
    tracked_catalogue: Path | None = None,
    error_csv: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    downloader: Downloader | None = None,
) -> DownloadResult:
    """Download one L1C product (``name`` without ``.SAFE``) for the pipeline.

    Verifies against the frozen sidecar ``tracked_catalogue`` when it lists
    the id with a checksum (else the live catalogue's; BLAKE3 preferred over
    MD5) and keeps ``error_csv`` up to date: every failure is recorded, also
    a local one (a full disk, a permission error) which is raised as a
    :class:`DownloadError` naming the product and the folder.
    """
    stats = DownloadStats()
    try:
        result = (downloader or Downloader(settings)).download(
            product_id,
            dest,
            name=name,
            expected=_frozen_entry(tracked_catalogue, name, product_id),
            progress=progress,
            stats=stats,
        )
    except Exception as exc:
        failure: Exception = exc
        if isinstance(exc, OSError) and not isinstance(exc, BenpipeError):
            failure = DownloadError(
                f"{name} ({product_id}): writing {Path(dest).name} failed "
                f"({exc.__class__.__name__}: {exc}); check free space and "
                f"permissions in {Path(dest).parent}, then rerun (a partial file "
                "is resumed)"
            )
        if error_csv is not None:
            record_outcome(
                error_csv,
                product=name,
                product_id=product_id,
                error=f"{failure.__class__.__name__}: {failure}",
                attempts=stats.attempts,
            )
        if failure is exc:
            raise
        raise failure from exc
    if error_csv is not None:
        record_outcome(
            error_csv,
            product=name,
            product_id=product_id,
            error=None,
            attempts=stats.attempts,
        )
    return result


def download_many(
    items: Sequence[tuple[str, str]],
    out_dir: Path,
    *,
    settings: CdseSettings,
    workers: int = 4,
    tracked_catalogue: Path | None = None,
    error_csv: Path | None = None,
    suffix: str = ".zip",
) -> list[DownloadResult | BenpipeError]:
    """Download ``(name, id)`` pairs into ``out_dir/<name><suffix>`` in parallel.

    One shared token manager; failures are returned (and recorded in
    ``error_csv``), not raised, so one bad product does not stop the rest.
    """
    downloader = Downloader(settings)

    def one(item: tuple[str, str]) -> DownloadResult | BenpipeError:
        name, pid = item
        try:
            return fetch_l1c(
                name,
                pid,
                Path(out_dir) / f"{name}{suffix}",
                settings=settings,
                tracked_catalogue=tracked_catalogue,
                error_csv=error_csv,
                downloader=downloader,
            )
        except BenpipeError as exc:
            logger.error("%s", exc)
            return exc

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, items))
