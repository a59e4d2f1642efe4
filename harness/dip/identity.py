"""The DIP's identity, kept in one folder and made once: what makes a hub the same DIP across runs.

    dip-signing.pem / .key        signs every delivery and the session transcripts (RSA, as the DIP)
    ca.pem / ca.key               the DIP's own CA: issues the two TLS certificates below
    tls-server.pem / .key         the API's HTTPS server certificate (clients trust ca.pem)
    delivery-client.pem / .key    the client certificate the DIP presents to webhooks (mTLS)
    client-ca.pem / .key          the CA whose client certificates the API accepts (mTLS); the
                                  operator issues participants' certificates from it (`dipcert hub client-cert`)

Default folder: `~/.dipcert/dip`, or `$DIPCERT_HOME/dip` when the environment variable DIPCERT_HOME is
set (`default_folder()`): ONE place per user, outside every bundle and every `--out`, read by every
route (`dipcert run`, `dipcert reuse`, `dipcert demo`, `dipcert replay`, the pytest plugin), so a webhook
that pinned `dip-signing.pem` once keeps verifying whichever route or output folder the next run
uses. `--dip-key DIR` (`--dipcert-dip-key DIR`, ini `dipcert_dip_key`) names another folder; `dipcert
hub serve` keeps its own in `STATE/identity`. Keys are written 0600, the folder 0700. The
folder is created under an exclusive file lock (fcntl on `.lock`), so two processes starting at once
make one identity, not two. A part that is missing is made (an older folder with only the signing
pair gains the TLS parts the first time a hub needs them); a part with only one of its two files is
an error to fix by hand, never silently replaced. TLS keys are EC P-256 (fast to make); the signing
key is RSA-2048 because the DIP signs with RSA.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.core.errors import ConfigError
from harness.dip.config import HubTLS
from harness.transport.certs import CertificateAuthority, IssuedCert, make_ca, new_key
from harness.transport.signing import SigningIdentity

CERT, KEY = "dip-signing.pem", "dip-signing.key"
HOME_ENV = "DIPCERT_HOME"  # dipcert's per-user folder; the DIP identity is its `dip/`
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
PARTS = {"ca": ("ca.pem", "ca.key"), "client-ca": ("client-ca.pem", "client-ca.key"),
         "tls-server": ("tls-server.pem", "tls-server.key"),
         "delivery-client": ("delivery-client.pem", "delivery-client.key")}


def default_folder() -> Path:
    """`$DIPCERT_HOME/dip`, else `~/.dipcert/dip`: where every route keeps the simulated DIP's identity."""
    home = os.environ.get(HOME_ENV, "").strip()
    return (Path(home).expanduser() if home else Path.home() / ".dipcert") / "dip"


def dip_folder(explicit: Path | str | None = None) -> Path:
    """The folder a route uses: the one given (`--dip-key`, `--dipcert-dip-key`), else `default_folder()`."""
    return Path(explicit).expanduser() if explicit else default_folder()


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(folder / ".lock", "a+")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create the DIP identity folder ({exc.strerror})") from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write(path: Path, data: bytes, private: bool) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            if private:
                os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None


def _pair(folder: Path, cert: str, key: str) -> bool:
    """Whether both files exist; ConfigError when only one does."""
    c, k = (folder / cert).is_file(), (folder / key).is_file()
    if c != k:
        raise ConfigError(f"{folder}: has only one of {cert} and {key}; remove it or restore the other")
    return c


def _save(folder: Path, issued: IssuedCert | CertificateAuthority, cert: str, key: str) -> None:
    _write(folder / key, issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()), True)
    _write(folder / cert, issued.cert_pem, False)


def _load_ca(folder: Path, cert: str, key: str) -> CertificateAuthority:
    try:
        certificate = x509.load_pem_x509_certificate((folder / cert).read_bytes())
        private = serialization.load_pem_private_key((folder / key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise ConfigError(f"{folder}: {cert}/{key} are not a readable PEM CA certificate and unencrypted key") from None
    return CertificateAuthority(private, certificate)  # type: ignore[arg-type]


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _names_of(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in sans.get_values_for_type(x509.DNSName)} | \
        {str(v) for v in sans.get_values_for_type(x509.IPAddress)}


def _canonical_name(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


@dataclass(frozen=True)
class DipIdentity:
    folder: Path
    signing: SigningIdentity

    def path(self, part: str, which: int = 0) -> Path:
        return self.folder / (PARTS[part][which] if part in PARTS else (CERT, KEY)[which])

    @property
    def signing_certificate(self) -> Path:
        return self.folder / CERT

    def hub_tls(self, mtls: bool = True) -> HubTLS:
        """The API's HTTPS settings: server certificate, and with `mtls` the client CA it demands."""
        return HubTLS(self.path("tls-server"), self.path("tls-server", 1),
                      client_ca=self.path("client-ca") if mtls else None, ca=self.path("ca"))

    def delivery_client(self) -> tuple[Path, Path]:
        return self.path("delivery-client"), self.path("delivery-client", 1)

    def issue_client(self, name: str) -> IssuedCert:
        """A participant's client certificate for the API (mTLS), issued by the client CA."""
        with _locked(self.folder):
            ca = _load_ca(self.folder, *PARTS["client-ca"])
        return ca.issue(name, sans=(), server=False, client=True, key=_ec())


def load_or_create(folder: Path | str) -> tuple[SigningIdentity, Path]:
    """The signing identity (made once) and its certificate's path: all a run needs."""
    identity = load_identity(folder, tls=False)
    return identity.signing, identity.signing_certificate


def load_identity(folder: Path | str, *, tls: bool = True, names: Iterable[str] = ()) -> DipIdentity:
    """The DIP identity in `folder`, making what is missing (with `tls`, the TLS parts too; `names`:
    extra host names or addresses the server certificate must cover)."""
    folder = Path(folder)
    with _locked(folder):
        if not _pair(folder, CERT, KEY) or (tls and not _pair(folder, *PARTS["ca"])):
            ca = _load_ca(folder, *PARTS["ca"]) if _pair(folder, *PARTS["ca"]) else None
            if ca is None:
                ca = make_ca("dipcert simulated DIP CA", key=_ec())  # type: ignore[arg-type]
                _save(folder, ca, *PARTS["ca"])
            if not _pair(folder, CERT, KEY):
                issued = ca.issue("dip.simulated.dipcert", sans=(), server=False, client=False, key=new_key())
                _save(folder, issued, CERT, KEY)
        if tls:
            ca = _load_ca(folder, *PARTS["ca"])
            wanted = {_canonical_name(n) for n in (*DEFAULT_NAMES, *names)}
            server = PARTS["tls-server"]
            if not _pair(folder, *server) or not wanted <= {_canonical_name(n) for n in _names_of(folder / server[0])}:
                _save(folder, ca.issue("dip-api.simulated.dipcert", sans=sorted(wanted), client=False, key=_ec()),
                      *server)
            if not _pair(folder, *PARTS["delivery-client"]):
                _save(folder, ca.issue("dip-delivery.simulated.dipcert", sans=(), server=False, key=_ec()),
                      *PARTS["delivery-client"])
            if not _pair(folder, *PARTS["client-ca"]):
                client_ca = make_ca("dipcert simulated DIP client CA", key=_ec())  # type: ignore[arg-type]
                _save(folder, client_ca, *PARTS["client-ca"])
        signing = SigningIdentity.from_files(folder / CERT, folder / KEY)
    return DipIdentity(folder, signing)
