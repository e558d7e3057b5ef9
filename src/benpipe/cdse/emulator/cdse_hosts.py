"""Serving under CDSE's own host names: a TLS certificate and name resolution.

Clients that hard-code ``https://catalogue.dataspace.copernicus.eu`` and its
siblings (cdsetool builds its URLs inline) can be pointed at the emulator
without touching their code: run it with ``tls=True`` (a certificate for the
CDSE host names, signed by a CA made at start-up), trust that CA
(``REQUESTS_CA_BUNDLE`` for requests, ``SSL_CERT_FILE`` for urllib/OpenSSL)
and resolve the names to the emulator, either with :func:`resolve_cdse_hosts`
inside a Python process or with ``/etc/hosts`` and port 443 for anything else.
The request's ``Host`` header then tells the emulator which service was asked
(see :data:`CDSE_HOSTS`), so redirects cross hosts exactly as on CDSE.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: CDSE host name -> the service it stands for in the emulator.
CDSE_HOSTS: dict[str, str] = {
    "identity.dataspace.copernicus.eu": "identity",
    "catalogue.dataspace.copernicus.eu": "catalogue",
    "download.dataspace.copernicus.eu": "download",
    "zipper.dataspace.copernicus.eu": "download",
}
#: Where CDSE's catalogue host redirects ``Products(<id>)/$value``.
ZIPPER_HOST = "zipper.dataspace.copernicus.eu"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    """A certificate valid from an hour ago for 30 days, signed with SHA-256."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def make_server_context() -> tuple[ssl.SSLContext, bytes]:
    """A server TLS context for the CDSE names and loopback, and its CA (PEM).

    Both keys are made now and live in memory; the server key passes through
    a private temporary directory only for as long as OpenSSL needs to load it.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("benpipe CDSE emulator CA (made at start-up)")
    ca_sign_only = x509.KeyUsage(
        False, False, False, False, False, True, True, False, False
    )
    ca_cert = _certificate(
        ca_name,
        ca_key,
        ca_name,
        ca_key,
        [(x509.BasicConstraints(ca=True, path_length=0), True), (ca_sign_only, True)],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(h) for h in (*CDSE_HOSTS, "localhost")
    ]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    signature_only = x509.KeyUsage(
        True, False, False, False, False, False, False, False, False
    )
    cert = _certificate(
        _name(next(iter(CDSE_HOSTS))),
        key,
        ca_name,
        ca_key,
        [
            (x509.SubjectAlternativeName(names), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (signature_only, True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                False,
            ),
        ],
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="cdse-emulator-tls-") as tmp:
        chain, key_file = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.touch(mode=0o600)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(chain, key_file)
    return context, ca_cert.public_bytes(serialization.Encoding.PEM)


@contextlib.contextmanager
def resolve_cdse_hosts(port: int, address: str = "127.0.0.1") -> Iterator[None]:
    """Inside this process, resolve the CDSE host names to ``address:port``.

    Works for everything that resolves through :func:`socket.getaddrinfo`
    (requests/urllib3, urllib, http.client), like an ``/etc/hosts`` entry that
    also maps port 443 to the emulator's port.  Other names resolve as usual.
    """
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.lower().rstrip(".") in CDSE_HOSTS:
            return real(address, port, *args, **kwargs)
        return real(host, service, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real
