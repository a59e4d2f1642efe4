"""One certification run, from profile to signed bundle.

`CertificationRun` finds its DIP first (a hosted one, `RunOptions.dip`, or one it starts embedded
in this process), opens the evidence folder (so that whatever happens next is recorded, starting
with who the DIP is), opens a DIP session as the party under test with the counterparties it plays
(`harness.run.dipaccess`), starts the built-in reference partner when the profile asks for it, walks
the plan, and always finishes: the session is closed, the DIP's signed transcript of it is put in the
bundle (`dip/transcript.jsonl`, `dip/transcript.dsse.json`), and a run cut short by an error or
Ctrl-C is still rendered and bundled, marked incomplete and not ready.
"""

from __future__ import annotations

import getpass
import json
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.config.fingerprint import probe_endpoint_certificates, system_fingerprint
from harness.config.profile import PARTNER_API_KEY, Profile
from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError, Terminated
from harness.core.outcomes import ExitCode
from harness.dip.client import RemoteHub
from harness.dip.connection import DipCaller, DipUnavailable
from harness.dip.provision import partner_webhooks, profile_registrations
from harness.evidence.bundle import certificate_fingerprint, finalise_bundle
from harness.evidence.qualification import load_documents, record_qualification
from harness.evidence.recorder import Recorder
from harness.messages.samples import Party
from harness.messages.schemapack import load_pack
from harness.plan.certification import certification_plan
from harness.plan.requirements import Requirement, plan_to_dicts
from harness.reference.participant import ReferenceParticipant
from harness.report import render_reports
from harness.run import dipaccess
from harness.run.context import RunContext
from harness.run.dispatch import run_requirement
from harness.run.replay import answers_to
from harness.transport.certs import cached_key, make_ca
from harness.transport.client import DipClient
from harness.transport.ports import free_port
from harness.transport.signing import SigningIdentity

UTC = timezone.utc
# The evidence log records every HTTP exchange; werkzeug's access log on stderr would only be noise.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
ATTESTATION_DAYS = 90  # how long a run's attestation stands before the DIP Manager should ask again
START_ORDER = {"preflight": 0, "exchange": 1, "consume": 2, "smoke": 2, "reject": 3}  # concurrent ones, by kind


@dataclass
class RunOptions:
    out: Path = Path("reports")
    pack: Any = None                      # SchemaPack; None: the bundled one
    dip_identity: SigningIdentity | None = None
    attested_by: str | None = None        # "Name, Role"
    timeout: float | None = None          # overrides profile.harness.timeout
    partner_identity: SigningIdentity | None = None
    partner_faults: Sequence[str] = ()
    party_reference: Any = None           # the demo: the party is itself a reference participant
    announce: Callable[[str], None] | None = None
    countdown: Callable[[float], None] | None = None  # a manual trigger's remaining seconds, for the live view
    on_open: Callable[[Any], None] | None = None  # called with the RunContext once the hub and partner are up
    run_id: str | None = None
    requirement_filter: Callable[[Requirement], bool] | None = None
    extra_secrets: Sequence[str] = ()
    reuse: Any = None  # a ReusePlan: .covers(requirement_id) -> bool, .record(recorder, folder, identity)
    dip: str | None = None  # a hosted DIP's base URL; None: an embedded DIP for a self-test
    dip_cert: Any = None  # x509.Certificate the hosted DIP must sign with (`--dip-cert`)
    dip_ca: Path | None = None  # CA(s) the hosted DIP's TLS server certificate chains to (None: system store)


@dataclass
class RunResult:
    run_id: str
    folder: Path
    zip_path: Path  # the signed bundle (finalise_bundle always writes one)
    summary: dict[str, Any]
    ready: bool
    verdicts: dict[str, str] = field(default_factory=dict)
    interrupted: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM stopped the run (bundle incomplete)

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return ExitCode.TERMINATED if isinstance(self.interrupted, Terminated) else ExitCode.INTERRUPTED
        return ExitCode.OK if self.ready else ExitCode.FAILED


def new_run_id(profile: Profile, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{profile.role}-{profile.party.dip_id}-{secrets.token_hex(2)}"


def attestation(profile: Profile, attested_by: str | None, started: datetime) -> dict[str, Any]:
    if attested_by:
        name, _, role = (part.strip() for part in attested_by.partition(","))
        if not name:
            raise ConfigError(f"--attested-by {attested_by!r}: expected 'Name, Role'")
    else:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
        role = ""
    return {"name": name, "role": role or f"{profile.role} certification test lead",
            "organisation": profile.party.company, "environment": profile.environment,
            "expires": (started.date() + timedelta(days=ATTESTATION_DAYS)).isoformat()}


def party_identity(profile: Profile) -> SigningIdentity | None:
    """The party's signing identity (it signs the bundle); None when the profile names no key."""
    cert, key = profile.credential_path("signing_certificate"), profile.credential_path("signing_key")
    if cert is None or key is None:
        return None
    password = profile.resolve_secret("signing_key_password") if profile.credentials.signing_key_password else None
    return SigningIdentity.from_files(cert, key, password)


def profile_secrets(profile: Profile) -> list[str]:
    """Every secret value the profile can resolve, so the recorder redacts them wherever they appear."""
    found = []
    # issue #6: a real partner's API key (partner.api_key) is a secret of this run too.
    for name in ("api_key_primary", "api_key_secondary", "signing_key_password", PARTNER_API_KEY):
        if profile.secret_ref(name) is not None:
            try:
                found.append(profile.resolve_secret(name))
            except ConfigError:
                pass
    return found


class CertificationRun:
    def __init__(self, profile: Profile, options: RunOptions | None = None) -> None:
        self.profile = profile
        self.o = options or RunOptions()
        self.catalogue = load_catalogue()
        self.plan = certification_plan(profile, self.catalogue, reuse=self.o.reuse is not None)
        self.started = datetime.now(UTC)
        self.run_id = self.o.run_id or new_run_id(profile, self.started)
        self.folder = Path(self.o.out) / self.run_id
        self.identity = party_identity(profile)
        # The party's and a real partner's keys and certificates are read now, so a broken reference is
        # a one-line ConfigError (exit 2) before the evidence folder exists, not a half-written bundle.

        self._parties = profile_registrations(profile)
        # issue 19: the [qualification] documents are read now too (a broken reference is exit 2).
        self._documents = load_documents(profile, profile_secrets(profile))
        self.ctx: RunContext | None = None
        self._hub: Any = None  # RemoteHub: the run's DIP session
        self._dip: Any = None  # DipAccess: the DIP (and the embedded hub to stop)
        self._senders: dict[str, Any] = {}
        self._partner: Any = None
        self._recorder: Any = None
        self._status = "interrupted"  # until execute() completes (or the plugin says the session did)
        self._run: dict[str, Any] = {}

    # --- lifecycle ----------------------------------------------------------------------------

    def _run_record(self, pack: Any) -> dict[str, Any]:
        p = self.profile
        if self.o.reuse is not None:
            fingerprint = dict(self.o.reuse.fingerprint)  # the one the reuse decision compared
        else:
            certs = probe_endpoint_certificates(p, timeout=min(5.0, self.o.timeout or p.harness.timeout))
            fingerprint = system_fingerprint(p, certs)
        partner = None
        if p.partner is not None:
            partner = {"role": p.partner.role, "dip_id": p.partner.dip_id, "mpid": p.partner.mpid,
                       "company": p.partner.company, "kind": "reference" if p.partner.is_reference else "real"}
        return {
            "run_id": self.run_id, "started": self.started, "environment": p.environment,
            "party": {"role": p.role, "dip_id": p.party.dip_id, "mpid": p.party.mpid, "dcp_id": p.party.dcp_id,
                      "company": p.party.company},
            "partner": partner,
            "system": {"name": p.system.name, "version": p.system.version, "build_id": p.system.build_id,
                       "supplier": p.system.supplier, "fingerprint": fingerprint.get("digest")},
            "system_fingerprint": fingerprint,
            "profile": p.to_public_dict(), "profile_digest": p.digest(),
            "schema_pack": {"name": pack.name, "version": pack.version, "fingerprint": pack.fingerprint},
            "signer_certificate_sha256": certificate_fingerprint(self.identity.certificate) if self.identity else None,
            "signer_certificate_subject": self.identity.certificate.subject.rfc4514_string() if self.identity else None,
            "attestation": attestation(p, self.o.attested_by, self.started),
            "harness_version": __version__,
            "dip": self._dip.record() if self._dip is not None else None,
        }

    def open(self) -> RunContext:
        pack = self.o.pack or load_pack(None)
        self.pack = pack
        timeout = float(self.o.timeout or self.profile.harness.timeout)
        if self.identity is None:
            raise ConfigError(f"{self.profile.path}: credentials.signing_certificate and signing_key are needed: the "
                              f"run opens its DIP session as the party, signed with them")
        # The DIP first: who it is goes into the run-start record, and a DIP that cannot be reached is a
        # one-line error (exit 2) before the evidence folder exists.
        if self.o.dip:
            self._dip = dipaccess.remote(self.o.dip, self.profile, dip_cert=self.o.dip_cert, ca=self.o.dip_ca,
                                         timeout=timeout)
        else:
            self._dip = dipaccess.embedded(self.profile, identity=self.o.dip_identity, timeout=timeout, pack=pack)
            partner = self.profile.partner
            reference = partner if partner is not None and partner.is_reference else None
            for party in self._parties:  # the party, and a real partner; the reference one is the session's
                if reference is None or party.dip_id != reference.dip_id:
                    self._dip.register(party)
        secrets_ = profile_secrets(self.profile) + list(self.o.extra_secrets)
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._run = run = self._run_record(pack)
        self._recorder = Recorder(self.folder, secrets=secrets_, run=run)
        self._recorder.event("plan", requirements=plan_to_dicts(self.plan), profile_digest=self.profile.digest(),
                             profile=self.profile.to_public_dict())
        if self.o.reuse is not None:
            self.o.reuse.record(self._recorder, self.folder, self.identity)
        record_qualification(self._recorder, self.folder, self.profile, self.plan, self._documents)
        self._hub = self._open_session(timeout)
        partner = self.profile.partner
        partner_ref = self._start_partner(timeout) if partner is not None and partner.is_reference else None
        if partner is not None and not partner.is_reference:
            self._recorder.event("partner", partner_kind="real", role=partner.role, dip_id=partner.dip_id,
                                 webhooks={i: w.callback_url
                                           for i, w in sorted(partner_webhooks(self.profile).items())},
                                 trigger=partner.trigger.to_dict() if partner.trigger is not None else None)
        self.ctx = RunContext(self.profile, hub=self._hub, recorder=self._recorder, pack=pack,
                              partner_reference=partner_ref, catalogue=self.catalogue, timeout=self.o.timeout,
                              announce=self.o.announce, run_id=self.run_id, senders=self._senders)
        self.ctx.countdown = self.o.countdown
        # Faker's first instance takes a noticeable moment (provider discovery): make it now, not in a
        # dozen concurrent requirements at once, where it would eat into their bounds.
        self.ctx.factory_for("warm-up")
        if self.o.on_open is not None:
            self.o.on_open(self.ctx)
        return self.ctx

    def _open_session(self, timeout: float) -> Any:
        """The DIP session as the party under test, with the counterparties the harness plays."""
        p = self.profile
        self._partner_port = free_port() if p.partner is not None and p.partner.is_reference else None
        partner_hooks = None
        if self._partner_port is not None:
            assert p.partner is not None
            partner_hooks = {i: f"http://127.0.0.1:{self._partner_port}/webhook/{i.lower()}"
                             for i in self._receives(p.partner.role)}
        identities: dict[str, SigningIdentity] = {}

        def identity_for(role: str) -> SigningIdentity:
            if p.partner is not None and role == p.partner.role and self.o.partner_identity is not None:
                identities[role] = self.o.partner_identity
            else:
                identities[role] = _throwaway_identity(f"reference {role.lower()} partner" if p.partner is not None
                                                       and role == p.partner.role else f"dipcert {role.lower()}")
            return identities[role]

        played = dipaccess.counterparties(p, self.catalogue, identity_for=identity_for, partner_webhooks=partner_hooks)
        caller = DipCaller(self._dip.connection, api_key=p.resolve_secret("api_key_primary"), identity=self.identity)
        hub = RemoteHub(caller, recorder=self._recorder, catalogue=self.catalogue)
        real = p.partner.dip_id if p.partner is not None and not p.partner.is_reference else None
        hub.open(self.run_id, played, real)
        self._recorder.event("dip.session", session=hub.session, dip=self._dip.record(),
                             counterparties=[{"role": c.role, "dip_id": c.dip_id, "mpid": c.mpid}
                                             for c in hub.counterparties.values()])
        connection = self._dip.connection
        for c in hub.counterparties.values():
            if c.api_keys is not None:
                self._senders[c.role] = DipClient(connection.base_url, api_key=c.api_keys[0], identity=c.identity,
                                                  timeout=timeout, verify=connection.ssl_context())
        return hub

    def _receives(self, role: str) -> list[str]:
        return sorted({e.interface_id for e in self.catalogue.events() if e.direction_for(role) == "incoming"})

    def _start_partner(self, timeout: float) -> Any:
        """The built-in reference partner: a counterparty of the session, with the keys the DIP gave it."""
        p = self.profile
        assert p.partner is not None and self._hub is not None
        played = self._hub.counterparties[p.partner.role]
        if played.api_keys is None:
            raise ConfigError(f"the DIP gave the reference {p.partner.role} no API keys")
        self._recorder.redactor.add(list(played.api_keys))
        connection = self._dip.connection
        partner = ReferenceParticipant(
            p.partner.role, party=Party(p.partner.role, played.dip_id, p.partner.mpid),
            partner=Party(p.role, p.party.dip_id, p.party.mpid, p.party.dcp_id), hub_url=connection.base_url,
            api_keys=played.api_keys, identity=played.identity, dip_certificate=self._hub.certificate,
            faults=self.o.partner_faults, seed=p.harness.seed + 1, environment=p.environment,
            client_timeout=timeout, port=self._partner_port or 0, register_webhooks=False,
            verify=connection.ssl_context())
        self._partner = partner.start()
        self._recorder.event("partner", partner_kind="reference", role=p.partner.role, dip_id=played.dip_id,
                             webhooks={i: partner.webhook_url(i) for i in partner.incoming_interfaces},
                             trigger=partner.trigger_url)
        return partner

    def selected(self) -> list[Requirement]:
        """The requirements this run executes, in plan order."""
        out = []
        for req in self.plan:
            if not req.enabled or req.kind in ("reuse", "qualification"):  # both judged at open()
                continue
            if self.o.requirement_filter is not None and not self.o.requirement_filter(req):
                continue
            if self.o.reuse is not None and self.o.reuse.covers(req.id):
                continue
            out.append(req)
        return out

    def execute(self, on_requirement: Callable[[Requirement, str], None] | None = None,
                on_start: Callable[[Requirement], None] | None = None) -> None:
        """Every enabled requirement; a requirement's crash is a finding, not the end.

        First, one after another and alone, what asks the participant to send (produce; with a manual
        trigger, the exchanges too, so that an operator never gets two prompts at once): a produce
        check takes the participant's first new message of a flow when it carries no correlation id,
        so nothing else may make it send meanwhile. Then, concurrently: preflight and the exchanges
        (each with its own MPAN and correlation id) on threads of their own, and consume, reject, smoke
        (each with its own samples and MPANs) up to `[harness] parallel` at once, longest first. With
        `parallel = 1`, all in plan order.
        Callbacks are serialised.
        """
        assert self.ctx is not None
        ctx = self.ctx
        todo = self.selected()
        # declared-flows judges everything the party sent, so it runs after every other requirement.
        final = [r for r in todo if r.id.endswith("/declared-flows")]
        todo = [r for r in todo if r not in final]
        in_lane = ("produce", "exchange") if self._manual_triggers() else ("produce",)
        if self.profile.harness.parallel <= 1:  # one at a time, in plan order
            lane, parallel = todo, []
        else:
            lane = [r for r in todo if r.kind in in_lane]
            parallel = sorted((r for r in todo if r.kind not in in_lane), key=self._start_order)
        callback = threading.Lock()
        stop = threading.Event()

        def one(req: Requirement, mode: str) -> None:
            if stop.is_set():
                return
            if on_start:
                with callback:
                    on_start(req)
            verdict = run_requirement(ctx, req, lane=mode)
            if on_requirement:
                with callback:
                    on_requirement(req, verdict)

        for req in lane:
            one(req, "sequential")
        # Preflight and the exchanges mostly wait (a probe, the DIP's deliveries, the partner): they get
        # threads of their own, so that the `parallel` slots go to the requirements that deliver.
        waiting = [r for r in parallel if r.kind in ("preflight", "exchange")]
        delivering = [r for r in parallel if r not in waiting]
        pools = [ThreadPoolExecutor(max_workers=max(1, len(waiting)), thread_name_prefix="dipcert-wait"),
                 ThreadPoolExecutor(max_workers=self.profile.harness.parallel, thread_name_prefix="dipcert-req")]
        futures = [pools[0].submit(one, req, "parallel") for req in waiting] + \
                  [pools[1].submit(one, req, "parallel") for req in delivering]
        try:
            for future in as_completed(futures):
                future.result()  # a KeyboardInterrupt raised in a callback comes out here
        except BaseException:
            # Ctrl-C (or a callback's error): start nothing new, let what runs finish (each is bounded),
            # so that nothing writes to the evidence after the run is closed.
            stop.set()
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)
            raise
        for pool in pools:
            pool.shutdown(wait=True)
        for req in final:
            one(req, "sequential")
        self._status = "complete"

    def _start_order(self, req: Requirement) -> tuple[int, int]:
        """Longest first: the exchanges' chains of deliveries, then consume (those whose replay is
        watched for a second answer before the others), then the short ones."""
        answered = req.kind == "consume" and bool(req.interface and req.event and answers_to(
            req.interface, req.event, self.profile.role, set(self.profile.enabled_interfaces)))
        return START_ORDER.get(req.kind, 9), 0 if answered else 1

    def _manual_triggers(self) -> bool:
        p = self.profile
        kinds = {t.kind for t in p.triggers.values()}
        if p.partner is not None and p.partner.trigger is not None:
            kinds.add(p.partner.trigger.kind)
        return "manual" in kinds

    def mark(self, complete: bool) -> None:
        """How the run ended, for `close()`; the pytest plugin runs requirements itself and says so here."""
        self._status = "complete" if complete else "interrupted"

    def stop_services(self) -> None:
        """The reference partner, then the session (closed; its signed transcript fetched into the bundle),
        then an embedded DIP. A DIP that cannot give the transcript is recorded, not raised: the bundle
        is still written (and verify says it carries no transcript)."""
        if self.ctx is not None:
            self.ctx.close()
        if self._partner is not None:
            try:
                self._partner.stop()
            except Exception:  # noqa: BLE001 - stopping must not lose the evidence
                pass
        if self._hub is not None:
            try:
                self._hub.close(self.folder)
            except (DipUnavailable, OSError) as exc:
                if self._recorder is not None and not self._recorder.closed:
                    self._recorder.event("dip.transcript-missing", error=str(exc))
        for client in self._senders.values():
            client.close()
        if self._dip is not None:
            try:
                self._dip.stop()
            except Exception:  # noqa: BLE001
                pass
        self._partner = self._hub = self._dip = None
        self._senders = {}

    def close(self) -> RunResult:
        """Stop everything, render the reports, sign and zip; safe to call after a failure."""
        self.stop_services()
        if self._recorder is None:
            raise ConfigError(f"{self.folder}: the run never started")
        if not self._recorder.closed:
            self._recorder.close(self._status)
        render_reports(self.folder)

        summary = json.loads((self.folder / "summary.json").read_text("utf-8"))
        run = self._run
        zip_path = finalise_bundle(
            self.folder, run_id=self.run_id, harness_version=__version__, schema_pack=run["schema_pack"],
            profile_digest=self.profile.digest(), started=self.started, finished=summary.get("finished"),
            attestation=run["attestation"], identity=self.identity, ready=bool(summary["ready"]),
            extra={"system_fingerprint": run.get("system_fingerprint")})
        verdicts = {r["id"]: r["verdict"] for r in summary["requirements"]}
        return RunResult(self.run_id, self.folder, zip_path, summary, bool(summary["ready"]), verdicts)



def _throwaway_identity(name: str) -> SigningIdentity:
    ca = make_ca(f"dipcert {name} CA", key=cached_key("partner-ca"))
    return ca.issue(name, key=cached_key(f"partner-{name}")).identity()


def run_certification(profile: Profile, options: RunOptions | None = None, **callbacks: Any) -> RunResult:
    """Open, execute, close. Ctrl-C still yields a (not ready, incomplete) bundle; so does a crash,
    which is then re-raised. A configuration error before the evidence folder exists is raised as is."""
    run = CertificationRun(profile, options)
    try:
        run.open()
        run.execute(**callbacks)
    except KeyboardInterrupt as stop:
        if run._recorder is None:
            raise
        result = run.close()
        result.interrupted = stop
        return result
    except BaseException:
        if run._recorder is None:
            run.stop_services()
            raise
        run.close()
        raise
    return run.close()
