"""Re-validation of the captured DIP messages (harness/evidence/revalidate.py), called directly.

test_verify.py drives it through whole bundles whose messages are valid; here each recorded channel,
the pack the reviewer chose, an empty body and a body too deep to parse are checked alone (issue 21:
no test could tell a revalidator that validated nothing from the real one).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from harness.core.findings import Finding
from harness.evidence.revalidate import CHANNEL_FORMS, make_revalidator
from harness.messages.samples import SampleFactory
from harness.messages.schemapack import load_pack
from harness.messages.validate import validate_body

NOW = datetime(2025, 3, 12, 10, 0, tzinfo=timezone.utc)


class Watched:
    """The bundled pack, noting every use: shows the revalidator validates with the pack it was given."""

    def __init__(self, pack: Any) -> None:
        self._pack, self.used = pack, 0

    def __getattr__(self, name: str) -> Any:
        self.used += 1
        return getattr(self._pack, name)


@pytest.fixture(scope="module")
def bodies() -> dict[str, bytes]:
    factory = SampleFactory(21, now=NOW)
    item = factory.message("IF-061", "MDRStart")
    return {"ingress": json.dumps([item]).encode(), "egress": json.dumps([factory.egress(item)]).encode()}


def test_each_recorded_channel_is_validated_as_the_form_it_carries(bodies) -> None:
    assert CHANNEL_FORMS == {"hub-inbound": "ingress", "webhook-delivery": "egress", "hub-outbound": "egress"}
    pack = load_pack(None)
    revalidate = make_revalidator(pack)
    for channel, form in CHANNEL_FORMS.items():
        assert revalidate({"channel": channel}, bodies[form]) == [], channel
        if form == "egress":  # a message as sent to the DIP lacks what the DIP adds (D0): not a delivery
            wrong = revalidate({"channel": channel}, bodies["ingress"])
            assert wrong == validate_body(bodies["ingress"], form="egress", pack=pack) != [], channel
        assert revalidate({"channel": channel}, b"{") == validate_body(b"{", form=form, pack=pack)
    for record in ({"channel": "api"}, {"channel": None}, {}, {"channel": "HUB-INBOUND"}):
        assert revalidate(record, b"not json") == [], record  # not a DIP message exchange: nothing to say
    assert revalidate({"channel": "hub-inbound"}, b"") == []  # no body (a GET, a refused connection)


def test_the_pack_the_reviewer_chose_is_the_one_used(bodies) -> None:
    watched = Watched(load_pack(None))
    assert make_revalidator(watched)({"channel": "hub-inbound"}, bodies["ingress"]) == []
    assert watched.used > 0


def test_a_body_too_deep_to_parse_is_a_finding_not_a_crash() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    assert make_revalidator(load_pack(None))({"channel": "webhook-delivery"}, deep) == [Finding(
        "json.depth", "", "a DIP message of ordinary depth", "nested too deeply to parse",
        "the message body nests too deeply to be parsed or validated")]
