"""The emulator's HTTP server: CDSE's identity, catalogue and download services.

Serves a world (``<root>/cdse/products/*.zip`` and ``<root>/cdse/catalogue.json``)
on one port, plain HTTP on loopback or HTTPS (``tls=True``) for clients that
use CDSE's own host names (:mod:`benpipe.cdse.emulator.cdse_hosts`):

* ``/auth/realms/CDSE/...``: discovery, JWKS and the token endpoint
  (:mod:`~benpipe.cdse.emulator.realm`);
* ``GET /odata/v1/Products`` with ``$filter``/``$orderby``/``$top``/``$skip``/
  ``$count``/``$expand``/``$select`` (:mod:`~benpipe.cdse.emulator.odata`),
  ``@odata.nextLink`` paging, ``Products(<id>)``, and
  ``POST /odata/v1/Products/OData.CSC.FilterList``; anonymous;
* ``Products(<id>)/$value`` (the zip) and ``Products(<id>)/Nodes(...)/$value``
  (one file of the SAFE): ``Authorization: Bearer`` or ``?token=``, ``Range``
  (206, ``Content-Range``), 401 for a missing, expired or revoked token, 404
  for an unknown id or node, 422 for an offline product; ``HEAD`` answers the
  same headers without a body;
* ``Products(<id>)/Nodes``, ``.../Nodes(<name>)/Nodes``: the SAFE tree
  (``{"result": [...]}``), anonymous.

The ``Host`` header says which service was asked: on CDSE's catalogue host a
``$value`` answers ``301 Moved Permanently`` to the zipper host, as CDSE does
(a ``wget`` log in eu-cdse/documentation issue #353 shows ``301`` from
``catalogue.dataspace.copernicus.eu`` to ``zipper.dataspace.copernicus.eu``),
so ``requests`` drops ``Authorization`` on that hop exactly as it does there.
On loopback the same hop is the ``redirect`` fault (127.0.0.1 <-> localhost,
``/zipper`` prefix).  Download GETs are numbered from 1 for the fault spec
(:mod:`~benpipe.cdse.emulator.faults`); bodies are streamed with ``sendfile``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urlsplit

from benpipe.cdse.emulator import odata
from benpipe.cdse.emulator.cdse_hosts import (
    CDSE_HOSTS,
    ZIPPER_HOST,
    make_server_context,
)
from benpipe.cdse.emulator.faults import FaultSpec, parse_faults
from benpipe.cdse.emulator.products import (
    ServedProduct,
    entity_json,
    load_catalogue,
    node_json,
    node_listing,
    read_member,
)
from benpipe.cdse.emulator.realm import (
    CERTS_PATH,
    DISCOVERY_PATH,
    TOKEN_PATH,
    Realm,
)

logger = logging.getLogger(__name__)

_PRODUCT_RE = re.compile(
    r"^/odata/v1/Products\('?(?P<id>[^)/']+)'?\)"
    r"(?P<nodes>(?:/Nodes\([^)]*\))*)(?P<tail>/Nodes|/\$value)?$"
)
_NODE_RE = re.compile(r"/Nodes\(([^)]*)\)")
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_TOKEN_PARAM_RE = re.compile(r"([?&]token=)[^&\s]*")
_SLOW_CHUNK = 64 << 10


@dataclass
class EmulatorStats:
    """Counters for tests and benchmarks (read them under the server lock)."""

    download_requests: int = 0
    bytes_served: int = 0
    bytes_by_id: dict[str, int] = field(default_factory=dict)
    password_grants: int = 0
    refresh_grants: int = 0
    login_failures: int = 0
    """Refused password grants (wrong user or password)."""
    refresh_failures: int = 0
    catalogue_queries: int = 0
    redirects: int = 0
    quota_rejections: int = 0
    filters: list[str] = field(default_factory=list)
    """The ``$filter`` of every Products query, as received."""
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
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(address, _Handler)
        self.root = Path(root)
        self.faults = faults
        self.tls = tls
        self.lock = threading.Lock()
        self.stats = EmulatorStats()
        self.realm = Realm(
            access_lifetime_s=token_lifetime_s, refresh_lifetime_s=refresh_lifetime_s
        )
        self.bad_md5_left = dict(faults.bad_md5)
        self.active_downloads: dict[str, int] = {}
        self.products: dict[str, ServedProduct] = {}
        self.records: dict[str, odata.Record] = {}
        try:
            self.reload()
        except BaseException:
            self.server_close()
            raise

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Run the handler; with TLS, handshake in this worker thread first."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(30)
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            logger.debug("TLS handshake with %s failed", client_address, exc_info=True)
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            with contextlib.suppress(OSError):
                wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug(
            "connection from %s ended with an error", client_address, exc_info=True
        )

    def reload(self) -> None:
        self.products = load_catalogue(self.root, offline=self.faults.offline)
        self.records = {pid: p.record for pid, p in self.products.items()}

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            setattr(self.stats, name, getattr(self.stats, name) + by)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "benpipe-cdse-emulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        line = _TOKEN_PARAM_RE.sub(r"\1***", format % args)  # never log a token
        logger.debug("%s %s", self.address_string(), line)

    # -- request facts
    @property
    def host(self) -> str:
        return (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()

    @property
    def base(self) -> str:
        scheme = "https" if self.server.tls is not None else "http"
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"{scheme}://{host}"

    @property
    def download_base(self) -> str:
        return f"https://{ZIPPER_HOST}" if self.host in CDSE_HOSTS else self.base

    # -- answers
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

    def _redirect(self, location: str) -> None:
        self.server.count("redirects")
        self.send_response(301)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- routing
    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._guarded(self._post)

    def _guarded(self, route: Callable[[], None]) -> None:
        """Run a route; an unexpected error is a 500 JSON answer, never a dropped connection."""
        try:
            route()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            logger.exception(
                "emulator error on %s %s", self.command, self.path.split("?")[0]
            )
            with contextlib.suppress(OSError):
                self._send_json(500, {"detail": "Internal Server Error"})
            self.close_connection = True

    def _get(self) -> None:
        parts = urlsplit(self.path)
        path, query = (
            unquote(parts.path),
            dict(parse_qsl(parts.query, keep_blank_values=True)),
        )
        via_zipper = path.startswith("/zipper/")
        path = path.removeprefix("/zipper")
        if path == DISCOVERY_PATH:
            self._send_json(200, self.server.realm.discovery(self.base))
        elif path == CERTS_PATH:
            self._send_json(200, self.server.realm.jwks())
        elif path == TOKEN_PATH:
            self._send_json(
                405, {"error": "HTTP 405 Method Not Allowed"}, {"Allow": "POST"}
            )
        elif path == "/odata/v1/Products":
            self._query(query, parts.query)
        elif match := _PRODUCT_RE.match(path):
            self._product(match, query, via_zipper)
        else:
            self._send_json(404, {"detail": "Not Found"})

    def _post(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == TOKEN_PATH:
            self._token(body)
        elif path == "/odata/v1/Products/OData.CSC.FilterList":
            self._filter_list(body)
        else:
            self._send_json(404, {"detail": "Not Found"})

    # -- identity
    def _basic_client(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.partition(":")[0])

    def _token(self, body: bytes) -> None:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        srv = self.server
        with srv.lock:
            answer = srv.realm.token(
                form, base=self.base, basic_client=self._basic_client()
            )
            if answer.grant == "password":
                if answer.ok:
                    srv.stats.password_grants += 1
                elif answer.username is not None:
                    srv.stats.login_failures += 1
            elif answer.grant == "refresh_token":
                if answer.ok:
                    srv.stats.refresh_grants += 1
                else:
                    srv.stats.refresh_failures += 1
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        self._send_json(answer.status, answer.body, headers)

    # -- catalogue
    def _query(self, params: dict[str, str], raw_query: str) -> None:
        self.server.count("catalogue_queries")
        with self.server.lock:
            self.server.stats.filters.append(params.get("$filter", ""))
        try:
            query = odata.parse_query(params)
        except odata.ODataError as exc:
            self._send_json(exc.status, exc.body)
            return
        page = odata.select_page(self.server.records, query)
        expand = sorted(query.expand)
        context = "$metadata#Products" + (
            "(" + ",".join(f"{e}()" for e in expand) + ")" if expand else ""
        )
        body: dict[str, Any] = {"@odata.context": context}
        if query.count:
            body["@odata.count"] = page.total
        body["value"] = [
            entity_json(
                self.server.products[pid],
                expand=expand,
                select=query.select,
                download_base=self.download_base,
            )
            for pid in page.ids
        ]
        if page.next_skip is not None:
            following = [
                (k, v)
                for k, v in parse_qsl(raw_query, keep_blank_values=True)
                if k != "$skip"
            ]
            following.append(("$skip", str(page.next_skip)))
            body["@odata.nextLink"] = (
                f"{self.base}/odata/v1/Products?{urlencode(following)}"
            )
        self._send_json(200, body)

    def _filter_list(self, body: bytes) -> None:
        self.server.count("catalogue_queries")
        try:
            names = [
                str(item["Name"])
                for item in json.loads(body or b"{}")["FilterProducts"]
            ]
        except (ValueError, KeyError, TypeError):
            self._send_json(
                422,
                {
                    "detail": [
                        {
                            "type": "missing",
                            "loc": ["body", "FilterProducts"],
                            "msg": "Field required",
                        }
                    ]
                },
            )
            return
        wanted = set(names)
        values = [
            entity_json(p, download_base=self.download_base)
            for p in self.server.products.values()
            if p.name in wanted
        ]
        self._send_json(200, {"@odata.context": "$metadata#Products", "value": values})

    def _product(
        self, match: re.Match[str], query: dict[str, str], via_zipper: bool
    ) -> None:
        product = self.server.products.get(match.group("id"))
        nodes = tuple(unquote(n) for n in _NODE_RE.findall(match.group("nodes")))
        tail = match.group("tail")
        if tail == "/$value":
            if self.host in CDSE_HOSTS and CDSE_HOSTS[self.host] == "catalogue":
                self._redirect(f"https://{ZIPPER_HOST}{urlsplit(self.path).path}")
            elif (
                not via_zipper
                and not nodes
                and self.host not in CDSE_HOSTS
                and self.server.faults.redirect
            ):
                self._loopback_redirect(urlsplit(self.path).path)
            else:
                _Download(self, match.group("id"), product, nodes, query).run()
            return
        if product is None:
            self._send_json(404, {"detail": f"Product {match.group('id')} not found"})
            return
        if tail == "/Nodes":
            listing = node_listing(product, nodes, self.base)
            if listing is None:
                self._send_json(404, {"detail": f"Node {'/'.join(nodes)} not found"})
            else:
                self._send_json(200, listing)
        elif nodes:
            node = product.nodes.get(nodes)
            if node is None:
                self._send_json(404, {"detail": f"Node {'/'.join(nodes)} not found"})
            else:
                self._send_json(200, {"result": [node_json(product, node, self.base)]})
        else:
            self._entity(product, query)

    def _entity(self, product: ServedProduct, params: dict[str, str]) -> None:
        self.server.count("catalogue_queries")
        options = {k: v for k, v in params.items() if k in ("$expand", "$select")}
        try:
            query = odata.parse_query(options)
        except odata.ODataError as exc:
            self._send_json(exc.status, exc.body)
            return
        entity = entity_json(
            product,
            expand=query.expand,
            select=query.select,
            download_base=self.download_base,
        )
        self._send_json(200, {"@odata.context": "$metadata#Products/$entity", **entity})

    def _loopback_redirect(self, path: str) -> None:
        alias = "localhost" if self.host != "localhost" else "127.0.0.1"
        scheme = "https" if self.server.tls is not None else "http"
        self._redirect(
            f"{scheme}://{alias}:{self.server.server_address[1]}/zipper{path}"
        )


class _Download:
    """One ``$value`` request: number it, authorise, apply faults, send bytes."""

    def __init__(
        self,
        handler: _Handler,
        pid: str,
        product: ServedProduct | None,
        nodes: tuple[str, ...],
        query: dict[str, str],
    ) -> None:
        self.h = handler
        self.srv = handler.server
        self.pid = pid
        self.product = product
        self.nodes = nodes
        self.query = query
        self.head = handler.command == "HEAD"
        self.number = 0
        self.range_header = handler.headers.get("Range", "")

    def log(self, status: int) -> None:
        if self.number:
            with self.srv.lock:
                self.srv.stats.responses.append(
                    (self.number, self.pid, status, self.range_header)
                )

    def fail(
        self, status: int, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        self.log(status)
        self.h._send_json(status, {"detail": detail}, headers)

    def run(self) -> None:
        token = self._token()
        with self.srv.lock:
            if not self.head:
                self.srv.stats.download_requests += 1
                self.number = self.srv.stats.download_requests
                if self.number in self.srv.faults.expire_token_at:
                    self.srv.realm.expire_access_tokens()
            claims = self.srv.realm.verify_access(token) if token else None
        if claims is None:
            self.fail(401, "Expired signature!" if token else "Unauthorized")
            return
        faults = self.srv.faults
        if self.number in faults.status_at:
            status = faults.status_at[self.number]
            extra = {"Retry-After": str(faults.retry_after_s)} if status == 429 else {}
            self.fail(status, f"injected fault {status}", extra)
            return
        user = str(claims.get("preferred_username", ""))
        if not self._enter(user):
            return
        try:
            self._serve()
        finally:
            self._leave(user)

    def _token(self) -> str:
        auth = self.h.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:].strip()
        return self.query.get("token", "")

    def _enter(self, user: str) -> bool:
        limit = self.srv.faults.max_concurrent
        if self.head or not limit:
            return True
        with self.srv.lock:
            active = self.srv.active_downloads.get(user, 0)
            if active >= limit:
                self.srv.stats.quota_rejections += 1
                rejected = True
            else:
                self.srv.active_downloads[user] = active + 1
                rejected = False
        if rejected:
            self.fail(
                429, f"Too many requests: at most {limit} concurrent downloads per user"
            )
        return not rejected

    def _leave(self, user: str) -> None:
        if self.head or not self.srv.faults.max_concurrent:
            return
        with self.srv.lock:
            self.srv.active_downloads[user] -= 1

    def _serve(self) -> None:
        product = self.product
        if product is None:
            self.fail(404, f"Product {self.pid} not found")
            return
        stem = product.name.removesuffix(".SAFE")
        if not product.online:
            self.fail(422, f"Product {stem} is offline; order it first")
            return
        if not self.nodes:
            self._send(product.zip_path, f"{stem}.zip", "application/zip", stem)
            return
        node = product.nodes.get(self.nodes)
        if node is None or node.member is None:
            what = "a folder" if node is not None else "not found"
            self.fail(404, f"Node {'/'.join(self.nodes)} is {what}")
            return
        data = read_member(product.zip_path, node.member)
        self._send(data, self.nodes[-1], "application/octet-stream", None)

    def _range(self, size: int) -> tuple[int, int, int] | None:
        """(status, start, end) for the Range header; None after a 416 answer."""
        match = (
            _RANGE_RE.match(self.range_header.strip()) if self.range_header else None
        )
        if match is None:
            return 200, 0, size - 1
        start = int(match.group(1))
        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if start >= size:
            self.fail(
                416, "Range not satisfiable", {"Content-Range": f"bytes */{size}"}
            )
            return None
        return 206, start, end

    def _send(
        self,
        source: Path | bytes,
        filename: str,
        content_type: str,
        corruptible: str | None,
    ) -> None:
        """Answer with ``source`` (a file, or bytes of one SAFE member)."""
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        answer = self._range(size)
        if answer is None:
            return
        status, start, end = answer
        length = end - start + 1
        cut = self.number in self.srv.faults.cut_at
        to_send = max(1, length // 2) if cut else length
        flip_at = size // 2
        corrupt = False
        with self.srv.lock:
            left = self.srv.bad_md5_left.get(corruptible or "", 0)
            if not self.head and left > 0 and start <= flip_at < start + to_send:
                self.srv.bad_md5_left[corruptible or ""] -= 1
                corrupt = True
        self.log(status)
        h = self.h
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(length))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Disposition", f'attachment; filename="{filename}"')
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        h.end_headers()
        if self.head:
            return
        if cut:
            h.close_connection = True
        sent = self._stream(source, start, to_send, flip_at if corrupt else None)
        with self.srv.lock:
            self.srv.stats.bytes_by_id[self.pid] = (
                self.srv.stats.bytes_by_id.get(self.pid, 0) + sent
            )
            self.srv.stats.sent_by_request[self.number] = sent
        if cut:
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)

    def _stream(
        self, source: Path | bytes, start: int, count: int, flip_at: int | None
    ) -> int:
        """Send ``count`` bytes from ``start`` (sendfile unless corrupted or slowed)."""
        slow_ms = self.srv.faults.slow_ms
        sent = 0
        handle: BinaryIO = (
            io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115 (closed below)
        )
        try:
            with handle:
                if flip_at is None and not slow_ms and not isinstance(source, bytes):
                    sent = int(self.h.connection.sendfile(handle, start, count))
                    self.srv.count("bytes_served", sent)
                    return sent
                handle.seek(start)
                pos = start
                while sent < count:
                    data = bytearray(handle.read(min(_SLOW_CHUNK, count - sent)))
                    if not data:
                        break
                    if flip_at is not None and pos <= flip_at < pos + len(data):
                        data[flip_at - pos] ^= 0xFF
                    self.h.wfile.write(data)
                    sent += len(data)
                    pos += len(data)
                    self.srv.count("bytes_served", len(data))
                    if slow_ms:
                        time.sleep(slow_ms / 1000)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.h.close_connection = True
        return sent


class EmulatorServer:
    """In-process emulator: ``with EmulatorServer(root) as emu: emu.url``.

    ``tls=True`` serves HTTPS with a certificate for CDSE's host names and
    loopback, signed by a CA made at start-up; :attr:`ca_cert_path` is that
    CA's certificate (PEM) for ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``.
    """

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: str | FaultSpec = "",
        token_lifetime_s: float = 600.0,
        refresh_lifetime_s: float = 3600.0,
        tls: bool = False,
    ) -> None:
        spec = faults if isinstance(faults, FaultSpec) else parse_faults(faults)
        context: ssl.SSLContext | None = None
        self._tmp: Path | None = None
        self.ca_cert_path: Path | None = None
        if tls:
            context, ca_pem = make_server_context()
            self._tmp = Path(tempfile.mkdtemp(prefix="cdse-emulator-"))
            self.ca_cert_path = self._tmp / "emulator-ca.pem"
            self.ca_cert_path.write_bytes(ca_pem)
        try:
            self._server = _Server(
                (host, port),
                Path(root),
                spec,
                token_lifetime_s=token_lifetime_s,
                refresh_lifetime_s=refresh_lifetime_s,
                tls=context,
            )
        except BaseException:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self._server.tls is not None else "http"
        return f"{scheme}://{self._server.server_address[0]!s}:{self.port}"

    @property
    def catalogue_url(self) -> str:
        return f"{self.url}/odata/v1"

    @property
    def download_url(self) -> str:
        return f"{self.url}/odata/v1"

    @property
    def token_url(self) -> str:
        return f"{self.url}{TOKEN_PATH}"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}{DISCOVERY_PATH}"

    @property
    def stats(self) -> EmulatorStats:
        return self._server.stats

    @property
    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out so far."""
        with self._server.lock:
            return list(self._server.realm.issued_tokens)

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="cdse-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (from another thread or a signal handler)."""
        threading.Thread(target=self._server.shutdown, daemon=True).start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self.close()

    def close(self) -> None:
        self._server.server_close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
