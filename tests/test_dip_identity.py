"""The DIP's identity folder: made once (under a lock), reused, completed, never half-replaced."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509

from harness.core.errors import ConfigError
from harness.dip.identity import CERT, HOME_ENV, KEY, PARTS, default_folder, dip_folder, load_identity, load_or_create

PROFILES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_made_once_with_private_keys_0600(tmp_path):
    first = load_identity(tmp_path / "dip")
    again = load_identity(tmp_path / "dip")
    assert first.signing.fingerprint() == again.signing.fingerprint()
    for cert, key in [*PARTS.values(), (CERT, KEY)]:
        assert (tmp_path / "dip" / cert).is_file() and _mode(tmp_path / "dip" / key) == 0o600
    server = x509.load_pem_x509_certificate(first.path("tls-server").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_concurrent_creation_makes_one_identity(tmp_path):
    found: list[str] = []

    def make() -> None:
        found.append(load_identity(tmp_path / "dip").signing.fingerprint())

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(found) == 4 and len(set(found)) == 1


def test_an_older_signing_only_folder_keeps_its_key_and_gains_tls(tmp_path):
    identity, cert = load_or_create(tmp_path / "dip")
    assert not (tmp_path / "dip" / "tls-server.pem").exists()  # a run alone makes only the signing pair
    full = load_identity(tmp_path / "dip", names=["hub.example.org"])
    assert full.signing.fingerprint() == identity.fingerprint() and cert == full.signing_certificate
    server = x509.load_pem_x509_certificate(full.path("tls-server").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "hub.example.org" in names.get_values_for_type(x509.DNSName)


def test_half_a_pair_is_an_error_not_a_new_key(tmp_path):
    load_or_create(tmp_path / "dip")
    (tmp_path / "dip" / KEY).unlink()
    with pytest.raises(ConfigError, match="only one of dip-signing.pem and dip-signing.key"):
        load_or_create(tmp_path / "dip")


def test_client_certificates_come_from_the_client_ca(tmp_path):
    identity = load_identity(tmp_path / "dip")
    issued = identity.issue_client("1234567890")
    client_ca = x509.load_pem_x509_certificate(identity.path("client-ca").read_bytes())
    assert issued.cert.issuer == client_ca.subject
    issued.cert.verify_directly_issued_by(client_ca)


MAKE = ("import sys\nfrom harness.dip.identity import dip_folder, load_or_create\n"
        "identity, _ = load_or_create(dip_folder(sys.argv[1] if len(sys.argv) > 1 else None))\n"
        "print(identity.fingerprint())\n")


def test_processes_making_it_at_once_make_one_identity(tmp_path):
    """Two first runs into one place (the issue saw 4 races in 6 trials): the lock makes one identity.
    Processes, not threads: fcntl locks are per open file description, so this is the real case."""
    env = {**os.environ, HOME_ENV: str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-c", MAKE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(5)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    prints = {out.strip() for out, _ in outs}
    assert len(prints) == 1
    made = load_identity(tmp_path / "home" / "dip", tls=False)
    assert prints == {made.signing.fingerprint()}


def test_one_documented_place_shared_by_every_route(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "dipcert"))
    assert default_folder() == tmp_path / "dipcert" / "dip" == dip_folder(None)
    assert dip_folder(tmp_path / "elsewhere") == tmp_path / "elsewhere"  # --dip-key / --dipcert-dip-key
    monkeypatch.delenv(HOME_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_folder() == tmp_path / "user" / ".dipcert" / "dip"


def test_dipcert_run_keeps_it_in_the_shared_place_not_under_out(tmp_path, monkeypatch):
    """The trap of the issue: a run into another --out made another key, and a webhook that pinned the first
    refused everything. The identity is made before the party's certificate is read (this profile's is
    missing: exit 2), in DIPCERT_HOME, never under --out."""
    from harness.cli import main

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert main(["run", "--profile", str(PROFILES / "mdr-example.toml"), "--out", str(tmp_path / "out")]) == 2
    assert (tmp_path / "home" / "dip" / CERT).is_file()
    assert not (tmp_path / "out" / ".dip").exists()
