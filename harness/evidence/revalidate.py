"""Re-validating the DIP messages a bundle captured, with the schema pack the reviewer chooses.

Why a hook and not a call inside the checker: the checker knows records, not message forms; this
module knows which recorded channel carries which form of DIP message. A body that cannot even be
parsed (deeply nested JSON sent by a hostile participant, say) is a finding against that message,
never a crash of the verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.core.findings import Finding
from harness.messages.validate import validate_body

#: Which form of DIP message each recorded HTTP channel carries (recorder channel names).
CHANNEL_FORMS = {"hub-inbound": "ingress", "webhook-delivery": "egress", "hub-outbound": "egress"}

Revalidate = Callable[[Mapping[str, Any], bytes], list[Finding]]


def make_revalidator(pack: Any) -> Revalidate:
    """Re-validates the request body of every recorded DIP message exchange with `pack`."""

    def revalidate(record: Mapping[str, Any], body: bytes) -> list[Finding]:
        form = CHANNEL_FORMS.get(str(record.get("channel", "")))
        if form is None or not body:
            return []
        try:
            return validate_body(body, form=form, pack=pack)  # type: ignore[arg-type]
        except RecursionError:
            return [Finding("json.depth", "", "a DIP message of ordinary depth", "nested too deeply to parse",
                            "the message body nests too deeply to be parsed or validated")]

    return revalidate
