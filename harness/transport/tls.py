"""TLS and mTLS contexts for the hub, the reference participants and the delivery client.

The DIP uses mutual TLS in both directions (participant -> DIP and DIP -> webhook), so every server
here can demand a client certificate and every client can present one. TLS 1.2 is the floor.
Problems with the files become one-line ConfigErrors naming the file, never an ssl traceback.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.core.errors import ConfigError
from harness.core.files import read_config_bytes

CaSource = Path | str | bytes  # a PEM file path, or PEM bytes


@lru_cache(maxsize=1)
def system_context() -> ssl.SSLContext:
    """The client context httpx builds for `verify=True` (certifi's trust, hostname checked), built once.

    Building one costs 15-40 ms (it parses the whole CA store), and httpx builds one for every client,
    even one that only ever speaks plain http: a demo made hundreds. An SSLContext is safe to share
    between threads; nobody may load a certificate into this one (a client presenting its own builds
    its own context).
    """
    return httpx.create_ssl_context()


def _check_certificates(path: Path, what: str) -> None:
    try:
        if not x509.load_pem_x509_certificates(read_config_bytes(path, what)):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{path}: not a PEM {what} (expected '-----BEGIN CERTIFICATE-----')") from None


def _load_chain(context: ssl.SSLContext, cert: Path | str, key: Path | str | None,
                password: bytes | str | None) -> None:
    cert_path = Path(cert)
    key_path = Path(key) if key is not None else cert_path
    _check_certificates(cert_path, "certificate")
    if key is not None:
        read_config_bytes(key_path, "private key")
    def no_password() -> bytes:  # instead of OpenSSL prompting on the terminal
        raise ConfigError(f"{key_path}: private key is encrypted; a password is needed")

    try:
        context.load_cert_chain(cert_path, key_path if key is not None else None,
                                password=password if password is not None else no_password)
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).upper()
        if "MISMATCH" in reason:
            raise ConfigError(f"{key_path}: private key does not match certificate {cert_path}") from None
        if "DECRYPT" in reason or "BAD_PASSWORD" in reason or "PASSWORD" in reason:
            raise ConfigError(f"{key_path}: wrong or missing password for the private key") from None
        raise ConfigError(f"{key_path}: not a usable PEM private key for {cert_path.name}") from None
    except OSError as exc:  # unreadable between the check and the load
        raise ConfigError(f"{key_path}: cannot read ({exc.strerror})") from None


def _load_ca(context: ssl.SSLContext, ca: CaSource) -> None:
    if isinstance(ca, bytes):
        try:
            context.load_verify_locations(cadata=ca.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError):
            raise ConfigError("CA certificate data: not PEM certificates") from None
        return
    path = Path(ca)
    _check_certificates(path, "CA certificate")
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError):
        raise ConfigError(f"{path}: not a usable CA certificate file") from None


def server_context(cert_path: Path | str, key_path: Path | str, *, client_ca: CaSource | None = None,
                   password: bytes | str | None = None) -> ssl.SSLContext:
    """A server context; with ``client_ca`` the client must present a certificate issued by it (mTLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, cert_path, key_path, password)
    if client_ca is not None:
        _load_ca(context, client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(*, ca: CaSource | None = None, cert: Path | str | None = None, key: Path | str | None = None,
                   password: bytes | str | None = None) -> ssl.SSLContext:
    """A client context verifying the server (against ``ca``, else the system store) and its hostname;
    presents ``cert``/``key`` when given (``key`` may be omitted if ``cert`` holds both)."""
    if key is not None and cert is None:
        raise ConfigError(f"{key}: a client key needs its certificate (cert=)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca is not None:
        _load_ca(context, ca)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert is not None:
        _load_chain(context, cert, key, password)
    return context


def _der_of(source: Any) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, x509.Certificate):
        return source.public_bytes(serialization.Encoding.DER)
    if isinstance(source, str):
        source = source.encode("ascii")
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        return ssl.PEM_cert_to_DER_cert(data.decode("ascii")) if b"-----BEGIN" in data else data
    if isinstance(source, Mapping):  # a WSGI environ (werkzeug puts the PEM in SSL_CLIENT_CERT)
        if source.get("SSL_CLIENT_CERT"):
            return _der_of(source["SSL_CLIENT_CERT"])
        return _der_of(source.get("werkzeug.socket")) if "werkzeug.socket" in source else None
    extensions = getattr(source, "extensions", None)
    if isinstance(extensions, Mapping):  # an httpx.Response
        stream = extensions.get("network_stream")
        return _der_of(stream.get_extra_info("ssl_object")) if stream is not None else None
    getpeercert = getattr(source, "getpeercert", None)  # ssl.SSLSocket / ssl.SSLObject
    if callable(getpeercert):
        try:
            return getpeercert(True)  # positional: _ssl._SSLSocket takes no keywords
        except ValueError:  # handshake not finished
            return None
    raise TypeError(f"cannot find a peer certificate in {type(source).__name__}")


def peer_certificate_sha256(source: Any) -> str | None:
    """``sha256:<hex>`` of the peer's DER certificate, or None when it presented none.

    ``source``: an ssl socket/SSLObject, an httpx.Response (while its connection is open: inside
    ``client.stream(...)`` or a response event hook), a WSGI environ, a certificate, DER or PEM.
    """
    der = _der_of(source)
    return "sha256:" + hashlib.sha256(der).hexdigest() if der else None
