"""The simulated DIP's signing identity, kept between runs.

A participant's webhook must verify deliveries against the DIP's certificate, so the harness must
not invent a new one each run: it is made once in a folder (default `reports/.dip/`, outside every
bundle) and reused. Only the certificate is meant to be shared; the key file is created 0600.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError
from harness.transport.signing import SigningIdentity

CERT, KEY = "dip-signing.pem", "dip-signing.key"


def load_or_create(folder: Path) -> tuple[SigningIdentity, Path]:
    folder = Path(folder)
    cert, key = folder / CERT, folder / KEY
    if cert.is_file() and key.is_file():
        return SigningIdentity.from_files(cert, key), cert
    if cert.exists() != key.exists():
        raise ConfigError(f"{folder}: has only one of {CERT} and {KEY}; remove it or restore the other")
    from harness.transport.certs import make_ca

    try:
        folder.mkdir(parents=True, exist_ok=True)
        issued = make_ca("dipcert simulated DIP CA").issue("dip.simulated.dipcert")
        key.touch(mode=0o600)
        key.write_bytes(issued.key_pem)
        cert.write_bytes(issued.cert_pem)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write the DIP signing identity ({exc.strerror})") from None
    return issued.identity(), cert
