"""What a requirement's check code talks to while a run is under way.

One `RunContext` per run holds the profile, the evidence recorder, the run's DIP session (a
`RemoteHub`: the DIP reached through its API, embedded or hosted), the counterparties the harness
plays, and the partner (the built-in reference participant or a real endpoint). Check code asks it
to have the DIP deliver to the participant (a submission as a counterparty, or a probe), to make a
party send, and to judge what the DIP's transcript shows (`judge`); it never touches the recorder's
format itself.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.config.exchanges import QUIET_WINDOW
from harness.config.profile import Profile, Trigger
from harness.core.catalogue import Catalogue, load_catalogue
from harness.core.findings import Finding
from harness.judges import apply
from harness.messages.samples import DEFAULT_PARTIES, Party, SampleFactory
from harness.run.triggers import SendResult, fire, trigger_spec
from harness.transport.delivery import WebhookConfig

DEFAULT_BATCH = 3  # messages in the batched consume delivery (capped by the webhook's maxMessageCount)
# Requirements and their steps run concurrently (issue 14): at most `[harness] parallel` times this
# many deliveries to the participant's webhooks are in flight at once (documented in docs/profile.md).
DELIVERIES_PER_REQUIREMENT = 3
# Steps one requirement runs at once (consume: batch, replay and four hostile deliveries): the run's
# step threads are never fewer than the steps that may run at once, so no step waits for a thread.
STEPS_PER_REQUIREMENT = 8
T = TypeVar("T")


@dataclass
class CheckOutcome:
    """One check as recorded: what the runner shows while it goes."""

    requirement: str
    rule: str
    passed: bool
    findings: list[Finding] = field(default_factory=list)


class RunContext:
    """The run as the check code sees it (also the exchange engine's `ExchangeHost`)."""

    def __init__(self, profile: Profile, *, hub: Any, recorder: Any, pack: Any = None,
                 partner_reference: Any = None, catalogue: Catalogue | None = None, timeout: float | None = None,
                 announce: Callable[[str], None] | None = None, run_id: str = "",
                 senders: Mapping[str, Any] | None = None) -> None:
        self.profile = profile
        self.role = profile.role
        self.hub = hub  # harness.dip.client.RemoteHub: the run's DIP session, through the DIP's API only
        self.senders = dict(senders or {})  # role -> DipClient of a counterparty the harness plays
        self.outcomes: list[CheckOutcome] = []
        # Check code elsewhere (the exchange engine) records through `recorder.check` directly; the
        # tracking view sees those checks too, so every requirement's verdict is known as it ends.
        self.recorder = _Tracking(recorder, self.outcomes) if recorder is not None else None
        self.pack = pack
        self.partner_reference = partner_reference  # ReferenceParticipant playing the partner, if built in
        self.catalogue = catalogue or load_catalogue()
        self.step_timeout = float(timeout if timeout is not None else profile.harness.timeout)
        # Exchange steps run only when the party enabled their interface (the reference partner enables all).
        self.enabled_interfaces: set[str] = set(profile.enabled_interfaces)
        self.quiet_window = min(QUIET_WINDOW, self.step_timeout)  # the least "nothing more was sent" is watched for
        self.announce = announce
        self.countdown: Callable[[float], None] | None = None  # shows a manual trigger's remaining seconds
        # Reproducible for (seed, run id), yet new per run: a participant that remembers transaction
        # ids, references or correlation ids between runs must not see a second run as replays.
        self.run_id = run_id
        self._rng = random.Random(f"{profile.harness.seed}:{run_id}")
        self._lock = threading.Lock()
        parallel = max(1, profile.harness.parallel)
        self.max_deliveries = 1 if parallel == 1 else DELIVERIES_PER_REQUIREMENT * parallel
        self._in_flight = threading.BoundedSemaphore(self.max_deliveries)
        # Steps run in the requirements that deliver (consume, reject): at most `parallel` of them at once.
        self._step_threads = STEPS_PER_REQUIREMENT * parallel
        self._steps: ThreadPoolExecutor | None = None

    # --- steps that run at once -----------------------------------------------------------------

    def concurrently(self, steps: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent steps at once; their results come back in the steps' order (exceptions
        re-raised). The threads are the run's, started once and reused: starting a thread waits until
        it holds the GIL, milliseconds each on a busy run, and a run has hundreds of steps."""
        with self._lock:
            if self._steps is None:
                self._steps = ThreadPoolExecutor(max_workers=self._step_threads, thread_name_prefix="dipcert-step")
            pool = self._steps
        futures = [pool.submit(step) for step in steps]
        return [future.result() for future in futures]

    def close(self) -> None:
        """The step threads end (after the steps under way): the run is over."""
        with self._lock:
            pool, self._steps = self._steps, None
        if pool is not None:
            pool.shutdown(wait=True)

    # --- parties ------------------------------------------------------------------------------

    @property
    def me(self) -> Party:
        p = self.profile.party
        return Party(p.role, p.dip_id, p.mpid, p.dcp_id)

    @property
    def partner(self) -> Party | None:
        p = self.profile.partner
        return None if p is None else Party(p.role, p.dip_id, p.mpid)

    def party(self, role: str) -> Party:
        """The party playing `role`: ourselves, the nominated partner, or a default market party."""
        if role == self.role:
            return self.me
        partner = self.partner
        if partner is not None and partner.role == role:
            return partner
        played = (getattr(self.hub, "counterparties", None) or {}).get(role)
        if played is not None:  # the DIP ID the session gave the counterparty the harness plays
            return Party(role, played.dip_id, played.mpid)
        return DEFAULT_PARTIES[role]

    def sender_for(self, interface_id: str, event: str) -> Party:
        """Who sends an incoming flow to us: the partner for extended flows, else the catalogue's sender."""
        ev = self.catalogue.event(interface_id, event)
        return self.party(ev.sender)

    # --- samples ------------------------------------------------------------------------------

    def rng_for(self, name: str) -> random.Random:
        """A generator of its own for one requirement (same seed and run id, same values)."""
        return random.Random(f"{self.profile.harness.seed}:{self.run_id}:{name}")

    def factory_for(self, name: str) -> SampleFactory:
        """A factory of its own for one requirement's step: the same values whatever runs concurrently."""
        return SampleFactory(self.rng_for(name).getrandbits(32), environment=self.profile.environment,
                             parties=self.parties())

    def factory(self) -> SampleFactory:
        """A fresh, seeded factory: each use gets new unique references but the run stays reproducible."""
        with self._lock:
            seed = self._rng.getrandbits(32)
        return SampleFactory(seed, environment=self.profile.environment, parties=self.parties())

    def parties(self) -> dict[str, Party]:
        """Who the samples name per role: this party, its partner, and the default market parties."""
        out = {**DEFAULT_PARTIES, **{role: self.party(role) for role in DEFAULT_PARTIES}, self.role: self.me}
        if self.partner is not None:
            out[self.partner.role] = self.partner
        return out

    # --- the DIP's deliveries to the participant ------------------------------------------------

    def webhook(self, interface_id: str) -> WebhookConfig | None:
        """Where the DIP delivers `interface_id` to us: as the DIP says it is registered (onboarding or
        pubconfig), else the profile's URL (a DIP that does not tell its parties' webhooks)."""
        registered = self.hub.webhook(self.me.dip_id, interface_id)
        if registered is not None:
            return registered
        url = self.profile.webhook_for(interface_id)
        return WebhookConfig(url, None, None) if url else None

    def delivery_bound(self) -> float:
        """How long a routed delivery may take before its last attempt is recorded: the DIP's own policy
        (retries, per-attempt timeout, backoff) when it announces one, else four of the run's bounds."""
        policy = (getattr(self.hub, "dip", None) or {}).get("delivery") or {}
        try:
            retries, timeout = int(policy["retries"]), float(policy["timeout"])
            backoff = float((policy.get("backoff") or [0, 0])[-1])
        except (KeyError, TypeError, ValueError, IndexError):
            return 4 * self.step_timeout
        return (retries + 1) * (timeout + backoff) + self.step_timeout

    def sender(self, role: str) -> Any:
        """A DIP client acting as the counterparty `role` the harness plays in the session, or None."""
        return self.senders.get(role)

    def send_through_dip(self, role: str, interface_id: str, items: list[dict]) -> Any:
        """Submit `items` as the counterparty `role` through the DIP API (the DIP adds D0 and delivers)."""
        client = self.senders[role]
        with self._in_flight:
            return client.submit(interface_id, items)

    def probe(self, interface_id: str, kind: str, items: list[dict], *, redeliver: bool = False,
              tag: dict[str, str] | None = None) -> Any:
        """One delivery the DIP makes to us as asked (`plain` egress items, or a hostile kind); `tag` (the
        requirement and step) is kept on its records, so the evidence and the report name them."""
        with self._in_flight:
            return self.hub.probe(interface_id, self.me.dip_id, kind, items, redeliver=redeliver,
                                  timeout=self.step_timeout, tag=tag)

    # --- judging from the DIP's transcript -------------------------------------------------------

    def judge(self, requirement: str, rule: str, judge: str, args: Mapping[str, Any],
              transcript: Iterable[int | None], *, scan: tuple[int, int] | None = None,
              also: Iterable[int | None] = (), **data: Any) -> CheckOutcome:
        """Judge `transcript` records with judge `judge` and record the check naming judge, arguments and
        records, so that verify can judge the DIP's signed transcript the same way. `also`: evidence
        seqs the check cites besides the mirrored DIP records (a trigger call)."""
        seqs = sorted({s for s in transcript if isinstance(s, int)})
        findings = apply(judge, self.hub.record_set(seqs, scan), args)
        passed = not any(f.severity == "error" for f in findings)
        evidence = self.hub.evidence_seqs(seqs) + [m for m in also if isinstance(m, int)]
        return self.check(requirement, rule, passed, findings, evidence, judge=judge, judge_args=dict(args),
                          transcript=seqs, transcript_scan=list(scan) if scan else None, **data)

    # --- asking a party to send ---------------------------------------------------------------

    def trigger_for(self, role: str, interface_id: str) -> Trigger | None:
        if role == self.role:
            return self.profile.trigger_for(interface_id)
        if self.partner_reference is not None and self.partner is not None and role == self.partner.role:
            return Trigger("http", url=self.partner_reference.trigger_url, timeout=self.step_timeout)
        # issue #6: a real partner is asked through the trigger its [partner] table declares.
        if self.profile.partner is not None and role == self.profile.partner.role:
            return self.profile.partner.trigger
        return None

    def send(self, role: str, interface_id: str, event: str | None, *, mpan: str | None = None,
             correlation_id: str | None = None, fields: dict | None = None,
             context: Mapping[str, Any] | None = None) -> SendResult:
        """Ask the party playing `role` to send one message; never raises for what it does."""
        trigger = self.trigger_for(role, interface_id)
        if trigger is None:
            p = self.profile.partner
            if p is not None and role == p.role and not p.is_reference:  # issue #6: say what to set
                return SendResult(False, f"no trigger for the real partner {role} {p.dip_id} ({interface_id}): "
                                         f"set partner.trigger in the profile")
            return SendResult(False, f"no trigger for {role} {interface_id}: the profile names none and the "
                                     f"{role} is not the built-in reference")
        spec = trigger_spec(interface_id, event, mpan=mpan, correlation_id=correlation_id, fields=fields)
        ctx = {"interface": interface_id, "event": event, "role": role, **dict(context or {})}
        return fire(trigger, spec, recorder=self.recorder, context=ctx, announce=self.announce,
                    wait_manual=self._manual_waiter(role, interface_id, event) if trigger.kind == "manual" else None)

    def _manual_waiter(self, role: str, interface_id: str, event: str | None) -> Callable[[float], bool]:
        before = {s.transaction_id for s in self.hub.received()} | {id(r) for r in self.hub.rejections()}
        dip_id = self.party(role).dip_id

        def arrived() -> bool:
            return any(s.transaction_id not in before and s.interface_id == interface_id and s.sender == dip_id
                       and (event is None or s.event == event) for s in self.hub.received()) or any(
                id(r) not in before and r.interface_id == interface_id for r in self.hub.rejections())

        def wait(seconds: float) -> bool:
            """Bounded and event-based; in one-second slices only so that the countdown can be shown."""
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                if self.countdown is not None:
                    self.countdown(left)
                if self.hub.wait_until(arrived, min(1.0, left)):
                    return True
            return False

        return wait

    # --- evidence -----------------------------------------------------------------------------

    def event(self, kind: str, **data: Any) -> int | None:
        return self.recorder.event(kind, **data) if self.recorder is not None else None

    def check(self, requirement: str, rule: str, passed: bool, findings: Iterable[Finding] = (),
              messages: Iterable[int | None] = (), **data: Any) -> CheckOutcome:
        found = list(findings)
        if not passed and not any(f.severity == "error" for f in found):
            raise AssertionError(f"{requirement} {rule}: a failed check needs an error finding")
        seqs = [m for m in messages if isinstance(m, int)]
        if self.recorder is not None:
            self.recorder.check(requirement, rule, passed, found, messages=seqs, **data)
        else:
            self.outcomes.append(CheckOutcome(requirement, rule, passed, found))
        # Not `outcomes[-1]`: requirements run concurrently, another may have recorded since.
        return CheckOutcome(requirement, rule, bool(passed), found)


class _Tracking:
    """The recorder, with every check also kept as a `CheckOutcome` for the live view."""

    def __init__(self, recorder: Any, outcomes: list[CheckOutcome]) -> None:
        self._recorder, self._outcomes = recorder, outcomes
        self._lock = threading.Lock()

    def check(self, requirement: str, rule: str, passed: bool, findings: Iterable[Finding] = (),
              messages: Iterable[int] = (), **data: Any) -> int:
        found = [f if isinstance(f, Finding) else Finding(**{k: v for k, v in dict(f).items()
                                                             if k in Finding.__dataclass_fields__})
                 for f in findings]
        with self._lock:  # the log and the live view see checks in the same order
            seq = self._recorder.check(requirement, rule, passed, found, messages=messages, **data)
            self._outcomes.append(CheckOutcome(requirement, rule, bool(passed), found))
        return seq

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recorder, name)
