"""`dipcert hub --profile FILE`: the simulated DIP on its own.

A participant points its DIP client at the printed base URL (its API keys and signing certificate
come from its profile, exactly as registered on the real DIP) and watches every submission,
rejection and delivery as it happens. The hub's own signing certificate is written out so the
participant's webhook can verify deliveries.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

HELP = "Run the simulated DIP for a participant profile and show what it receives and delivers."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", type=Path, required=True, help="participant profile (TOML)")
    parser.add_argument("--host", default=None, help="address to listen on (default: profile, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: profile, or a free one)")
    parser.add_argument("--dip-certificate-out", type=Path, default=Path("dip-signing-certificate.pem"),
                        help="where to write the hub's signing certificate (PEM) for your webhook to trust")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: run until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    from harness.commands.console import make_console

    from harness.hubsetup import build_hub
    from harness.profile import load_profile

    profile = load_profile(args.profile)
    hub = build_hub(profile, host=args.host, port=args.port)
    console = make_console()
    stop = threading.Event()
    with hub:
        args.dip_certificate_out.write_bytes(hub.identity.cert_pem)
        console.print(f"[bold]dipcert hub[/] for {profile.role} {profile.party.dip_id} "
                      f"({profile.environment}) listening on [cyan]{hub.base_url}[/]")
        console.print(f"  submit:   POST {hub.base_url}/dip-channel/IF-0xx with X-API-Key and X-DIP-* headers")
        console.print(f"  DIP signing certificate written to {args.dip_certificate_out}")
        console.print("  Ctrl-C stops." if args.duration is None else f"  stopping after {args.duration:g} s.")
        seen = [0, 0, 0]
        try:
            while not stop.wait(0.5 if args.duration is None else min(0.5, args.duration)):
                _print_new(console, hub, seen)
                if args.duration is not None:
                    args.duration -= 0.5
                    if args.duration <= 0:
                        break
        except KeyboardInterrupt:
            pass
        _print_new(console, hub, seen)
    return 0


def _print_new(console, hub, seen: list[int]) -> None:
    """Print what arrived since the last call (accepted, rejected, delivered)."""
    received, rejected, delivered = hub.received(), hub.rejections(), hub.deliveries()
    for s in received[seen[0]:]:
        console.print(f"[green]accepted[/] {s.interface_id} [{s.event}] from {s.sender} -> {s.transaction_id}")
    for r in rejected[seen[1]:]:
        reasons = "; ".join(f.message for f in r.findings[:3])
        console.print(f"[red]rejected[/] {r.status} {r.endpoint} {' '.join(r.codes)} {reasons}")
    for d in delivered[seen[2]:]:
        console.print(f"[blue]delivered[/] {d.interface_id} to {d.recipient} at {d.url}: {d.outcome}")
    seen[:] = [len(received), len(rejected), len(delivered)]
