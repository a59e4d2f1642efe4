"""`dipcert replay BUNDLE #NN|REQUIREMENT`: send a recorded message again and compare the answer.

The report's "Reproduce" lines are this command. The body bytes come from the bundle; the
signature is made now (the participant's key from `--profile` for what it submitted, the simulated
DIP's key for what the DIP delivered) and the API key is read from the profile's secret reference,
never printed. Exit 0 when the answer has the recorded status and response codes, 1 when it
differs, 2 for a usage or configuration error (one line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Re-send a recorded message of a bundle (#NN, or a requirement's first message at fault) with a fresh "
        "signature and the profile's API key, and print the answer beside the recorded one. Exit 0 same answer, "
        "1 a different one, 2 usage error.")
BODY_LINES = 24  # lines of each answer body printed side by side


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="run folder or <run-id>.dipcert.zip")
    parser.add_argument("target", metavar="#NN|REQUIREMENT",
                        help="the evidence record number of a message (#316 or 316; quote the # in a shell), or a "
                             "requirement id (its first message at fault, else the first message its checks judged)")
    parser.add_argument("--to", metavar="URL", default=None,
                        help="send here instead: a URL with a path is used as it is, a bare https://host:port keeps "
                             "the recorded path (default: the profile's webhook for a delivery, else the recorded URL)")
    parser.add_argument("--profile", type=Path, default=None, metavar="FILE",
                        help="participant profile: its signing key and API key sign and authorise what the "
                             "participant submitted; its webhooks and TLS CA are used for deliveries")
    parser.add_argument("--dip-key", type=Path, default=None, metavar="DIR",
                        help="folder with the simulated DIP's dip-signing.pem/.key, to sign what the DIP delivered "
                             "(default: .dip next to the bundle, as older runs kept it, else $DIPCERT_HOME/dip or "
                             "~/.dipcert/dip, where every route keeps it)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="bound for the answer (default: 10)")
    parser.add_argument("--curl", action="store_true",
                        help="print a freshly signed curl command instead of sending (the API key as ${DIP_API_KEY})")


def run(args: argparse.Namespace) -> int:
    # Imports here, not at the top: `dipcert --help` imports every command module (cli.py).
    import shutil
    import tempfile

    from harness.commands.console import make_console
    from harness.config.profile import load_profile
    from harness.core.errors import UsageError
    from harness.dip.identity import default_folder
    from harness.evidence.safezip import open_bundle
    from harness.report import run_records
    from harness.report.bodies import Bodies
    from harness.report.replay import DELIVERED, load_dip_identity, pick, prepare, recorded_dip_signer
    from harness.report.sequence import message_label

    if not 0 < args.timeout <= 600:
        raise UsageError(f"--timeout should be between 0 and 600 seconds, got {args.timeout:g}")
    profile = load_profile(args.profile) if args.profile is not None else None
    bundle: Path = args.bundle
    scratch = Path(tempfile.mkdtemp(prefix="dipcert-replay-")) if bundle.is_file() else None
    try:
        folder = open_bundle(bundle, into=scratch)
        records = run_records(folder, label=bundle)
        bodies = Bodies(folder)
        record = pick(records, args.target, bodies)
        dip = None
        if record.get("channel") in DELIVERED:
            dip_folder = args.dip_key or next((p for p in (bundle.resolve().parent / ".dip", default_folder())
                                               if p.is_dir()), None)
            dip = load_dip_identity(dip_folder) if dip_folder is not None else None
            if args.dip_key is not None and dip is None:
                raise UsageError(f"--dip-key {args.dip_key}: no dip-signing.pem and dip-signing.key there")
        label = message_label(record, bodies.get(record, "request"))
        replay = prepare(record, bodies.get(record, "request"), to=args.to, profile=profile, dip_identity=dip,
                         label=label, recorded_dip=recorded_dip_signer(records))
        console = make_console()
        if args.curl:
            return _print_curl(console, replay)
        return _send_and_compare(console, replay, record, bodies, args.timeout)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _print_curl(console, replay) -> int:
    from harness.report.curl import curl_command, variables
    from harness.transport.apikeys import API_KEY_HEADER

    # The API key's header is named, its value never printed: curl_command writes it as ${DIP_API_KEY}.
    headers = [[k, "[redacted sha256:0000000000000000]" if k == API_KEY_HEADER else v]
               for k, v in replay.headers.items()]
    command = curl_command({"method": replay.method, "url": replay.url, "request": {"headers": headers}}, replay.body)
    needed = variables(command)
    console.print(f"# #{replay.seq} ({replay.channel}, {replay.label}) signed now: the DIP accepts the signature for "
                  f"a few minutes" + (f"; set {', '.join(needed)} first" if needed else ""),
                  soft_wrap=True, markup=False)
    for note in replay.notes:
        console.print(f"# {note}", soft_wrap=True, markup=False)
    console.print(command, soft_wrap=True, markup=False)
    return 0


def _send_and_compare(console, replay, record, bodies, timeout: float) -> int:
    from rich.table import Table
    from rich.text import Text

    from harness.report.replay import differences, recorded_answer, send

    now = send(replay, timeout=timeout)  # first: a target that cannot be reached is one line, exit 2
    then = recorded_answer(record, bodies)
    console.print(Text(f"Replayed #{replay.seq} ({replay.channel}, {replay.label}): {replay.method} {replay.url}"))
    for name, value in replay.shown:
        console.print(Text(f"  {name}: {value}", style="dim"))
    for note in replay.notes:
        console.print(Text(f"  note: {note}", style="yellow"))
    table = Table(show_header=True, expand=False)
    table.add_column("")
    table.add_column(f"recorded (#{replay.seq})", overflow="fold")
    table.add_column("replayed now", overflow="fold")
    table.add_row("status", Text(then.outcome), Text(now.outcome))
    table.add_row("codes", Text(", ".join(then.codes) or "none"), Text(", ".join(now.codes) or "none"))
    table.add_row("time", Text(_ms(then.elapsed_ms)), Text(_ms(now.elapsed_ms)))
    table.add_row("body", Text(_body(then.body)), Text(_body(now.body)))
    console.print(table)
    found = differences(then, now)
    if found:
        console.print(Text(f"DIFFERENT from the recording: {'; '.join(found)}", style="bold red"))
        return 1
    console.print(Text("Same answer as recorded (status and response codes).", style="green"))
    return 0


def _ms(value: float | None) -> str:
    return f"{value:g} ms" if value is not None else "—"


def _body(data: bytes | None) -> str:
    import json

    if not data:
        return "(none)"
    try:
        text = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = data[:4000].decode("utf-8", "replace")
    lines = text.splitlines()
    more = f"\n… {len(lines) - BODY_LINES} more lines" if len(lines) > BODY_LINES else ""
    return "\n".join(lines[:BODY_LINES]) + more
