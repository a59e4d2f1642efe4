"""Benchmark: `dipcert verify` on bundles of 1k, 10k and 100k messages, time and peak memory.

Run `python bench/verify.py` from the repository (`--quick`: 1k only). Not part of the test run.
Each bundle is written by the project's own code, the code a run writes evidence with: the
`Recorder` (one hash-chained record per message, its two bodies appended to `messages/` segments),
`render_reports` (summary,
report, JUnit, Allure) and `finalise_bundle` (manifest, signature, the reproducible zip). The run
is an MDR's (fixtures/profiles/mdr-example.toml) with its real certification plan; its messages are
valid IF-062/IF-064/IF-065 samples submitted to the DIP (`hub-inbound`), judged by passing checks.

Each verify runs as `dipcert verify BUNDLE --trust CA --signer FINGERPRINT --json` in a child
process of its own; the time is that child's wall time, the memory its peak RSS (`os.wait4`'s
rusage for that one child), both for the folder and for the zip. A verify that does not end
"sound and ready, origin verified" (exit 0) is printed as a failure: a fast wrong answer is no figure.

The goal (issue 16): 10,000 messages under 5 s, 100,000 under 60 s, peak RSS under 150 MB whatever
the count, folder and zip alike. Bundles are built in a child process too, so that the verify
child's peak RSS is its own and not the builder's pages it was forked with.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from provenance import measured
from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.config.profile import load_profile
from harness.evidence.bundle import certificate_fingerprint, finalise_bundle
from harness.evidence.recorder import Recorder
from harness.messages.samples import SampleFactory
from harness.messages.schemapack import load_pack
from harness.plan.certification import certification_plan
from harness.plan.requirements import plan_to_dicts
from harness.report import render_reports
from harness.transport.certs import cached_key, make_ca

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "fixtures" / "profiles" / "mdr-example.toml"
API_KEY = "bench-api-key-0123456789abcdef0123456789"
#: What the MDR submits to the DIP (produce requirements), one sample pool per event.
PRODUCED = (("IF-062", "MDRStartResponse"), ("IF-064", "MDRConsumption"), ("IF-065", "ReadingRemote"))
#: messages cited per check record (a run judges its messages in batches like this)
PER_CHECK = 100
#: goal seconds per message count (issue 16); peak RSS goal for every count
TIME_GOAL = {1_000: None, 10_000: 5.0, 100_000: 60.0}
RSS_GOAL_MB = 150.0


@dataclass
class Bundle:
    messages: int
    folder: Path
    zip_path: Path
    signer: str
    built_s: float
    ca_file: Path | None = None  # the CA that issued the signer (the verifier's --trust)


def sample_bodies(count: int = 60) -> list[tuple[str, bytes]]:
    """(interface, body) pairs: valid samples of what an MDR produces, each a one-item JSON array."""
    out = []
    for seed in range(count // len(PRODUCED)):
        factory = SampleFactory(seed)
        for interface, event in PRODUCED:
            out.append((interface, json.dumps([factory.message(interface, event)]).encode()))
    return out


def build(out: Path, messages: int, ca, identity) -> Bundle:
    """A finalised bundle of `messages` recorded DIP submissions, written as a run writes one."""
    started = time.perf_counter()
    profile = load_profile(PROFILE)
    plan = plan_to_dicts(certification_plan(profile))
    pack = load_pack(None)
    now = datetime.now(timezone.utc)
    run_id = f"bench-{messages}"
    signer = certificate_fingerprint(identity.certificate)
    attestation = {"name": "Bench", "role": "MDR certification test lead", "organisation": profile.party.company,
                   "environment": profile.environment, "expires": (now.date() + timedelta(days=90)).isoformat()}
    run = {"run_id": run_id, "started": now, "environment": profile.environment,
           "party": {"role": profile.role, "dip_id": profile.party.dip_id, "mpid": profile.party.mpid,
                     "dcp_id": profile.party.dcp_id, "company": profile.party.company},
           "system": {"name": profile.system.name, "version": profile.system.version,
                      "build_id": profile.system.build_id, "supplier": profile.system.supplier},
           "profile": profile.to_public_dict(), "profile_digest": profile.digest(),
           "schema_pack": {"name": pack.name, "version": pack.version, "fingerprint": pack.fingerprint},
           "signer_certificate_sha256": signer,
           "signer_certificate_subject": identity.certificate.subject.rfc4514_string(), "attestation": attestation,
           "harness_version": __version__}
    folder = out / run_id
    shutil.rmtree(folder, ignore_errors=True)  # --keep: a second bench run writes afresh
    recorder = Recorder(folder, secrets=[API_KEY], run=run)
    recorder.event("plan", requirements=plan, profile_digest=profile.digest(), profile=profile.to_public_dict())
    produce = {r["interface"]: r["id"] for r in plan
               if r.get("kind") == "produce" and r.get("interface") and r.get("enabled", True)}
    pending: dict[str, list[int]] = {}
    bodies = itertools.cycle(sample_bodies())
    for _ in range(messages):
        interface, body = next(bodies)
        seq = recorder.http(channel="hub-inbound", method="POST", url=f"https://127.0.0.1:9/api/{interface}",
                            request_headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
                            request_body=body, status=201, response_headers={"Content-Type": "application/json"},
                            response_body=b'{"responseCode":"RCP0000"}', started=now, elapsed_ms=2.0,
                            context={"interface": interface})
        batch = pending.setdefault(interface, [])
        batch.append(seq)
        if len(batch) == PER_CHECK:
            recorder.check(produce[interface], "api.produces-valid", True, messages=batch)
            pending[interface] = []
    for interface, batch in pending.items():
        if batch:
            recorder.check(produce[interface], "api.produces-valid", True, messages=batch)
    for requirement in plan:  # the rest of the plan judged too, so the bundle is ready and verify exits 0
        if requirement.get("enabled", True) and requirement["id"] not in produce.values():
            recorder.check(requirement["id"], "bench.stand-in", True)
    recorder.close()
    render_reports(folder)
    summary = json.loads((folder / "summary.json").read_text("utf-8"))
    zip_path = finalise_bundle(folder, run_id=run_id, harness_version=__version__, schema_pack=run["schema_pack"],
                               profile_digest=profile.digest(), started=now, finished=summary.get("finished"),
                               attestation=attestation, identity=identity, ready=bool(summary["ready"]))
    return Bundle(messages, folder, zip_path, signer, time.perf_counter() - started)


def built(out: Path, messages: int) -> Bundle:
    """`build` in a child process: a child's peak RSS counts the parent's pages it was forked with,
    so the bench process itself must stay small (writing 100,000 messages would not)."""
    done = subprocess.run([sys.executable, __file__, "--build-only", str(messages), "--keep", str(out)],
                          check=True, capture_output=True, text=True)
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Bundle(messages, Path(data["folder"]), Path(data["zip"]), data["signer"], data["built_s"], Path(data["ca"]))


def measure(path: Path, ca_file: Path, signer: str) -> tuple[float, float, float, int, str]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of that one child (os.wait4), exit
    code, and verify's state. The CPU time is printed beside the wall time because on a shared,
    saturated machine the wall time measures the queue as much as verify."""
    command = [sys.executable, "-m", "harness.cli", "verify", str(path), "--trust", str(ca_file),
               "--signer", signer, "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(child.pid, 0)
        spent = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        try:
            state = json.loads(text)["state"]
        except (ValueError, KeyError):
            state = (err.read().decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
    rss_mb = usage.ru_maxrss / 1024.0  # kilobytes on Linux
    return spent, usage.ru_utime + usage.ru_stime, rss_mb, child.returncode, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 messages only")
    parser.add_argument("--counts", type=int, nargs="*", help="message counts (default 1000 10000 100000)")
    parser.add_argument("--keep", type=Path, default=None, help="write the bundles here and keep them")
    parser.add_argument("--build-only", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only is not None:  # the child that writes one bundle (see built())
        ca = make_ca("dipcert bench CA", key=cached_key("demo-ca"))
        identity = ca.issue("bench-mdr.dipcert", key=cached_key("demo-MDR")).identity()
        bundle = build(args.keep, args.build_only, ca, identity)
        ca_file = args.keep / f"bench-{args.build_only}.ca.pem"
        ca_file.write_bytes(ca.cert.public_bytes(Encoding.PEM))
        print(json.dumps({"folder": str(bundle.folder), "zip": str(bundle.zip_path), "signer": bundle.signer,
                          "built_s": bundle.built_s, "ca": str(ca_file)}))
        return
    counts = args.counts or ([1_000] if args.quick else sorted(TIME_GOAL))
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="dipcert-bench-verify-"))
    scratch.mkdir(parents=True, exist_ok=True)
    console = Console(width=200)
    table = Table(title="dipcert verify at scale (each verify a child process; peak RSS of that child)")
    for column in ("messages", "form", "members", "verify s", "CPU s", "goal s", "peak RSS MB", "goal MB", "result"):
        table.add_column(column, justify="left" if column in ("form", "result") else "right")
    try:
        for count in counts:
            bundle = built(scratch, count)
            console.print(f"built {count:,} messages in {bundle.built_s:.1f} s: {bundle.zip_path.name} "
                          f"({bundle.zip_path.stat().st_size / 1e6:.1f} MB zipped)")
            members = sum(len(files) for _root, _dirs, files in os.walk(bundle.folder))
            for form, path in (("folder", bundle.folder), ("zip", bundle.zip_path)):
                spent, cpu, rss, code, state = measure(path, bundle.ca_file, bundle.signer)
                goal = TIME_GOAL.get(count)
                ok = code == 0 and (goal is None or spent < goal) and rss < RSS_GOAL_MB
                table.add_row(f"{count:,}", form, f"{members:,}", f"{spent:.2f}", f"{cpu:.2f}",
                              "-" if goal is None else f"< {goal:g}",
                              f"{rss:.0f}", f"< {RSS_GOAL_MB:g}",
                              f"{'[green]met[/]' if ok else '[red]NOT met[/]'}: exit {code}, {state}")
                console.print(f"  {count:,} {form}: {spent:.2f} s ({cpu:.2f} s CPU), {rss:.0f} MB, "
                              f"exit {code}, {state}")
            if args.keep is None:
                shutil.rmtree(bundle.folder)
                bundle.zip_path.unlink()
                bundle.ca_file.unlink()
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    console.print(table)
    console.print(measured())


if __name__ == "__main__":
    main()
