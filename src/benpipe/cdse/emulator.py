"""A local, offline CDSE emulator: token, OData catalogue and download endpoints.

Serves a demo world (``<root>/cdse/products/*.zip`` and
``<root>/cdse/catalogue.json``) on 127.0.0.1:

* ``POST /auth/realms/CDSE/protocol/openid-connect/token``: password and
  refresh_token grants (demo credentials ``demo`` / ``demo-password``);
  opaque tokens with ``expires_in`` / ``refresh_expires_in``;
* ``GET /odata/v1/Products?$filter=Name eq '<name>'`` (``$top``, ``$expand``)
  and ``GET /odata/v1/Products(<id>)``: anonymous catalogue;
* ``GET /odata/v1/Products(<id>)/$value`` and the same under ``/zipper``:
  downloads with ``Range`` (206, ``Content-Range``), 401 for a missing,
  unknown or expired token, 404 for an unknown id, 422 for an offline one.
  Bodies are streamed with ``sendfile``.

Faults are injected deterministically (see :data:`FAULT_HELP`); download
requests are counted globally, from 1, on the serving endpoint (redirect hops
are not counted).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click

from benpipe.cdse.world import DEMO_PASSWORD, DEMO_USERNAME
from benpipe.errors import ConfigError, InputDataError

logger = logging.getLogger(__name__)

FAULT_HELP = """\
Fault spec: comma-separated tokens, applied deterministically.
Download requests (serving endpoint only) are numbered 1, 2, 3... globally.

  429@N            answer request N with 429 and Retry-After (see retry-after)
  500@N 502@N 503@N 504@N   answer request N with that status
  cut@N            send half of the body of request N, then close the socket
  expire-token@N   expire every access token before request N (-> 401)
  bad-md5:NAME[*K] flip one byte in the first K full servings of product NAME
                   (default K=1; NAME with or without .SAFE): the served bytes
                   then match neither the catalogue MD5 nor its BLAKE3, so
                   verification fails whichever algorithm the client uses
  bad-checksum:NAME[*K]  the same as bad-md5:NAME[*K]
  offline:NAME     NAME is Online=false in the catalogue; download answers 422
  slow:MS          sleep MS milliseconds per 64 KiB sent (all downloads)
  redirect         /odata/v1/Products(ID)/$value answers 307 to
                   /zipper/odata/v1/... on the other loopback alias
                   (127.0.0.1 <-> localhost), like CDSE's catalogue -> zipper hop
  retry-after:S    Retry-After seconds sent with 429 (default 1)

Example: 429@2,503@3,cut@4,expire-token@1,bad-md5:S2A_MSIL1C_...,redirect
"""

_STATUS_FAULTS = {429, 500, 502, 503, 504}
_DOWNLOAD_RE = re.compile(r"^(/zipper)?/odata/v1/Products\(([^)/]+)\)/\$value$")
_ENTITY_RE = re.compile(r"^/odata/v1/Products\(([^)/]+)\)$")
_NAME_EQ_RE = re.compile(r"^\s*Name\s+eq\s+'((?:[^']|'')*)'\s*$")
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_SLOW_CHUNK = 64 << 10


@dataclass(frozen=True)
class FaultSpec:
    """Parsed fault injection spec (see :data:`FAULT_HELP`)."""

    status_at: dict[int, int] = field(default_factory=dict)
    cut_at: frozenset[int] = frozenset()
    expire_token_at: frozenset[int] = frozenset()
    bad_md5: dict[str, int] = field(default_factory=dict)
    offline: frozenset[str] = frozenset()
    slow_ms: int = 0
    redirect: bool = False
    retry_after_s: int = 1


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse a fault spec string; raise :class:`ConfigError` naming a bad token."""
    status_at: dict[int, int] = {}
    cut_at: set[int] = set()
    expire: set[int] = set()
    bad_md5: dict[str, int] = {}
    offline: set[str] = set()
    slow_ms, redirect, retry_after = 0, False, 1
    for raw in (spec or "").split(","):
        token = raw.strip()
        if not token:
            continue
        try:
            if "@" in token:
                kind, number = token.split("@", 1)
                n = int(number)
                if n < 1:
                    raise ValueError("request numbers start at 1")
                if kind == "cut":
                    cut_at.add(n)
                elif kind == "expire-token":
                    expire.add(n)
                elif kind.isdigit() and int(kind) in _STATUS_FAULTS:
                    status_at[n] = int(kind)
                else:
                    raise ValueError(f"unknown fault {kind!r}")
            elif token.startswith(("bad-md5:", "bad-checksum:")):
                name, _, count = token.partition(":")[2].partition("*")
                bad_md5[name.removesuffix(".SAFE")] = int(count) if count else 1
            elif token.startswith("offline:"):
                offline.add(token[len("offline:") :].removesuffix(".SAFE"))
            elif token.startswith("slow:"):
                slow_ms = int(token[len("slow:") :])
            elif token.startswith("retry-after:"):
                retry_after = int(token[len("retry-after:") :])
            elif token == "redirect":
                redirect = True
            else:
                raise ValueError("unknown token")
        except ValueError as exc:
            raise ConfigError(
                f"fault spec token {token!r} is invalid ({exc}); see "
                "`benpipe cdse-emulator --help` for the grammar"
            ) from exc
    return FaultSpec(
        status_at=status_at,
        cut_at=frozenset(cut_at),
        expire_token_at=frozenset(expire),
        bad_md5=bad_md5,
        offline=frozenset(offline),
        slow_ms=slow_ms,
        redirect=redirect,
        retry_after_s=retry_after,
    )


@dataclass
class EmulatorStats:
    """Counters for tests and benchmarks (read them under ``lock``)."""

    download_requests: int = 0
    bytes_served: int = 0
    bytes_by_id: dict[str, int] = field(default_factory=dict)
    password_grants: int = 0
    refresh_grants: int = 0
    catalogue_queries: int = 0
    redirects: int = 0
    responses: list[tuple[int, str, int, str]] = field(default_factory=list)
    """(request number, id, status, Range header) per download request."""
    sent_by_request: dict[int, int] = field(default_factory=dict)
    """Body bytes sent per download request number."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        root: Path,
        faults: FaultSpec,
        *,
        token_lifetime_s: float,
        refresh_lifetime_s: float,
    ) -> None:
        super().__init__(address, _Handler)
        self.root = Path(root)
        self.faults = faults
        self.token_lifetime_s = token_lifetime_s
        self.refresh_lifetime_s = refresh_lifetime_s
        self.lock = threading.Lock()
        self.stats = EmulatorStats()
        self.access: dict[str, float] = {}
        self.refresh: dict[str, float] = {}
        self.issued_tokens: list[str] = []
        self.bad_md5_left = dict(faults.bad_md5)
        self.products: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, str] = {}
        self.reload()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug(
            "connection from %s ended with an error", client_address, exc_info=True
        )

    def reload(self) -> None:
        catalogue = self.root / "cdse" / "catalogue.json"
        if not catalogue.is_file():
            raise InputDataError(
                f"{catalogue} does not exist; generate the world with "
                "`benpipe demo-world --out <root>` (or point --root at it)"
            )
        entries = json.loads(catalogue.read_text(encoding="utf-8"))
        if isinstance(entries, dict):
            entries = entries.get("value", [])
        products: dict[str, dict[str, Any]] = {}
        for entry in entries:
            name = str(entry["Name"]).removesuffix(".SAFE")
            item = dict(entry)
            if name in self.faults.offline:
                item["Online"] = False
            products[str(entry["Id"])] = item
        self.products = products
        self.by_name = {str(v["Name"]): k for k, v in products.items()}

    def zip_path(self, item: dict[str, Any]) -> Path:
        return (
            self.root
            / "cdse"
            / "products"
            / (str(item["Name"]).removesuffix(".SAFE") + ".zip")
        )

    def issue_tokens(self) -> dict[str, Any]:
        now = time.time()
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access] = now + self.token_lifetime_s
        self.refresh[refresh] = now + self.refresh_lifetime_s
        self.issued_tokens += [access, refresh]
        return {
            "access_token": access,
            "expires_in": int(self.token_lifetime_s),
            "refresh_token": refresh,
            "refresh_expires_in": int(self.refresh_lifetime_s),
            "token_type": "Bearer",
            "scope": "openid email profile",
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "benpipe-cdse-emulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s %s", self.address_string(), format % args)

    # -- helpers
    def _send_json(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _public(self, item: dict[str, Any], expand: str | None) -> dict[str, Any]:
        out = {"@odata.mediaContentType": "application/octet-stream", **item}
        out.setdefault("ContentType", "application/octet-stream")
        if expand and "Attributes" in expand:
            out.setdefault("Attributes", [])
        return out

    # -- endpoints
    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if not path.endswith("/protocol/openid-connect/token"):
            self._send_json(404, {"detail": "Not found"})
            return
        form = {k: v[0] for k, v in parse_qs(body).items()}
        grant = form.get("grant_type")
        srv = self.server
        with srv.lock:
            if grant == "password":
                if (
                    form.get("username") == DEMO_USERNAME
                    and form.get("password") == DEMO_PASSWORD
                ):
                    srv.stats.password_grants += 1
                    answer = srv.issue_tokens()
                    status = 200
                else:
                    status, answer = (
                        401,
                        {
                            "error": "invalid_grant",
                            "error_description": "Invalid user credentials",
                        },
                    )
            elif grant == "refresh_token":
                expires = srv.refresh.get(form.get("refresh_token", ""))
                if expires is not None and expires > time.time():
                    srv.stats.refresh_grants += 1
                    answer = srv.issue_tokens()
                    status = 200
                else:
                    status, answer = (
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "Token is not active",
                        },
                    )
            else:
                status, answer = 400, {"error": "unsupported_grant_type"}
        self._send_json(status, answer)

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        match = _DOWNLOAD_RE.match(path)
        if match:
            if match.group(1) is None and self.server.faults.redirect:
                self._redirect(match.group(2))
            else:
                self._download(match.group(2))
            return
        match = _ENTITY_RE.match(path)
        if match:
            with self.server.lock:
                self.server.stats.catalogue_queries += 1
            item = self.server.products.get(match.group(1))
            if item is None:
                self._send_json(404, {"detail": f"Product {match.group(1)} not found"})
            else:
                self._send_json(
                    200,
                    {
                        "@odata.context": "$metadata#Products/$entity",
                        **self._public(item, query.get("$expand")),
                    },
                )
            return
        if path == "/odata/v1/Products":
            self._query(query)
            return
        self._send_json(404, {"detail": "Not found"})

    def _query(self, query: dict[str, str]) -> None:
        with self.server.lock:
            self.server.stats.catalogue_queries += 1
        flt = query.get("$filter", "")
        match = _NAME_EQ_RE.match(flt)
        if not match:
            self._send_json(
                400,
                {
                    "detail": f"unsupported $filter {flt!r}: the emulator knows only Name eq '...'"
                },
            )
            return
        name = match.group(1).replace("''", "'")
        pid = self.server.by_name.get(name)
        values = (
            [self._public(self.server.products[pid], query.get("$expand"))]
            if pid
            else []
        )
        top = int(query.get("$top", "20"))
        self._send_json(
            200, {"@odata.context": "$metadata#Products", "value": values[:top]}
        )

    def _redirect(self, pid: str) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        alias = "localhost" if host != "localhost" else "127.0.0.1"
        port = self.server.server_address[1]
        with self.server.lock:
            self.server.stats.redirects += 1
        self.send_response(307)
        self.send_header(
            "Location", f"http://{alias}:{port}/zipper/odata/v1/Products({pid})/$value"
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _download(self, pid: str) -> None:
        srv = self.server
        faults = srv.faults
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        range_header = self.headers.get("Range", "")
        with srv.lock:
            srv.stats.download_requests += 1
            n = srv.stats.download_requests
            if n in faults.expire_token_at:
                srv.access.clear()
            expires = srv.access.get(token)
            authorised = expires is not None and expires > time.time()

        def log(status: int) -> None:
            with srv.lock:
                srv.stats.responses.append((n, pid, status, range_header))

        if not authorised:
            log(401)
            self._send_json(
                401, {"detail": "Expired signature!" if token else "Unauthorized"}
            )
            return
        if n in faults.status_at:
            status = faults.status_at[n]
            log(status)
            extra = {"Retry-After": str(faults.retry_after_s)} if status == 429 else {}
            self._send_json(status, {"detail": f"injected fault {status}"}, extra)
            return
        item = srv.products.get(pid)
        if item is None:
            log(404)
            self._send_json(404, {"detail": f"Product {pid} not found"})
            return
        name = str(item["Name"]).removesuffix(".SAFE")
        if not item.get("Online", True):
            log(422)
            self._send_json(
                422, {"detail": f"Product {name} is offline; order it first"}
            )
            return
        path = srv.zip_path(item)
        size = path.stat().st_size
        start, end = 0, size - 1
        status = 200
        if range_header:
            match = _RANGE_RE.match(range_header.strip())
            if match:
                start = int(match.group(1))
                if match.group(2):
                    end = min(int(match.group(2)), size - 1)
                if start >= size:
                    log(416)
                    self._send_json(
                        416,
                        {"detail": "Range not satisfiable"},
                        {"Content-Range": f"bytes */{size}"},
                    )
                    return
                status = 206
        length = end - start + 1
        cut = n in faults.cut_at
        to_send = max(1, length // 2) if cut else length
        flip_at = size // 2
        corrupt = False
        with srv.lock:
            if srv.bad_md5_left.get(name, 0) > 0 and start <= flip_at < start + to_send:
                srv.bad_md5_left[name] -= 1
                corrupt = True
        log(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Disposition", f'attachment; filename="{name}.zip"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if cut:
            self.close_connection = True
        sent = 0
        try:
            with open(path, "rb") as handle:
                if corrupt or faults.slow_ms:
                    handle.seek(start)
                    pos = start
                    while sent < to_send:
                        data = bytearray(handle.read(min(_SLOW_CHUNK, to_send - sent)))
                        if not data:
                            break
                        if corrupt and pos <= flip_at < pos + len(data):
                            data[flip_at - pos] ^= 0xFF
                        self.wfile.write(data)
                        sent += len(data)
                        pos += len(data)
                        with srv.lock:
                            srv.stats.bytes_served += len(data)
                        if faults.slow_ms:
                            time.sleep(faults.slow_ms / 1000)
                else:
                    sent = self.connection.sendfile(handle, start, to_send)
                    with srv.lock:
                        srv.stats.bytes_served += sent
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        with srv.lock:
            srv.stats.bytes_by_id[pid] = srv.stats.bytes_by_id.get(pid, 0) + sent
            srv.stats.sent_by_request[n] = sent
        if cut:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    """In-process emulator: ``with EmulatorServer(root) as emu: emu.url``."""

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: str | FaultSpec = "",
        token_lifetime_s: float = 600.0,
        refresh_lifetime_s: float = 3600.0,
    ) -> None:
        spec = faults if isinstance(faults, FaultSpec) else parse_faults(faults)
        self._server = _Server(
            (host, port),
            Path(root),
            spec,
            token_lifetime_s=token_lifetime_s,
            refresh_lifetime_s=refresh_lifetime_s,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host!s}:{self.port}"

    @property
    def catalogue_url(self) -> str:
        return f"{self.url}/odata/v1"

    download_url = catalogue_url

    @property
    def token_url(self) -> str:
        return f"{self.url}/auth/realms/CDSE/protocol/openid-connect/token"

    @property
    def stats(self) -> EmulatorStats:
        return self._server.stats

    def expire_tokens(self) -> None:
        """Expire every access token now (refresh tokens stay valid)."""
        with self._server.lock:
            self._server.access.clear()

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="cdse-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _pidfile(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n", encoding="utf-8")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@click.command(
    "cdse-emulator",
    epilog="\n\n".join("\b\n" + para for para in FAULT_HELP.split("\n\n")),
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Demo-world root (holds cdse/products and cdse/catalogue.json).",
)
@click.option(
    "--port",
    type=int,
    default=8765,
    show_default=True,
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Bind address (loopback only, please).",
)
@click.option("--faults", default="", help="Fault spec, see below.")
@click.option(
    "--token-lifetime-s",
    type=float,
    default=600.0,
    show_default=True,
    help="expires_in of access tokens.",
)
@click.option(
    "--pidfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the process id here while running.",
)
def cdse_emulator(
    root: Path,
    port: int,
    host: str,
    faults: str,
    token_lifetime_s: float,
    pidfile: Path | None,
) -> None:
    """Serve a demo world as a local CDSE (token, catalogue, download).

    \b
    Examples:
      benpipe cdse-emulator --root resources/demo-world --port 8765
      benpipe cdse-emulator --root /tmp/dw --port 0 --faults 429@2,cut@3,redirect
    """
    server = EmulatorServer(
        root, host=host, port=port, faults=faults, token_lifetime_s=token_lifetime_s
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server._server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with _pidfile(pidfile):
        click.echo(f"listening on {server.url}", err=False)
        sys.stdout.flush()
        server.serve_forever()
        server._server.server_close()
