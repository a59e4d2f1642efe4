"""The built-in demo: the reference MDR and the reference SDS certified, each with the other as partner.

Everything a real run needs is made here at run time in a private temporary folder (a CA, the
DIP's, the MDR's and the SDS's certificates, API keys in files) and a real profile is written for
each party, so the demo goes through exactly the code path of `dipcert run`: profile loading,
preflight, the simulated DIP on loopback, triggers over HTTP, evidence, reports, signed bundle.
The temporary folder is removed afterwards; the bundles land in `--out`, each with the demo CA's
certificate beside it (`<run-id>.ca.pem`, never a key), so that the printed `dipcert verify` command
can check who signed it after the scratch folder is gone.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from harness.config.profile import Credentials, Profile, SecretRef, Trigger, load_profile
from harness.core.catalogue import load_catalogue
from harness.dip.identity import CERT, KEY
from harness.evidence.bundle import certificate_fingerprint
from harness.evidence.origin import Anchors
from harness.messages.samples import DEFAULT_PARTIES, Party
from harness.reference.faults import parse_faults
from harness.reference.participant import ReferenceParticipant
from harness.run.session import RunOptions, RunResult, run_certification
from harness.transport.apikeys import generate_api_key
from harness.transport.certs import cached_key, make_ca
from harness.transport.ports import free_port
from harness.transport.signing import SigningIdentity

ROLES = ("MDR", "SDS")
# The demo's reference participants share one process (and its GIL) with the harness, so more
# requirements at once than a few only adds latency; but one at a time leaves the process idle while
# a requirement waits (the DIP's deliveries, the "nothing more" windows): a third of the demo's wall
# time (bench/demo.py: 8.3-9.9 s one at a time, 6.3-6.8 s four at a time, same load). Four at once
# fills those waits; a real profile's default (`[harness] parallel`) is higher.
DEMO_PARALLEL = 4
COMPANY = {"MDR": "dipcert reference MDR Ltd", "SDS": "dipcert reference SDS Ltd"}


@dataclass
class DemoPKI:
    folder: Path
    dip: Any
    identities: dict[str, Any]
    files: dict[str, tuple[Path, Path]]
    api_keys: dict[str, tuple[str, str]]
    ca: Any = None  # the demo CA's certificate: the trust anchor `verify --trust` needs

    def signer(self, role: str) -> str:
        """The fingerprint of `role`'s signing certificate: what the DIP Manager would pin with --signer."""
        return certificate_fingerprint(self.identities[role].certificate)

    def anchors(self, *roles: str) -> Anchors:
        """The anchors that verify the demo's bundles completely: its CA, and the parties' certificates pinned."""
        return Anchors(trust=(self.ca,), signers=tuple(self.signer(r) for r in roles or ROLES))

    def keep_anchor(self, result: RunResult) -> Path:
        """The CA certificate written beside `result`'s bundle as `<run-id>.ca.pem` (public: no key leaves the
        scratch folder)."""
        path = result.zip_path.parent / f"{result.run_id}.ca.pem"
        path.write_bytes(self.ca.public_bytes(Encoding.PEM))
        return path

    def verify_command(self, result: RunResult, role: str) -> str:
        """The complete `dipcert verify` command for `result`'s bundle: its trust anchor kept beside it, its
        signer pinned."""
        return shlex.join(["dipcert", "verify", str(result.zip_path), "--trust", str(self.keep_anchor(result)),
                           "--signer", self.signer(role)])


def make_pki(folder: Path) -> DemoPKI:
    ca = make_ca("dipcert demo CA", key=cached_key("demo-ca"))
    ca.write(folder, "ca")
    issued_dip = ca.issue("dip.demo.dipcert", key=cached_key("demo-dip"))
    dip = issued_dip.identity()
    (folder / "dip").mkdir(exist_ok=True)  # the DIP's identity as `--dip-key DIR` / `--dipcert-dip-key` read it
    (folder / "dip" / KEY).write_bytes(issued_dip.key_pem)
    (folder / "dip" / CERT).write_bytes(issued_dip.cert_pem)
    identities, files, keys = {}, {}, {}
    for role in ROLES:
        issued = ca.issue(f"reference-{role.lower()}.demo.dipcert", key=cached_key(f"demo-{role}"))
        files[role] = issued.write(folder, f"{role.lower()}-signing")
        identities[role] = issued.identity()
        keys[role] = (generate_api_key(), generate_api_key())
        for slot, value in zip(("primary", "secondary"), keys[role]):
            path = folder / f"{role.lower()}-api-key-{slot}"
            path.touch(mode=0o600)
            path.write_text(value + "\n", encoding="utf-8")
    return DemoPKI(folder, dip, identities, files, keys, ca=ca.cert)


def profile_text(role: str, pki: DemoPKI, *, hub_port: int, port: int, timeout: float,
                 interfaces: Sequence[str] | None = None, disabled: Iterable[str] = (),
                 parallel: int | None = None) -> str:
    """A complete profile for the reference `role` listening on `port`, all nine interfaces enabled
    (or only `interfaces`: a smaller, quicker run) except `disabled` (what a fault switch's
    `disables` takes out)."""
    catalogue = load_catalogue()
    disabled = set(disabled)
    party, partner = DEFAULT_PARTIES[role], DEFAULT_PARTIES["SDS" if role == "MDR" else "MDR"]
    cert, key = pki.files[role]
    incoming = sorted({e.interface_id for e in catalogue.events() if e.direction_for(role) == "incoming"})
    hooks = "\n".join(f'{i} = "http://127.0.0.1:{port}/webhook/{i.lower()}"' for i in incoming)
    enabled = "\n".join(f'{i} = "{"Y" if (interfaces is None or i in interfaces) and i not in disabled else "N"}"'
                        for i in catalogue.interfaces)
    return f'''# Written by `dipcert demo`: the reference {role} as the party under test.
environment = "UIT"

[party]
role = "{role}"
company = "{COMPANY[role]}"
mpid = "{party.mpid}"
dip_id = "{party.dip_id}"

[system]
name = "dipcert-reference-{role.lower()}"
version = "1.0.0"
build_id = "dipcert-demo"
supplier = "dipcert"

[partner]
role = "{partner.role}"
company = "{COMPANY[partner.role]}"
mpid = "{partner.mpid}"
dip_id = "{partner.dip_id}"
endpoint = "reference"

[interfaces]
{enabled}

[webhooks]
{hooks}

[credentials]
api_key_primary = {{ file = "{role.lower()}-api-key-primary" }}
api_key_secondary = {{ file = "{role.lower()}-api-key-secondary" }}
signing_certificate = "{cert.name}"
signing_key = "{key.name}"

[triggers]
default = {{ kind = "http", url = "http://127.0.0.1:{port}/trigger", timeout = {timeout} }}

[harness]
hub_host = "127.0.0.1"
hub_port = {hub_port}
timeout = {timeout}
{f"parallel = {parallel}" if parallel is not None else ""}
'''


def reference_participant(role: str, pki: DemoPKI, *, party: Party, partner: Party, hub_url: str, port: int,
                          dip_certificate: Any, timeout: float, faults: Sequence[str] = (),
                          webhook_delay: float = 0.0, **settings: Any) -> ReferenceParticipant:
    """dipcert's reference `role` as a party under test: its certificate and API keys from `pki`,
    listening on `port`, answering the DIP at `hub_url`, verifying deliveries with `dip_certificate`.
    The one place the demo and a profile's `[party] endpoint = "reference"` make it."""
    return ReferenceParticipant(
        role, party=party, partner=partner, hub_url=hub_url, api_keys=pki.api_keys[role],
        identity=pki.identities[role], dip_certificate=dip_certificate, faults=faults, port=port,
        register_webhooks=False, client_timeout=timeout, slow_seconds=timeout * 3, webhook_delay=webhook_delay,
        **settings)


@contextmanager
def demo_party(role: str, pki: DemoPKI, out: Path, *, faults: Sequence[str] = (), timeout: float = 5.0,
               announce: Callable[[str], None] | None = None, interfaces: Sequence[str] | None = None,
               webhook_delay: float = 0.0, parallel: int | None = None,
               dip: SigningIdentity | None = None) -> Iterator[tuple[Profile, RunOptions]]:
    """The reference `role` (with `faults`) running, its profile written and loaded, run options ready.
    `webhook_delay`: its webhooks answer only after that many seconds (a slow but correct system);
    `parallel`: the profile's `[harness] parallel` (default DEMO_PARALLEL); `dip`: the simulated DIP's
    signing identity (`dipcert demo` passes the shared one, harness.dip.identity; default the scratch
    DIP in `pki`)."""
    dip = dip or pki.dip
    hub_port, port = free_port(), free_port()
    path = pki.folder / f"demo-{role.lower()}.toml"
    disabled = parse_faults(list(faults), role).disabled_interfaces
    path.write_text(profile_text(role, pki, hub_port=hub_port, port=port, timeout=timeout, interfaces=interfaces,
                                 disabled=disabled, parallel=DEMO_PARALLEL if parallel is None else parallel),
                    encoding="utf-8")
    profile = load_profile(path)
    party = DEFAULT_PARTIES[role]
    partner = DEFAULT_PARTIES["SDS" if role == "MDR" else "MDR"]
    participant = reference_participant(
        role, pki, party=Party(role, party.dip_id, party.mpid), partner=partner, hub_url=f"http://127.0.0.1:{hub_port}",
        port=port, dip_certificate=dip.certificate, timeout=timeout, faults=faults, webhook_delay=webhook_delay)
    options = RunOptions(out=Path(out), dip_identity=dip, partner_identity=pki.identities[partner.role],
                         timeout=timeout, party_reference=participant, announce=announce,
                         attested_by="dipcert demo, reference participants")
    with participant:
        yield profile, options


def reference_profile(profile: Profile, pki: DemoPKI, *, hub_port: int, port: int, timeout: float) -> Profile:
    """`profile` (`[party] endpoint = "reference"`) as it runs: the webhooks, credentials and trigger of
    the reference participant listening on `port`, made in `pki` (absolute paths, so the profile's own
    folder does not matter), and the simulated DIP on `hub_port`. Everything else is the profile's own,
    and `party.endpoint` stays in it, so the evidence says who played the party."""
    role = profile.role
    cert, key = pki.files[role]
    folder = pki.folder.resolve()
    incoming = sorted({e.interface_id for e in load_catalogue().events() if e.direction_for(role) == "incoming"})
    return replace(
        profile,
        webhooks={i: f"http://127.0.0.1:{port}/webhook/{i.lower()}" for i in incoming},
        credentials=Credentials(
            api_key_primary=SecretRef(file=str(folder / f"{role.lower()}-api-key-primary")),
            api_key_secondary=SecretRef(file=str(folder / f"{role.lower()}-api-key-secondary")),
            signing_certificate=str(cert.resolve()), signing_key=str(key.resolve())),
        triggers={"default": Trigger(kind="http", url=f"http://127.0.0.1:{port}/trigger", timeout=timeout)},
        harness=replace(profile.harness, hub_host="127.0.0.1", hub_port=hub_port))


@contextmanager
def reference_party(profile: Profile, *, dip_certificate: Any, timeout: float | None = None,
                    faults: Sequence[str] = ()) -> Iterator[tuple[Profile, ReferenceParticipant | None]]:
    """For a profile with `[party] endpoint = "reference"`: dipcert's reference participant started as the
    party under test, on free loopback ports, with a certificate and API keys made for the run in a
    private scratch folder (removed afterwards, as the demo's are). Yields the profile as it runs
    (`reference_profile`) and the participant; a profile for the party's own system passes through
    unchanged (participant None), so every route can wrap its run in this."""
    if not profile.party.is_reference:
        yield profile, None
        return
    bound = float(timeout or profile.harness.timeout)
    counterpart = "SDS" if profile.role == "MDR" else "MDR"
    p = profile.partner
    partner = Party(counterpart, p.dip_id, p.mpid) if p is not None else DEFAULT_PARTIES[counterpart]
    hub_port = profile.harness.hub_port or free_port()
    port = free_port()
    with scratch_pki() as pki:
        running = reference_profile(profile, pki, hub_port=hub_port, port=port, timeout=bound)
        participant = reference_participant(
            profile.role, pki,
            party=Party(profile.role, profile.party.dip_id, profile.party.mpid, profile.party.dcp_id),
            partner=partner, hub_url=f"http://127.0.0.1:{hub_port}", port=port, dip_certificate=dip_certificate,
            timeout=bound, faults=faults, seed=profile.harness.seed, environment=profile.environment,
            spontaneous_consumption=profile.exchange.consumption == "spontaneous")
        with participant:
            yield running, participant


def run_party(role: str, pki: DemoPKI, out: Path, *, faults: Sequence[str] = (), timeout: float = 5.0,
              announce: Callable[[str], None] | None = None, interfaces: Sequence[str] | None = None,
              webhook_delay: float = 0.0, parallel: int | None = None, **callbacks: Any) -> RunResult:
    """Certify the reference `role` (with `faults`) against a clean reference partner."""
    with demo_party(role, pki, out, faults=faults, timeout=timeout, announce=announce, interfaces=interfaces,
                    webhook_delay=webhook_delay, parallel=parallel) as (profile, options):
        return run_certification(profile, options, **callbacks)


@contextmanager
def scratch_pki() -> Iterator[DemoPKI]:
    """Run-time certificates and API key files in a private temporary folder, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="dipcert-demo-"))
    try:
        yield make_pki(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_demo(out: Path, *, faults: Sequence[str] = (), roles: Sequence[str] = ROLES, timeout: float = 5.0,
             sds_faults: Sequence[str] = (), **callbacks: Any) -> list[RunResult]:
    """The MDR run (with `faults`) and the SDS run (with `sds_faults`), each against a clean partner."""
    results = []
    with scratch_pki() as pki:
        for role in roles:
            result = run_party(role, pki, Path(out), faults=faults if role == "MDR" else sds_faults,
                               timeout=timeout, **callbacks)
            if result.interrupted is not None:  # Ctrl-C stops the demo, not only this party's run
                raise result.interrupted
            results.append(result)
    return results
