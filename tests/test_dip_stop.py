"""Stopping the hub: its delivery workers end (bounded by one attempt) before the hub's storage and the
run's recorder may close, and a delivery cut short stays pending, made again by the next start."""

from __future__ import annotations

import json
import logging
import threading
import time

from dipkit import MDR, SDS, WAIT, Webhook, api, keys_for, make_hub, make_pki, registration, sample

from harness.dip.config import DeliverySettings
from harness.dip.transcript import HUB_CHAIN
from harness.transport.delivery import Timeouts, WebhookConfig

logging.getLogger("werkzeug").setLevel(logging.ERROR)
BACKOFF = 60.0  # far longer than stop may take: a worker that waits it out outlives stop()


def _deliveries(hub) -> list[dict]:
    return [r for r in hub.transcript.records(HUB_CHAIN) if r["kind"] == "delivery"]


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("dipcert-hub-deliver") and t.is_alive()]


def test_stop_ends_a_retrying_delivery_and_nothing_is_written_after_it(tmp_path):
    pki = make_pki()
    hook = Webhook(answers=[503] * 10)
    delivery = DeliverySettings(timeouts=Timeouts(connect=1, read=2, write=1, pool=1, total=3), retries=5,
                                backoff=(BACKOFF, BACKOFF))
    state = tmp_path / "state"
    hub = make_hub(pki, registration(pki, MDR, webhooks={"IF-061": WebhookConfig(hook.url)}), registration(pki, SDS),
                   delivery=delivery, state=state).start()
    try:
        with api(hub, pki["SDS"], keys_for(SDS.dip_id)[0]) as sds:
            assert sds.submit("IF-061", sample(seed=3)).status == 201
        hook.wait_calls(1)
        after = 0
        deadline = time.monotonic() + WAIT
        while not _deliveries(hub):  # the first attempt's record (503: a retry would follow after BACKOFF)
            assert hub.transcript.wait(HUB_CHAIN, after, max(0.0, deadline - time.monotonic())), "no delivery record"
            after = hub.transcript.head(HUB_CHAIN)[0]
        assert [(r["attempt"], r["final"]) for r in _deliveries(hub)] == [(1, False)]
        started = time.monotonic()
        hub.stop()
        took = time.monotonic() - started
    finally:
        hub.stop()
        hook.close()
    # stop did not wait out the backoff (nor leave a worker to do so): the worker is gone, nothing follows
    assert took < BACKOFF / 2 and _workers() == []
    seq = hub.transcript.head(HUB_CHAIN)[0]
    assert hub.transcript.records(HUB_CHAIN)[-1]["event"] == "hub.stop"
    assert hub.db.query("SELECT in_flight FROM pending") == [(1,)]  # not lost: the next start makes it again
    [(stored,)] = hub.db.query("SELECT job FROM pending")  # and it names the attempts it interrupted
    assert json.loads(stored)["delivery_id"] == _deliveries(hub)[0]["delivery_id"]
    assert len(hook.calls) == 1 and hub.transcript.head(HUB_CHAIN)[0] == seq
