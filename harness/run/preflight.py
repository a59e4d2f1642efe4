"""Onboarding readiness (guidance 4.1), checked before any message is sent.

The DIP Manager's list: signing/mTLS certificate, primary and secondary API keys, DIP IDs, a DCP Id
when a DCP provisions the service, a webhook per enabled incoming interface, and a nominated
partner for the extended flows. Each check is a function of the profile returning findings, so a
failing run says exactly which file or key to fix; only the webhook probe touches the network.
Rules are `preflight.<check>.<what>`; findings never carry a secret value.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from harness.config.exchanges import unanswered_requests
from harness.config.profile import COUNTERPART, REFERENCE, Profile
from harness.core.catalogue import Catalogue, load_catalogue
from harness.core.errors import ConfigError
from harness.core.findings import Finding, short
from harness.dip.connection import DipUnavailable
from harness.plan.requirements import EXTENDED, PREFLIGHT_CHECKS
from harness.transport.certs import cached_key
from harness.transport.signing import SigningIdentity, sign_request
from harness.transport.tls import client_context, system_context

EXPIRY_WARNING = timedelta(days=30)
MPID = re.compile(r"^[A-Z]{4}$")
Probe = Callable[[str], list[Finding]]


def _f(rule: str, key: str, expected: str, actual: str, message: str, severity: str = "error",
       **extra: Any) -> Finding:
    return Finding(rule, key if ":" in key else f"profile:{key}", expected, short(actual), message, severity, extra)


def _reason(exc: ConfigError, profile: Profile) -> str:
    """A ConfigError's text without the profile path prefix (the finding's path says where)."""
    return str(exc).removeprefix(f"{profile.path}: ")


# --- certificates -----------------------------------------------------------------------------

def _read_certificates(path: Path, key: str, what: str) -> tuple[list[x509.Certificate], list[Finding]]:
    rule = "preflight.certificates"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], [_f(f"{rule}.unreadable", key, f"a {what} file", "not found", f"{what} file {path} not found")]
    except OSError as exc:
        return [], [_f(f"{rule}.unreadable", key, f"a readable {what} file", exc.strerror or "unreadable",
                       f"cannot read {what} file {path} ({exc.strerror})")]
    try:
        certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                 else [x509.load_der_x509_certificate(data)])
    except ValueError:
        certs = []
    if not certs:
        return [], [_f(f"{rule}.unparseable", key, "a PEM (or DER) X.509 certificate", "unparseable",
                       f"{what} file {path} holds no readable certificate")]
    return certs, []


def _validity(cert: x509.Certificate, key: str, what: str, now: datetime) -> list[Finding]:
    rule = "preflight.certificates"
    after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
    if now > after:
        return [_f(f"{rule}.expired", key, f"valid on {now:%Y-%m-%d}", f"expired {after:%Y-%m-%d}",
                   f"{what} expired on {after:%Y-%m-%d}")]
    if now < before:
        return [_f(f"{rule}.not-yet-valid", key, f"valid on {now:%Y-%m-%d}", f"valid from {before:%Y-%m-%d}",
                   f"{what} is not valid until {before:%Y-%m-%d}")]
    if after - now < EXPIRY_WARNING:
        return [_f(f"{rule}.expiring", key, f"valid for at least {EXPIRY_WARNING.days} more days",
                   f"expires {after:%Y-%m-%d}", f"{what} expires on {after:%Y-%m-%d}; renew it before certifying",
                   severity="warning")]
    return []


def _load_key(profile: Profile, key_name: str, password_name: str | None) -> tuple[Any, list[Finding]]:
    rule = "preflight.certificates"
    key = f"credentials.{key_name}"
    path = profile.credential_path(key_name)
    if path is None:
        return None, [_f(f"{rule}.key-missing", key, "a private key path", "not set", f"{key} is not set")]
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else (exc.strerror or "unreadable")
        return None, [_f(f"{rule}.key-unreadable", key, "a readable PEM private key", reason,
                         f"private key file {path}: {reason}")]
    password: bytes | None = None
    if password_name and profile.secret_ref(password_name) is not None:
        try:
            password = profile.resolve_secret(password_name).encode("utf-8")
        except ConfigError as exc:
            return None, [_f(f"{rule}.key-password", f"credentials.{password_name}", "a resolvable password",
                             "unresolvable", _reason(exc, profile))]
    try:
        private_key = serialization.load_pem_private_key(data, password)
    except TypeError:
        wanted = "a password (credentials.signing_key_password)" if password is None else "no password"
        return None, [_f(f"{rule}.key-password", key, wanted, "encrypted" if password is None else "not encrypted",
                         f"private key {path} needs {wanted}")]
    except ValueError:
        return None, [_f(f"{rule}.key-unreadable", key, "a PEM private key (and the right password)",
                         "unreadable", f"private key {path} cannot be read (not PEM, or wrong password)")]
    except Exception as exc:  # UnsupportedAlgorithm and friends: still a finding, not a traceback
        return None, [_f(f"{rule}.key-unreadable", key, "an RSA private key", type(exc).__name__,
                         f"private key {path} uses an unsupported algorithm")]
    return private_key, []


def _same_public_key(private_key: Any, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def _pair(profile: Profile, cert_name: str, key_name: str, password_name: str | None, what: str,
          now: datetime) -> list[Finding]:
    rule = "preflight.certificates"
    cert_key = f"credentials.{cert_name}"
    cert_path = profile.credential_path(cert_name)
    if cert_path is None:
        return [_f(f"{rule}.missing", cert_key, f"the path of the {what}", "not set", f"{cert_key} is not set")]
    certs, findings = _read_certificates(cert_path, cert_key, what)
    if not certs:
        return findings
    cert = certs[0]
    findings += _validity(cert, cert_key, what, now)
    private_key, key_findings = _load_key(profile, key_name, password_name)
    findings += key_findings
    if private_key is not None:
        if not _same_public_key(private_key, cert):
            findings.append(_f(f"{rule}.key-mismatch", f"credentials.{key_name}",
                               f"the private key of {cert.subject.rfc4514_string()}", "a different key",
                               f"credentials.{key_name} does not match the public key of {cert_key}"))
        elif not isinstance(private_key, rsa.RSAPrivateKey):
            findings.append(_f(f"{rule}.key-type", f"credentials.{key_name}", "an RSA key",
                               type(private_key).__name__, "the DIP signs with RSA; a non-RSA key may be refused",
                               severity="warning"))
    return findings


def check_certificates(profile: Profile, *, now: datetime | None = None) -> list[Finding]:
    """Signing certificate (and mTLS client certificate, CA if given): present, parseable, in date, key matches."""
    now = now or datetime.now(timezone.utc)
    findings = _pair(profile, "signing_certificate", "signing_key", "signing_key_password", "signing certificate", now)
    if profile.credentials.client_certificate is not None or profile.credentials.client_key is not None:
        findings += _pair(profile, "client_certificate", "client_key", None, "mTLS client certificate", now)
    ca_path = profile.credential_path("tls_ca")
    if ca_path is not None:
        cas, ca_findings = _read_certificates(ca_path, "credentials.tls_ca", "CA certificate")
        findings += ca_findings
        for ca in cas:
            findings += _validity(ca, "credentials.tls_ca", f"CA certificate {ca.subject.rfc4514_string()}", now)
    return findings


# --- API keys ---------------------------------------------------------------------------------

def check_api_keys(profile: Profile) -> list[Finding]:
    """Primary and secondary API keys (guidance 4.3): both resolvable, and not the same key twice."""
    findings: list[Finding] = []
    values: dict[str, str] = {}
    for name in ("api_key_primary", "api_key_secondary"):
        key = f"credentials.{name}"
        if profile.secret_ref(name) is None:
            findings.append(_f("preflight.api-keys.missing", key, '{env = "NAME"} or {file = "path"}', "not set",
                               f"{key} is not set; regenerate both API keys for the DIP ID in the DIP portal"))
            continue
        try:
            values[name] = profile.resolve_secret(name)
        except ConfigError as exc:
            findings.append(_f("preflight.api-keys.unresolvable", key, "a readable secret", "unresolvable",
                               _reason(exc, profile)))
    if len(values) == 2 and values["api_key_primary"] == values["api_key_secondary"]:
        findings.append(_f("preflight.api-keys.identical", "credentials.api_key_secondary",
                           "a key different from the primary", "the same key as the primary",
                           "primary and secondary API keys are identical; copy both from the DIP portal"))
    return findings


# --- identifiers ------------------------------------------------------------------------------

def _id_findings(owner: str, dip_id: str, mpid: str) -> list[Finding]:
    out: list[Finding] = []
    if not (isinstance(dip_id, str) and len(dip_id) == 10):
        out.append(_f("preflight.identifiers.dip-id", f"{owner}.dip_id", "exactly 10 characters", repr(dip_id),
                      f"{owner}.dip_id must be exactly 10 characters, got {len(str(dip_id))}"))
    elif not re.fullmatch(r"[0-9A-Fa-f]{10}", dip_id):
        out.append(_f("preflight.identifiers.dip-id", f"{owner}.dip_id",
                      "10 hexadecimal characters (IDs seen are numeric)",
                      repr(dip_id),
                      f"{owner}.dip_id {dip_id!r} is not numeric/hex; senderUniqueReference cannot carry it",
                      severity="warning"))
    if not (isinstance(mpid, str) and MPID.fullmatch(mpid)):
        out.append(_f("preflight.identifiers.mpid", f"{owner}.mpid", "4 capital letters", repr(mpid),
                      f"{owner}.mpid must be 4 capital letters, got {mpid!r}"))
    return out


def check_identifiers(profile: Profile) -> list[Finding]:
    """DIP IDs (10 characters) and MPIDs (4 capitals) of the party and the partner."""
    findings = _id_findings("party", profile.party.dip_id, profile.party.mpid)
    partner = profile.partner
    if partner is not None:
        findings += _id_findings("partner", partner.dip_id, partner.mpid)
        if partner.dip_id == profile.party.dip_id:
            findings.append(_f("preflight.identifiers.same-dip-id", "partner.dip_id",
                               f"a DIP ID other than the party's ({profile.party.dip_id})", partner.dip_id,
                               "partner.dip_id equals party.dip_id; each MPID/role pair has its own DIP ID"))
    return findings


# --- DCP --------------------------------------------------------------------------------------

def check_dcp(profile: Profile) -> list[Finding]:
    """DCP Id assigned to the DIP ID when a DIP Connection Provider provisions the service."""
    dcp_id = profile.party.dcp_id
    if dcp_id is None:
        if profile.system.supplier_is_dcp:
            who = profile.system.supplier or "the supplier"
            return [_f("preflight.dcp.missing", "party.dcp_id", "the DCP Id assigned to the DIP ID", "not set",
                       f"{who} is a DIP Connection Provider (system.supplier_is_dcp) but party.dcp_id is not set")]
        return []
    findings: list[Finding] = []
    if len(dcp_id) != 10:
        findings.append(_f("preflight.dcp.malformed", "party.dcp_id", "exactly 10 characters", repr(dcp_id),
                           f"party.dcp_id must be exactly 10 characters, got {len(dcp_id)}"))
    if dcp_id == profile.party.dip_id:
        findings.append(_f("preflight.dcp.same-as-dip-id", "party.dcp_id", "the DCP's own id", dcp_id,
                           "party.dcp_id equals party.dip_id; the DCP Id identifies the provider, not the party",
                           severity="warning"))
    return findings


# --- partner ----------------------------------------------------------------------------------

def check_partner(profile: Profile) -> list[Finding]:
    """A nominated partner (guidance 4.1) whenever an extended interface (IF-061..065) is enabled."""
    extended = [i for i in profile.enabled_interfaces if i in EXTENDED]
    if not extended:
        return []
    partner = profile.partner
    wanted = COUNTERPART[profile.role]
    if partner is None:
        return [_f("preflight.partner.missing", "partner", f"a [partner] table nominating the {wanted}", "absent",
                   f"{', '.join(extended)} enabled but no partner {wanted} nominated "
                   "([partner] dip_id, mpid, endpoint)")]
    findings: list[Finding] = []
    if partner.role != wanted:
        findings.append(_f("preflight.partner.role", "partner.role", wanted, partner.role,
                           f"an {profile.role}'s partner is an {wanted}"))
    for name in ("dip_id", "mpid", "endpoint"):
        if not str(getattr(partner, name) or "").strip():
            findings.append(_f("preflight.partner.missing", f"partner.{name}", "a value", "empty",
                               f"partner.{name} is empty"))
    endpoint = partner.endpoint or ""
    if endpoint and endpoint != REFERENCE and not re.match(r"^https?://\S+$", endpoint):
        findings.append(_f("preflight.partner.endpoint", "partner.endpoint", '"reference" or an http(s) URL',
                           endpoint, "partner.endpoint is neither \"reference\" nor an http(s) URL"))
    findings += _unanswered(profile)
    if endpoint and endpoint != REFERENCE:
        # A real partner must be able to act on the simulated DIP, or no exchange can complete.
        for name, why in (("trigger", "the harness cannot ask it to send its requests or answers"),
                          ("api_key", "the simulated DIP will refuse its submissions"),
                          ("signing_certificate", "the simulated DIP cannot verify its signatures")):
            if getattr(partner, name, None) is None:
                findings.append(_f("preflight.partner.real", f"partner.{name}", "set for a real partner", "absent",
                                   f"partner.{name} is not set: {why}", severity="warning"))
    return findings


def _unanswered(profile: Profile) -> list[Finding]:
    """An enabled request without its answer (from the exchange definitions): IF-061 without IF-062, ..."""
    out = []
    catalogue = load_catalogue()
    for request, answer, exchanges in unanswered_requests(profile.enabled_interfaces):
        other = "send" if "outgoing" in catalogue.get(answer).directions_for(profile.role) else "receive"
        out.append(_f("preflight.partner.unanswered-request", f"interfaces.{answer}",
                      f"{answer} enabled with {request}",
                      "not enabled", f"{request} is enabled but {answer} is not: an {profile.role} taking part in "
                      f"{request} must {other} {answer}, its answer in the exchange(s) {', '.join(exchanges)} "
                      f"(those are not planned); set interfaces.{answer} = \"Y\" or disable {request}"))
    return out


# --- webhooks ---------------------------------------------------------------------------------

def check_webhooks(profile: Profile, *, probe: Probe | None = None,
                   catalogue: Catalogue | None = None) -> list[Finding]:
    """A webhook for every enabled incoming interface; each distinct URL probed once when `probe` is given."""
    catalogue = catalogue or load_catalogue()
    findings: list[Finding] = []
    urls: dict[str, list[str]] = {}
    for iid in profile.enabled_interfaces:
        if "incoming" not in catalogue.get(iid).directions_for(profile.role):
            continue
        url = profile.webhook_for(iid)
        if url is None:
            findings.append(_f("preflight.webhooks.missing", f"webhooks.{iid}", "a webhook URL", "not set",
                               f"{iid} is enabled and incoming for an {profile.role} but has no webhook "
                               f"(set webhooks.{iid} or webhooks.default)"))
            continue
        urls.setdefault(url, []).append(iid)
    # The probes are independent and each bounded: run them at once, report them in profile order.
    probed: dict[str, list[Finding]] = {}
    if probe is not None and urls:
        with ThreadPoolExecutor(max_workers=min(8, len(urls)), thread_name_prefix="dipcert-probe") as pool:
            probed = dict(zip(urls, pool.map(lambda u: list(probe(u)), urls)))
    for url, interfaces in urls.items():
        if url.lower().startswith("http://"):
            findings.append(_f("preflight.webhooks.not-https", f"webhook:{url}", "an https URL", url,
                               f"the DIP delivers over https with mTLS; {url} ({', '.join(interfaces)}) is plain http",
                               severity="warning"))
        if probe is not None:
            for finding in probed[url]:
                findings.append(Finding(finding.rule, finding.path, finding.expected, finding.actual,
                                        finding.message, finding.severity,
                                        {**finding.extra, "interfaces": interfaces}))
    return findings


def _ssl_error(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def probe_webhook(url: str, *, identity: Any, ca: Path | str | None = None,
                  client_cert: tuple[Path | str, Path | str] | None = None,
                  timeout: float = 10.0) -> list[Finding]:
    """POST a signed empty array to `url`, as the DIP would deliver: TLS must hold and no 5xx come back.

    A 2xx or 4xx answer is fine (an empty array is not a message; the probe's certificate is not the
    DIP's); a connection error, TLS failure, timeout or 5xx is a finding.
    """
    path = f"webhook:{url}"
    body = b"[]"

    context = system_context()  # plain http: no TLS to set up (building a context costs 15-40 ms)
    if url.lower().startswith("https:"):
        try:
            context = client_context(ca=ca, cert=client_cert[0] if client_cert else None,
                                     key=client_cert[1] if client_cert else None)
        except (ConfigError, OSError, ssl.SSLError) as exc:
            return [_f("preflight.webhooks.tls", path, "a readable CA / client certificate", short(str(exc)),
                       f"cannot set up TLS for the probe: {exc}")]
    headers = {"Content-Type": "application/json", **sign_request("POST", url, body, identity)}
    try:
        with httpx.Client(verify=context, timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return [_f("preflight.webhooks.timeout", path, f"an answer within {timeout:g} s", "timeout",
                   f"webhook {url} did not answer within {timeout:g} s")]
    except httpx.HTTPError as exc:
        tls = _ssl_error(exc)
        if tls is not None and client_cert is None and "CERTIFICATE_REQUIRED" in str(tls).upper():
            # The server certificate was trusted and the webhook wants a client certificate: the DIP's,
            # which this probe cannot present. The DIP's own leg is checked by its tls-probe.
            return [_f("preflight.webhooks.client-certificate-required", path, "an answer to the probe",
                       "a client certificate asked for", f"webhook {url} asks for a client certificate (mTLS): "
                       "only the DIP's can reach it, so this probe stops at the handshake; the DIP's own TLS "
                       "to it is checked separately", severity="warning")]
        if tls is not None:
            return [_f("preflight.webhooks.tls", path, "a TLS handshake with a trusted server certificate",
                       short(str(tls)), f"TLS handshake with {url} failed: {short(str(tls), 160)} "
                       "(set credentials.tls_ca to the CA of the webhook's certificate)")]
        return [_f("preflight.webhooks.unreachable", path, "a listening webhook", type(exc).__name__,
                   f"webhook {url} is unreachable: {short(str(exc) or type(exc).__name__, 160)}")]
    status = response.status_code
    if status >= 500:
        return [_f("preflight.webhooks.server-error", path, "a status below 500 for an empty array", str(status),
                   f"webhook {url} answered a signed empty array with HTTP {status}")]
    if 300 <= status < 400:
        return [_f("preflight.webhooks.redirect", path, "a direct answer", str(status),
                   f"webhook {url} redirects (HTTP {status}); register the final URL with the DIP",
                   severity="warning")]
    return []


def probe_identity(common_name: str = "dipcert preflight probe") -> Any:
    """A throwaway self-signed RSA signer for the probe; the webhook need not trust it (4xx is fine)."""
    key = cached_key("preflight-probe")  # throwaway all the same: nobody trusts it, so one per process does
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return SigningIdentity.from_key_and_cert(key, cert)


def default_probe(profile: Profile) -> Probe:
    """Probe with a throwaway signer, trusting credentials.tls_ca, bounded by harness.timeout."""
    identity = None
    ca = profile.credential_path("tls_ca")

    def probe(url: str) -> list[Finding]:
        nonlocal identity
        identity = identity or probe_identity()
        return probe_webhook(url, identity=identity, ca=ca if ca is not None and ca.is_file() else None,
                             timeout=profile.harness.timeout)

    return probe


# --- both legs through the DIP (in a run, with its DIP session) ----------------------------------

def check_dip_connection(hub: Any, profile: Profile) -> list[Finding]:
    """Party -> DIP: a new connection with the profile's client certificate (mTLS), an authenticated call
    of the party: the DIP's server certificate trusted, the client certificate and API key accepted."""
    url = hub.base_url
    caller = hub.caller.fresh()
    try:
        response = caller.call("GET", f"/dipcert/v1/sessions/{hub.session}/records",
                               params={"after": 2 ** 62, "wait": 0})
    except DipUnavailable as exc:
        text = str(exc)
        tls = any(w in text.upper() for w in ("SSL", "CERTIFICATE", "TLS", "HANDSHAKE"))
        hint = "" if profile.credentials.client_certificate else \
            " (the profile names no credentials.client_certificate: a DIP that demands mTLS refuses the connection)"
        return [_f("preflight.certificates.dip-tls" if tls else "preflight.certificates.dip-unreachable",
                   "credentials.client_certificate", f"a TLS connection to the DIP at {url}", short(text),
                   f"the party cannot reach the DIP at {url}: {short(text, 200)}{hint if tls else ''}")]
    finally:
        caller.close()
    status = response.status_code
    if status == 200:
        return []
    if status == 403 and "client certificate" in response.text:
        return [_f("preflight.certificates.dip-client-certificate", "credentials.client_certificate",
                   "the client certificate the DIP registered for the party", f"HTTP {status}",
                   f"the DIP at {url} refused the party's client certificate: {short(response.text, 200)}")]
    return [_f("preflight.certificates.dip-auth", "credentials.api_key_primary", "the party's call accepted",
               f"HTTP {status}", f"the DIP at {url} refused the party's authenticated call (API key, signature): "
               f"{short(response.text, 200)}")]


def check_dip_deliveries(hub: Any, profile: Profile, catalogue: Catalogue | None = None) -> list[Finding]:
    """DIP -> webhook: for every https webhook the DIP delivers to, the DIP opens TLS with the client
    certificate it delivers with (a `tls-probe`: no message sent) and says how the handshake went."""
    catalogue = catalogue or load_catalogue()
    me = profile.party.dip_id
    urls: dict[str, str] = {}
    for iid in profile.enabled_interfaces:
        if "incoming" not in catalogue.get(iid).directions_for(profile.role):
            continue
        hook = hub.webhook(me, iid)
        url = hook.callback_url if hook is not None else profile.webhook_for(iid)
        if url and url.lower().startswith("https://"):
            urls.setdefault(url, iid)
    findings = []
    for url, iid in urls.items():
        answer = hub.probe(iid, me, "tls-probe", []).answer
        error = answer.get("error")
        if answer.get("outcome") in ("ok", "not-tls") or not error:
            continue
        if answer.get("client_cert_required") and not answer.get("client_cert_presented"):
            findings.append(_f("preflight.webhooks.no-dip-client-certificate", f"webhook:{url}",
                               "a client certificate the DIP presents", "none",
                               f"webhook {url} ({iid}) asked for a client certificate and the DIP presented none: "
                               f"the DIP cannot deliver to it (the DIP's operator must give the DIP a client "
                               f"certificate, or the webhook must not demand one)", interfaces=[iid]))
        else:
            findings.append(_f("preflight.webhooks.dip-tls", f"webhook:{url}", "a TLS connection from the DIP",
                               short(str(error)), f"the DIP could not open TLS to webhook {url} ({iid}): "
                               f"{short(str(error), 200)} (register credentials.tls_ca with the DIP: the CA of the "
                               f"webhook's certificate)", interfaces=[iid]))
    return findings


# --- all together -----------------------------------------------------------------------------

def run_preflight(profile: Profile, *, probe: Probe | bool | None = None,
                  now: datetime | None = None) -> dict[str, list[Finding]]:
    """Every 4.1 check, in plan order. `probe`: None probes webhooks for real, False skips, a callable replaces."""
    if probe is None or probe is True:
        probe_fn: Probe | None = default_probe(profile)
    else:
        probe_fn = probe or None
    results = {
        "certificates": check_certificates(profile, now=now),
        "api-keys": check_api_keys(profile),
        "identifiers": check_identifiers(profile),
        "webhooks": check_webhooks(profile, probe=probe_fn),
        "dcp": check_dcp(profile),
        "partner": check_partner(profile),
    }
    assert list(results) == list(PREFLIGHT_CHECKS)
    return results
