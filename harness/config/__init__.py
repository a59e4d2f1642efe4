"""What a participant declares and what the harness reads as data: the profile, the system
fingerprint, the exchange definitions."""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.config.exchanges import (
    CONSUMPTION_RULES,
    MPANS,
    QUIET_WINDOW,
    UTC,
    Exchange,
    Step,
    bundled_exchanges,
    exchange_enabled,
    exchange_named,
    resolve_fields,
    step_enabled,
    unanswered_requests,
)
from harness.config.fingerprint import covers_interface, differences, probe_endpoint_certificates, system_fingerprint
from harness.config.profile import (
    COUNTERPART,
    DOCUMENT_KEYS,
    OPERATING_MODELS,
    PARTNER_API_KEY,
    REFERENCE,
    Credentials,
    Profile,
    SecretRef,
    Trigger,
    load_profile,
    normalise_interface_id,
    parse_profile,
    public_digest,
)

__all__ = [
    "CONSUMPTION_RULES", "COUNTERPART", "Credentials", "DOCUMENT_KEYS", "Exchange", "MPANS", "OPERATING_MODELS",
    "PARTNER_API_KEY", "Profile", "QUIET_WINDOW", "REFERENCE", "SecretRef", "Step", "Trigger", "UTC",
    "bundled_exchanges", "covers_interface", "differences", "exchange_enabled", "exchange_named", "load_profile",
    "normalise_interface_id", "parse_profile", "probe_endpoint_certificates", "public_digest", "resolve_fields",
    "step_enabled", "system_fingerprint", "unanswered_requests",
]
