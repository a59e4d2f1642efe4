"""Transport: how messages travel: X-DIP signatures, certificates and TLS, API keys, HTTP clients.

The DIP's wire conventions (headers, StandardResponse codes) live here so the DIP, the reference
participants and the run all speak them the same way.
"""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.transport.apikeys import API_KEY_HEADER, generate_api_key, key_fingerprint, read_api_key
from harness.transport.certs import CertificateAuthority, IssuedCert, cached_key, make_ca, new_key
from harness.transport.client import DipClient, SubmitResult
from harness.transport.delivery import (
    MAX_RESPONSE_BYTES,
    Attempt,
    DeliveryResult,
    Outcome,
    Signer,
    Timeouts,
    WebhookConfig,
    classify_attempt,
    conclude,
    deliver,
    split_batches,
    wire_text,
)
from harness.transport.ports import free_port
from harness.transport.requestlog import request_handler
from harness.transport.responses import (
    CODE_PATTERN,
    SUCCESS_CODES,
    load_code_table,
    parse_standard_response,
    response_entry,
    standard_response,
)
from harness.transport.signing import (
    DEFAULT_SKEW,
    SIGNATURE,
    SIGNATURE_CERTIFICATE,
    SIGNATURE_DATE,
    SIGNATURE_HEADERS,
    SigningIdentity,
    certificate_fingerprint,
    sign_request,
    verify_request,
)
from harness.transport.tls import client_context, peer_certificate_sha256, server_context, system_context

__all__ = [
    "API_KEY_HEADER", "Attempt", "CODE_PATTERN", "CertificateAuthority", "DEFAULT_SKEW", "DeliveryResult",
    "DipClient", "IssuedCert", "MAX_RESPONSE_BYTES", "Outcome", "SIGNATURE", "SIGNATURE_CERTIFICATE",
    "SIGNATURE_DATE", "SIGNATURE_HEADERS", "SUCCESS_CODES", "Signer", "SigningIdentity", "SubmitResult", "Timeouts",
    "WebhookConfig", "cached_key", "certificate_fingerprint", "classify_attempt", "client_context", "conclude",
    "deliver", "free_port", "generate_api_key", "key_fingerprint", "load_code_table", "make_ca", "new_key",
    "parse_standard_response", "peer_certificate_sha256", "read_api_key", "request_handler", "response_entry",
    "server_context", "sign_request", "split_batches", "standard_response", "system_context", "verify_request",
    "wire_text",
]
