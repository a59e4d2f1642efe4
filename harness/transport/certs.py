"""Certificates made at run time: a throw-away CA and the leaf certificates it issues.

Tests, the demo and the reference participants need mTLS and signing certificates without anyone
committing keys; this module makes them in memory and writes them only where asked (keys mode 0600).
RSA-2048 generation takes ~0.1-1 s, so callers may pass ``key=`` or use :func:`cached_key` to reuse a
key per purpose within one process.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.core.errors import ConfigError
from harness.transport.signing import SigningIdentity

CA_LIFETIME = timedelta(days=365)
LEAF_LIFETIME = timedelta(days=90)
BACKDATE = timedelta(minutes=5)  # tolerate small clock differences between processes

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_KEY_CACHE: dict[tuple[str, int], rsa.RSAPrivateKey] = {}


def new_key(key_size: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def cached_key(purpose: str, key_size: int = 2048) -> rsa.RSAPrivateKey:
    """One RSA key per ``purpose`` for this process: tests reuse keys instead of generating dozens."""
    cache_key = (purpose, key_size)
    if cache_key not in _KEY_CACHE:
        _KEY_CACHE[cache_key] = new_key(key_size)
    return _KEY_CACHE[cache_key]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def _window(not_before: datetime | None, not_after: datetime | None,
            lifetime: timedelta) -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    start = not_before or now - BACKDATE
    end = not_after or max(now, start) + lifetime
    return start, end


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only, even if it already existed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write key file ({exc.strerror})") from None


def _write_public(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write certificate file ({exc.strerror})") from None


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey, password: bytes | str | None = None) -> bytes:
    if isinstance(password, str):
        password = password.encode("utf-8")
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@dataclass
class IssuedCert:
    """A leaf certificate with its key (and the CA certificate, for PKCS#12 chains)."""

    key: PrivateKey
    cert: x509.Certificate
    ca_cert: x509.Certificate | None = None

    def __repr__(self) -> str:  # never show the key
        return f"IssuedCert({self.cert.subject.rfc4514_string()!r}, serial={self.cert.serial_number:x})"

    @property
    def cert_pem(self) -> bytes:
        return _pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    def write(self, folder: Path | str, stem: str, password: bytes | str | None = None) -> tuple[Path, Path]:
        """``<stem>.crt`` and ``<stem>.key`` (PEM; key encrypted when a password is given, mode 0600)."""
        folder = Path(folder)
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        _write_public(cert_path, self.cert_pem)
        _write_private(key_path, _key_pem(self.key, password))
        return cert_path, key_path

    def write_pkcs12(self, path: Path | str, password: bytes | str) -> Path:
        """A .p12 with key, certificate and the issuing CA, encrypted with ``password`` (mode 0600)."""
        path = Path(path)
        secret = password.encode("utf-8") if isinstance(password, str) else password
        data = pkcs12.serialize_key_and_certificates(
            self.cert.subject.rfc4514_string().encode("utf-8"), self.key, self.cert,
            [self.ca_cert] if self.ca_cert is not None else None,
            serialization.BestAvailableEncryption(secret))
        _write_private(path, data)
        return path

    def identity(self):  # -> harness.transport.signing.SigningIdentity
        """This certificate as a DIP message signer."""
        return SigningIdentity.from_key_and_cert(self.key, self.cert)


@dataclass
class CertificateAuthority:
    """A self-signed CA that issues server/client/signing certificates for one run."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def __repr__(self) -> str:
        return f"CertificateAuthority({self.cert.subject.rfc4514_string()!r})"

    @property
    def cert_pem(self) -> bytes:
        return _pem(self.cert)

    def write(self, folder: Path | str, stem: str = "ca") -> Path:
        """``<stem>.crt`` (PEM) in ``folder``: what a peer trusts. The CA key is never written."""
        path = Path(folder) / f"{stem}.crt"
        _write_public(path, self.cert_pem)
        return path

    def issue(self, common_name: str, *, sans: Iterable[str] = ("localhost", "127.0.0.1"),
              not_before: datetime | None = None, not_after: datetime | None = None,
              client: bool = True, server: bool = True, key_size: int = 2048,
              key: PrivateKey | None = None) -> IssuedCert:
        """A leaf certificate for ``common_name``; IP-literal SANs become IPAddress entries.

        ``key`` may be RSA (the DIP's) or EC (to test ECDSA signers); by default a new RSA key."""
        key = key or new_key(key_size)
        start, end = _window(not_before, not_after, LEAF_LIFETIME)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
                 ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        builder = (x509.CertificateBuilder()
                   .subject_name(_name(common_name)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                                                data_encipherment=False,
                                                key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        names = [_san(s) for s in sans]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return IssuedCert(key, builder.sign(self.key, hashes.SHA256()), self.cert)


def make_ca(common_name: str, *, not_before: datetime | None = None, not_after: datetime | None = None,
            key: rsa.RSAPrivateKey | None = None) -> CertificateAuthority:
    """A new self-signed CA (path length 0: it issues leaves only)."""
    key = key or new_key()
    start, end = _window(not_before, not_after, CA_LIFETIME)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dipcert test CA"),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, secrets.token_hex(4))])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return CertificateAuthority(key, cert)
