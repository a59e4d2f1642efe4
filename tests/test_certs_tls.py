"""Run-time certificates and TLS/mTLS contexts, proved with a real HTTPS server on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from harness.core.errors import ConfigError
from harness.transport import certs
from harness.transport.tls import client_context, peer_certificate_sha256, server_context

TIMEOUT = 5.0


def sha256(cert: x509.Certificate) -> str:
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()


@pytest.fixture(scope="module")
def ca():
    return certs.make_ca("dipcert TLS test CA", key=certs.cached_key("test-ca"))


@pytest.fixture(scope="module")
def other_ca():
    return certs.make_ca("rogue CA", key=certs.cached_key("test-other-ca"))


@pytest.fixture(scope="module")
def files(tmp_path_factory, ca, other_ca):
    """Server, client and rogue-client PEM files; one key per role, reused."""
    folder = tmp_path_factory.mktemp("tls")
    server = ca.issue("hub", client=False, key=certs.cached_key("test-server"))
    client = ca.issue("participant", server=False, sans=(), key=certs.cached_key("test-leaf"))
    rogue = other_ca.issue("participant", server=False, sans=(), key=certs.cached_key("test-other-leaf"))
    return {
        "ca": ca.write(folder), "other_ca": other_ca.write(folder, "other-ca"),
        "server": server.write(folder, "server"), "client": client.write(folder, "client"),
        "rogue": rogue.write(folder, "rogue"), "server_cert": server.cert, "client_cert": client.cert,
        "folder": folder,
    }


@contextmanager
def serving(context: ssl.SSLContext, seen: list[str]) -> Iterator[str]:
    """A werkzeug HTTPS server on 127.0.0.1 answering with the client certificate's fingerprint;
    ``seen`` records every request that reached the application."""

    @Request.application
    def app(request: Request) -> Response:
        fingerprint = peer_certificate_sha256(request.environ) or "none"
        seen.append(fingerprint)
        return Response(fingerprint)

    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    ready = threading.Event()

    def serve() -> None:
        ready.set()
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(TIMEOUT)
    try:
        yield f"https://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
        server.server_close()


@pytest.fixture(scope="module")
def seen() -> list[str]:
    return []


@pytest.fixture(scope="module")
def mtls_server(files, seen) -> Iterator[str]:
    with serving(server_context(*files["server"], client_ca=files["ca"]), seen) as url:
        yield url


# --- certificates ---------------------------------------------------------------------------------

def test_issued_certificate_contents(ca):
    leaf = ca.issue("hub", key=certs.cached_key("test-server"))
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usages = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.cert.verify_directly_issued_by(ca.cert)
    assert leaf.cert.public_key().key_size == 2048
    client_only = ca.issue("c", server=False, key=certs.cached_key("test-leaf"))
    assert list(client_only.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_validity_window(ca):
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    leaf = ca.issue("later", key=certs.cached_key("test-leaf"), not_before=start,
                    not_after=start + timedelta(days=2))
    assert leaf.cert.not_valid_before_utc == start
    assert leaf.cert.not_valid_after_utc == start + timedelta(days=2)
    now = datetime.now(timezone.utc)
    default = ca.issue("now", key=certs.cached_key("test-leaf"))
    assert default.cert.not_valid_before_utc <= now <= default.cert.not_valid_after_utc


def test_written_files_and_key_mode(tmp_path, ca):
    leaf = ca.issue("p", key=certs.cached_key("test-leaf"))
    cert_path, key_path = leaf.write(tmp_path / "sub", "party")
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == leaf.cert
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert serialization.load_pem_private_key(key_path.read_bytes(), None).private_numbers() == \
        leaf.key.private_numbers()
    _, locked = leaf.write(tmp_path, "locked", password="pw")
    assert b"ENCRYPTED" in locked.read_bytes()
    p12 = leaf.write_pkcs12(tmp_path / "p.p12", "pw")
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    assert ca.write(tmp_path).read_bytes() == ca.cert_pem
    assert "PRIVATE" not in repr(leaf) and "PRIVATE" not in repr(ca)
    assert leaf.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_cached_key_is_reused():
    assert certs.cached_key("test-leaf") is certs.cached_key("test-leaf")
    assert certs.cached_key("test-leaf") is not certs.cached_key("test-ca")


# --- mTLS ------------------------------------------------------------------------------------------

def test_mtls_client_with_certificate_from_the_ca_connects(files, mtls_server):
    context = client_context(ca=files["ca"], cert=files["client"][0], key=files["client"][1])
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        with client.stream("GET", mtls_server) as response:  # the connection is open until closed
            assert peer_certificate_sha256(response) == sha256(files["server_cert"])  # we saw its cert
            assert response.read().decode() == sha256(files["client_cert"])  # the server saw ours
        assert response.status_code == 200


def _refused(context, url: str, seen: list[str]) -> None:
    before = len(seen)
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        # TLS 1.3: the server's alert (certificate required / unknown CA) arrives on the first read
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError,
                            httpx.WriteError)):
            client.get(url)
    assert len(seen) == before  # the request never reached the application


def test_mtls_client_without_certificate_is_refused(files, mtls_server, seen):
    _refused(client_context(ca=files["ca"]), mtls_server, seen)


def test_mtls_client_with_certificate_from_another_ca_is_refused(files, mtls_server, seen):
    _refused(client_context(ca=files["ca"], cert=files["rogue"][0], key=files["rogue"][1]), mtls_server, seen)


def test_client_verifying_against_the_wrong_ca_refuses_the_server(files, mtls_server, seen):
    context = client_context(ca=files["other_ca"], cert=files["client"][0], key=files["client"][1])
    before = len(seen)
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(mtls_server)
    assert len(seen) == before


def test_client_checks_the_host_name(files, mtls_server, ca, tmp_path):
    context = client_context(ca=files["ca"], cert=files["client"][0], key=files["client"][1])
    assert context.check_hostname and context.minimum_version == ssl.TLSVersion.TLSv1_2
    as_localhost = {"sni_hostname": "localhost"}  # connect to 127.0.0.1, verify the name "localhost"
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        assert client.get(mtls_server, extensions=as_localhost).status_code == 200
        with pytest.raises(httpx.ConnectError, match="mismatch|doesn't match"):
            client.get(mtls_server, extensions={"sni_hostname": "elsewhere.example"})
    named_only = ca.issue("hub", sans=("localhost",), key=certs.cached_key("test-server"))
    with serving(server_context(*named_only.write(tmp_path, "named")), []) as url:
        with httpx.Client(verify=context, timeout=TIMEOUT) as client:
            with pytest.raises(httpx.ConnectError, match="IP address mismatch"):
                client.get(url)
            assert client.get(url, extensions=as_localhost).status_code == 200


def test_server_context_without_client_ca_accepts_anonymous_clients(files, ca):
    context = server_context(*files["server"])
    assert context.verify_mode.name == "CERT_NONE"
    assert server_context(*files["server"], client_ca=files["ca"]).verify_mode.name == "CERT_REQUIRED"
    assert server_context(*files["server"], client_ca=ca.cert_pem).verify_mode.name == "CERT_REQUIRED"


def test_peer_certificate_sha256_forms(ca):
    cert = ca.cert
    der = cert.public_bytes(serialization.Encoding.DER)
    expected = sha256(cert)
    assert peer_certificate_sha256(cert) == expected
    assert peer_certificate_sha256(der) == expected
    assert peer_certificate_sha256(ca.cert_pem.decode()) == expected
    assert peer_certificate_sha256({"SSL_CLIENT_CERT": ca.cert_pem.decode()}) == expected
    assert peer_certificate_sha256({}) is None
    assert peer_certificate_sha256(None) is None
    with pytest.raises(TypeError):
        peer_certificate_sha256(42)


# --- configuration mistakes ------------------------------------------------------------------------

def test_context_file_errors_name_the_file(files, ca, tmp_path):
    cert_path, key_path = files["server"]
    with pytest.raises(ConfigError, match="missing.crt: certificate file not found"):
        server_context(tmp_path / "missing.crt", key_path)
    with pytest.raises(ConfigError, match="server.key: not a PEM certificate"):
        server_context(key_path, key_path)
    with pytest.raises(ConfigError, match="missing.key: private key file not found"):
        server_context(cert_path, tmp_path / "missing.key")
    with pytest.raises(ConfigError, match="client.key: private key does not match"):
        server_context(cert_path, files["client"][1])
    with pytest.raises(ConfigError, match="server.crt: not a usable PEM private key"):
        server_context(cert_path, cert_path)
    with pytest.raises(ConfigError, match="nope.pem: CA certificate file not found"):
        server_context(cert_path, key_path, client_ca=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match="client.key: not a PEM CA certificate"):
        client_context(ca=files["client"][1])
    with pytest.raises(ConfigError, match="needs its certificate"):
        client_context(key=files["client"][1])


def test_encrypted_key_password(files, ca, tmp_path):
    leaf = ca.issue("hub", client=False, key=certs.cached_key("test-server"))
    cert_path, key_path = leaf.write(tmp_path, "locked", password="tls-pw-1")
    assert server_context(cert_path, key_path, password="tls-pw-1").verify_mode.name == "CERT_NONE"
    with pytest.raises(ConfigError) as exc:
        server_context(cert_path, key_path, password="wrong-pw-9")
    text = str(exc.value)
    assert "locked.key" in text and "password" in text and "wrong-pw-9" not in text and "\n" not in text
    with pytest.raises(ConfigError, match="locked.key: private key is encrypted; a password is needed"):
        server_context(cert_path, key_path)  # never an interactive OpenSSL prompt
