"""One requirement of the plan, run: the dispatch from its kind to the code that checks it.

A requirement's own crash (a bug, or a participant answering something the harness did not foresee)
is recorded as a failed check with the error's type and text, so that a run always ends with a
verdict for every requirement and the evidence says what happened.
"""

from __future__ import annotations

import logging

from harness.config.exchanges import exchange_named
from harness.core.findings import Finding
from harness.core.outcomes import Verdict
from harness.plan.requirements import PREFLIGHT_CHECKS, Requirement
from harness.run.consume import run_consume, run_reject, run_smoke
from harness.run.context import RunContext
from harness.run.exchange import run_exchange
from harness.run.preflight import (
    check_api_keys,
    check_certificates,
    check_dcp,
    check_dip_connection,
    check_dip_deliveries,
    check_identifiers,
    check_partner,
    check_webhooks,
    default_probe,
)
from harness.run.produce import run_produce

log = logging.getLogger(__name__)


def run_preflight_check(ctx: RunContext, req: Requirement) -> bool:
    """Guidance 4.1: the preflight check named by the requirement id's last part."""
    check = req.id.rsplit("/", 1)[-1]
    # Both legs through the run's DIP too: the party's connection to the DIP (mTLS with the profile's
    # client certificate) with the certificates, the DIP's TLS to each webhook with the webhooks.
    functions = {
        "certificates": lambda: check_certificates(ctx.profile) + check_dip_connection(ctx.hub, ctx.profile),
        "api-keys": lambda: check_api_keys(ctx.profile),
        "identifiers": lambda: check_identifiers(ctx.profile),
        "webhooks": lambda: check_webhooks(ctx.profile, probe=default_probe(ctx.profile))
        + check_dip_deliveries(ctx.hub, ctx.profile),
        "dcp": lambda: check_dcp(ctx.profile),
        "partner": lambda: check_partner(ctx.profile),
    }
    assert set(functions) == set(PREFLIGHT_CHECKS)
    findings = functions[check]()
    passed = not any(f.severity == "error" for f in findings)
    return ctx.check(req.id, f"preflight.{check}", passed, findings).passed


def run_requirement(ctx: RunContext, req: Requirement, *, lane: str = "sequential") -> str:
    """Runs the requirement's checks; returns its verdict as the checks recorded it ("pass"/"fail").

    `lane` is recorded with the start event: "parallel" when other requirements ran alongside, so
    the report attributes to it only what carries its id, not everything recorded while it ran."""
    ctx.event("requirement-start", requirement=req.id, title=req.title, lane=lane)
    before = len(ctx.outcomes)
    try:
        if req.kind == "preflight":
            run_preflight_check(ctx, req)
        elif req.kind == "consume":
            run_consume(ctx, req)
        elif req.kind == "reject":
            run_reject(ctx, req)
        elif req.kind == "produce":
            run_produce(ctx, req)
        elif req.kind == "smoke":
            run_smoke(ctx, req)
        elif req.kind == "exchange":
            run_exchange(ctx, exchange_named(req.id.rsplit("/", 1)[-1]), req.id, rng=ctx.rng_for(req.id))
        else:
            raise AssertionError(f"{req.id}: nothing runs a {req.kind} requirement live")
    except Exception as exc:  # noqa: BLE001 - recorded as the requirement's failure, the run goes on
        log.exception("requirement %s crashed", req.id)
        ctx.check(req.id, "harness.error", False, [Finding(
            "harness.error", "", "the requirement's checks to complete", f"{type(exc).__name__}: {exc}",
            f"the harness could not complete {req.id}: {type(exc).__name__}: {exc}")])
    mine = [o for o in ctx.outcomes[before:] if o.requirement == req.id]  # others may run alongside
    verdict = Verdict.FAIL if any(not o.passed for o in mine) else Verdict.PASS if mine else Verdict.NOT_RUN
    ctx.event("requirement-end", requirement=req.id, verdict=verdict)
    return verdict
