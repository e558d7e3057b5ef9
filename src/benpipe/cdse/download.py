"""CDSE product download: resumable, bounded retries, verified, atomic.

``Downloader.download(id, dest)`` fetches ``{download_url}/Products(<id>)/$value``:

* bytes go to ``<dest>.part``; an existing ``.part`` is resumed with an HTTP
  ``Range`` request (a server that ignores it restarts from zero), and only a
  complete, verified file is renamed to ``dest`` (``os.replace``);
* 429 (honouring ``Retry-After``), 5xx, timeouts, connection resets and
  truncated bodies (checked against ``Content-Length``/``Content-Range``) are
  retried with exponential backoff and jitter, at most ``max_attempts`` times;
* a 401 triggers a token refresh, then one new password grant, then an
  :class:`AuthenticationError` (these renewals do not count as attempts);
* redirects are followed by hand so the ``Authorization`` header survives the
  catalogue → download host hop (``requests`` drops it across hosts) but is
  only ever sent to the configured CDSE hosts, their sibling hosts (same parent
  domain, e.g. ``*.dataspace.copernicus.eu``) or loopback;
* the bytes are hashed while they stream (a resumed ``.part`` prefix is
  hashed from disk first) and checked against the frozen sidecar or, when it
  has no checksum for the id, the live catalogue: BLAKE3 when the entry has
  one (~10x cheaper than MD5), else MD5, else no check (logged); on a
  mismatch the file is deleted and downloaded once more, then
  :class:`ChecksumMismatchError` naming the algorithm and both values;
* an offline product (``Online: false``) raises :class:`ProductUnavailableError`.
"""

from __future__ import annotations

import csv
import fcntl
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
from benpipe.cdse.retry import RetryPolicy, parse_retry_after
from benpipe.errors import (
    AuthenticationError,
    BenpipeError,
    CatalogueError,
    ChecksumMismatchError,
    DownloadError,
    ProductUnavailableError,
    QuotaExceededError,
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


class _Retryable(Exception):
    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after_s = retry_after_s


class _Unauthorized(Exception):
    pass


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    if not value:
        return None
    match = _CONTENT_RANGE_RE.match(value.strip())
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


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
        )
        self.chunk_bytes = chunk_bytes
        self._trusted = settings.trusted_hosts()

    # -- HTTP
    def _get(
        self, session: requests.Session, url: str, headers: dict[str, str]
    ) -> requests.Response:
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
        self,
        session: requests.Session,
        url: str,
        token: str,
        part: Path,
        label: str,
        stats: DownloadStats,
        progress: Callable[[int, int], None] | None,
        algorithm: str | None,
    ) -> tuple[str | None, int]:
        """One GET; returns (hex digest with ``algorithm`` or None, size)."""
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Authorization": f"Bearer {token}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = self._get(session, url, headers)
        except requests.RequestException as exc:
            raise _Retryable(exc.__class__.__name__) from exc
        with resp:
            status = resp.status_code
            stats.statuses.append(status)
            if status == 401:
                raise _Unauthorized()
            if status == 416 and offset:
                cr = _parse_content_range(resp.headers.get("Content-Range"))
                total = cr[2] if cr else None
                if total is None:
                    match = re.match(
                        r"bytes \*/(\d+)", resp.headers.get("Content-Range", "")
                    )
                    total = int(match.group(1)) if match else None
                if total == offset:
                    return (hash_file(part, algorithm) if algorithm else None), offset
                part.unlink(missing_ok=True)
                raise _Retryable("HTTP 416 (stale partial file discarded)", status=416)
            if status == 429 or status >= 500:
                raise _Retryable(
                    f"HTTP {status}",
                    status=status,
                    retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
                )
            if status == 404:
                raise ProductUnavailableError(
                    f"{label}: the download service does not know this id (HTTP "
                    "404); the product may have been deleted; rerun search_cdse "
                    "and review the diff"
                )
            if status in (409, 422):
                raise ProductUnavailableError(
                    f"{label}: the download service refused it (HTTP {status}: "
                    f"{resp.text[:200]!r}); {_OFFLINE_HELP}"
                )
            if status == 403:
                raise AuthenticationError(
                    f"{label}: access forbidden (HTTP 403: {resp.text[:200]!r}); "
                    "check that the account may download this product"
                )
            if status not in (200, 206):
                raise DownloadError(
                    f"{label}: unexpected HTTP {status} from the download service",
                    status_code=status,
                )
            hasher = _new_hasher(algorithm) if algorithm else None
            if status == 206:
                cr = _parse_content_range(resp.headers.get("Content-Range"))
                if cr is None or cr[0] != offset:
                    part.unlink(missing_ok=True)
                    raise _Retryable("unexpected Content-Range; restarting", status=206)
                total = cr[2]
                mode = "ab"
                if hasher is not None:
                    _update_from_file(hasher, part)
                if stats.resumed_from == 0:
                    stats.resumed_from = offset
                logger.info("%s: resuming at byte %d", label, offset)
            else:
                if offset:
                    logger.info("%s: server ignored Range; restarting at byte 0", label)
                offset = 0
                total = None
                mode = "wb"
            length_header = resp.headers.get("Content-Length")
            length = (
                int(length_header)
                if length_header and length_header.isdigit()
                else None
            )
            if total is None and length is not None:
                total = offset + length
            received = 0
            with open(part, mode) as out:
                for chunk in self._chunks(resp, offset):
                    out.write(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    received += len(chunk)
                    stats.bytes_transferred += len(chunk)
                    if progress is not None and total:
                        progress(offset + received, total)
            size = offset + received
            if (length is not None and received < length) or (
                total is not None and size < total
            ):
                raise _Retryable(f"truncated body ({size} of {total} bytes)")
            if total is not None and size > total:
                part.unlink(missing_ok=True)
                raise _Retryable(
                    f"body longer than announced ({size} > {total}); restarting"
                )
            return (str(hasher.hexdigest()) if hasher is not None else None), size

    def _chunks(
        self, resp: requests.Response, offset: int
    ) -> Iterator[memoryview | bytes]:
        """Body chunks; network errors become :class:`_Retryable`.

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
            raise _Retryable(
                f"stream interrupted at byte {offset + received} "
                f"({exc.__class__.__name__})"
            ) from exc

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
        checksum).
        ``stats`` is filled in as the download goes, also when it fails.
        """
        with requests.Session() as session:
            return self._download(
                session,
                product_id,
                dest,
                name=name,
                expected=expected,
                check_catalogue=check_catalogue,
                progress=progress,
                stats=stats,
            )

    def _download(
        self,
        session: requests.Session,
        product_id: str,
        dest: Path,
        *,
        name: str | None,
        expected: CatalogueEntry | None,
        check_catalogue: bool,
        progress: Callable[[int, int], None] | None,
        stats: DownloadStats | None,
    ) -> DownloadResult:
        started = time.monotonic()
        stats = stats if stats is not None else DownloadStats()
        label = f"{name or 'product'} ({product_id})"
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        live: CatalogueEntry | None = None
        if check_catalogue:
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
        checksum = choose_checksum(label, expected, live)
        algorithm, expected_hex = checksum if checksum else (None, None)
        if algorithm:
            logger.info("%s: verifying with %s %s", label, algorithm, expected_hex)
        elif not check_catalogue:
            logger.info(
                "%s: no frozen checksum and no catalogue lookup: not verified", label
            )
        else:
            logger.warning(
                "%s: the catalogue has no MD5 or BLAKE3 checksum; the download "
                "is not verified",
                label,
            )
        if part.exists():
            logger.info(
                "%s: found partial file %s (%d bytes)", label, part, part.stat().st_size
            )
        url = f"{self.settings.download_url.rstrip('/')}/Products({product_id})/$value"
        token = self.tokens.get_token()
        consecutive_401 = 0
        redownloaded = False
        last: _Retryable | None = None
        while True:
            if stats.attempts >= self.policy.max_attempts:
                message = (
                    f"{label}: download failed after {stats.attempts} attempts "
                    f"(last: {last}); the partial file {part.name} is kept and a "
                    "rerun resumes it; if this persists, contact CDSE support"
                )
                if last is not None and last.status == 429:
                    raise QuotaExceededError(message) from last
                raise DownloadError(
                    message, status_code=last.status if last else None
                ) from last
            stats.attempts += 1
            try:
                digest, size = self._attempt(
                    session, url, token, part, label, stats, progress, algorithm
                )
            except _Unauthorized:
                stats.attempts -= 1
                consecutive_401 += 1
                stats.auth_renewals += 1
                if consecutive_401 == 1:
                    logger.info("%s: token rejected (401); refreshing", label)
                    token = self.tokens.renew(token)
                elif consecutive_401 == 2:
                    logger.info("%s: token rejected again; logging in again", label)
                    token = self.tokens.renew(token, force_login=True)
                else:
                    raise AuthenticationError(
                        f"{label}: the download service rejected a fresh token "
                        "(HTTP 401 after refresh and a new login); check the "
                        "account and cdse.download_url"
                    ) from None
                continue
            except _Retryable as exc:
                consecutive_401 = 0
                last = exc
                if stats.attempts < self.policy.max_attempts:
                    delay = self.policy.delay_s(stats.attempts, exc.retry_after_s)
                    logger.warning(
                        "%s: attempt %d/%d failed (%s); retrying in %.1f s",
                        label,
                        stats.attempts,
                        self.policy.max_attempts,
                        exc,
                        delay,
                    )
                    time.sleep(delay)
                continue
            consecutive_401 = 0
            if expected_hex and digest != expected_hex.lower():
                part.unlink(missing_ok=True)
                if not redownloaded:
                    redownloaded = True
                    stats.checksum_redownloads += 1
                    logger.warning(
                        "%s: %s %s does not match the catalogue %s; deleted, "
                        "downloading once more",
                        label,
                        algorithm,
                        digest,
                        expected_hex,
                    )
                    continue
                raise ChecksumMismatchError(
                    f"{label}: {algorithm} {digest} of the downloaded bytes "
                    f"differs from the catalogue {algorithm} {expected_hex} twice; "
                    "the file was deleted. If CDSE re-packaged the product, rerun "
                    "search_cdse, review diff.md and freeze_tile_ids; otherwise "
                    "contact CDSE support"
                )
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
    MD5) and keeps ``error_csv`` up to date.
    """
    expected = None
    if tracked_catalogue is not None and Path(tracked_catalogue).exists():
        expected = read_sidecar(Path(tracked_catalogue)).get(product_id)
        if expected is not None and expected.name.removesuffix(".SAFE") != name:
            raise CatalogueError(
                f"{tracked_catalogue} maps id {product_id} to {expected.name}, "
                f"not {name}.SAFE; re-freeze with search_cdse + freeze_tile_ids"
            )
    stats = DownloadStats()
    try:
        result = (downloader or Downloader(settings)).download(
            product_id,
            dest,
            name=name,
            expected=expected,
            progress=progress,
            stats=stats,
        )
    except BenpipeError as exc:
        if error_csv is not None:
            record_outcome(
                error_csv,
                product=name,
                product_id=product_id,
                error=f"{exc.__class__.__name__}: {exc}",
                attempts=stats.attempts,
            )
        raise
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
