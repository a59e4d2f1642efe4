"""Is the production configuration usable? Checked from the production profile, without a business message.

Preflight's checks (guidance 4.1) are reused where they already say it: API keys, identifiers, the
DCP Id, certificates readable and matching their keys, the signed empty probe of every webhook. On
top of them promotion asks more, because production is not a rehearsal: every certificate issued by
a CA the DIP Manager trusts (`--trust`) and valid for at least the stated margin; every webhook on
https (plain http is an error here, a warning in preflight); and the same system as certified.
Rules are `promote.<check>.<what>` for what promotion adds, preflight's own rules otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509

from harness.config.fingerprint import differences as fingerprint_differences
from harness.config.fingerprint import system_fingerprint
from harness.config.profile import Profile
from harness.core.findings import Finding, short
from harness.evidence.bundle import certificate_fingerprint
from harness.evidence.origin import issued_by_any
from harness.promotion.differences import PRODUCTION_ENVIRONMENT
from harness.run.preflight import (
    Probe,
    check_api_keys,
    check_certificates,
    check_dcp,
    check_identifiers,
    check_webhooks,
    default_probe,
)

# The certificates a production profile may name: (credentials key, what it is).
CERTIFICATES = (("signing_certificate", "signing certificate"), ("client_certificate", "mTLS client certificate"))
CHECKS = ("environment", "system", "identifiers", "api-keys", "certificates", "dcp", "webhooks")


def _f(rule: str, key: str, expected: str, actual: Any, message: str, severity: str = "error") -> Finding:
    return Finding(rule, key if ":" in key else f"profile:{key}", expected, short(actual), message, severity)


def check_environment(production: Profile) -> list[Finding]:
    """A production profile names the production environment (the environmentTag its messages carry)."""
    if production.environment == PRODUCTION_ENVIRONMENT:
        return []
    return [_f("promote.environment.not-production", "environment", f'"{PRODUCTION_ENVIRONMENT}"',
               production.environment, f'the profile is for {production.environment}, not production: set '
               f'environment = "{PRODUCTION_ENVIRONMENT}" in the production profile')]


def check_system(production: Profile, certified_fingerprint: Mapping[str, Any] | None) -> list[Finding]:
    """The same system as certified: every identity field of the fingerprint but the endpoint certificates
    (production webhooks are other hosts, presenting other certificates by nature)."""
    if not isinstance(certified_fingerprint, Mapping):
        return [_f("promote.system.unknown", "bundle:run.system_fingerprint", "the certified system's fingerprint",
                   "absent", "the certification bundle records no system fingerprint: which system was certified "
                   "is unknown")]
    now = system_fingerprint(production)
    return [_f("promote.system.differs", f"system.{d.field}" if d.field != "role" else "party.role",
               short(d.earlier), d.now, f"not the certified system: {d.field} is {d.now!r} in production, "
               f"{d.earlier!r} when certified")
            for d in fingerprint_differences(certified_fingerprint, now) if d.field != "endpoint_certificates"]


def check_production_certificates(profile: Profile, trust: Sequence[x509.Certificate], margin: timedelta,
                                  now: datetime) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Preflight's certificate checks (present, readable, in date, matching the key) plus: issued by a
    CA in `trust`, and valid for at least `margin` more. Also returns what each certificate is, for the record."""
    findings = [f for f in check_certificates(profile, now=now) if f.rule != "preflight.certificates.expiring"]
    seen: list[dict[str, Any]] = []
    for name, what in CERTIFICATES:
        path = profile.credential_path(name)
        if path is None or not path.is_file():
            continue  # preflight's findings already say it is missing or unreadable
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            continue  # ditto: unparseable
        key = f"credentials.{name}"
        anchor = issued_by_any(cert, trust)
        seen.append({"key": key, "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                     "fingerprint": certificate_fingerprint(cert), "not_after": cert.not_valid_after_utc.isoformat(),
                     "trusted_by": anchor.subject.rfc4514_string() if anchor is not None else None})
        if anchor is None:
            findings.append(_f("promote.certificates.untrusted", key, "issued by a CA given with --trust",
                               cert.issuer.rfc4514_string(), f"the {what} ({cert.subject.rfc4514_string()}) is "
                               f"issued by {cert.issuer.rfc4514_string()}, not by a CA the DIP Manager trusts "
                               f"(--trust)"))
        after = cert.not_valid_after_utc
        if now <= after < now + margin:
            findings.append(_f("promote.certificates.expiring", key, f"valid for at least {margin.days} more days",
                               f"expires {after:%Y-%m-%d}", f"the {what} expires on {after:%Y-%m-%d}, within the "
                               f"{margin.days}-day margin (--margin-days): renew it before promoting"))
    return findings, seen


def check_production_webhooks(profile: Profile, probe: Probe | None) -> list[Finding]:
    """Preflight's webhook check with its signed empty probe; plain http is an error in production."""
    out = []
    for f in check_webhooks(profile, probe=probe):
        if f.rule == "preflight.webhooks.not-https":
            f = Finding("promote.webhooks.not-https", f.path, f.expected, f.actual,
                        f"{f.message}: production webhooks must be reachable over TLS", "error", f.extra)
        out.append(f)
    return out


def check_production(profile: Profile, *, certified_fingerprint: Mapping[str, Any] | None,
                     trust: Sequence[x509.Certificate], margin: timedelta, probe: Probe | bool | None = None,
                     now: datetime | None = None) -> tuple[dict[str, list[Finding]], list[dict[str, Any]]]:
    """check name (CHECKS) -> findings, and the production certificates as the record lists them.
    `probe`: None probes the webhooks for real (as preflight), False skips, a callable replaces."""
    now = now or datetime.now(timezone.utc)
    probe_fn = default_probe(profile) if probe is None or probe is True else (probe or None)
    certificates, seen = check_production_certificates(profile, trust, margin, now)
    results = {
        "environment": check_environment(profile),
        "system": check_system(profile, certified_fingerprint),
        "identifiers": [f for f in check_identifiers(profile) if f.path.startswith("profile:party.")],
        "api-keys": check_api_keys(profile),
        "certificates": certificates,
        "dcp": check_dcp(profile),
        "webhooks": check_production_webhooks(profile, probe_fn),
    }
    assert tuple(results) == CHECKS
    return results, seen
