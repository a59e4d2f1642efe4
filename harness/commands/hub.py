"""`dipcert hub`: the simulated DIP on its own.

`dipcert hub serve --state DIR ...` runs it as a standing service (the DIP Manager's or a DCP's):
a persistent identity, parties registered from profiles or a registration file, HTTPS with mTLS,
every request and delivery in the transcript under DIR (kept across restarts), one log line per
record. `dipcert hub --profile FILE` is the quick form for one participant pointing its own system at
a hub on this machine: plain http, nothing kept, the DIP certificate written out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

HELP = ("Run the simulated DIP: `dipcert hub serve --state DIR` as a standing service (HTTPS, mTLS, "
        "persistent transcript), or `dipcert hub --profile FILE` for one participant on this machine.")
DEFAULT_PORT = 7443


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", type=Path, default=None, help="participant profile (TOML): the quick form")
    parser.add_argument("--host", default=None, help="address to listen on (default: profile, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: profile, or a free one)")
    parser.add_argument("--dip-certificate-out", type=Path, default=Path("dip-signing-certificate.pem"),
                        help="where to write the hub's signing certificate (PEM) for your webhook to trust")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    sub = parser.add_subparsers(dest="hub_command", metavar="ACTION")
    serve = sub.add_parser("serve", help="run the DIP as a standing service",
                           description="Run the simulated DIP as a standing service: HTTPS with mTLS by default, "
                                       "parties from profiles or a registration file, the transcript kept in --state.")
    serve.add_argument("--state", type=Path, required=True, help="folder of the hub's database (kept across restarts)")
    serve.add_argument("--identity", type=Path, default=None,
                       help="the DIP identity folder (keys and certificates, made once; default: STATE/identity)")
    serve.add_argument("--register", type=Path, action="append", default=[], metavar="PROFILE",
                       help="register the party of this participant profile (repeatable)")
    serve.add_argument("--registrations", type=Path, action="append", default=[], metavar="FILE",
                       help="register the parties listed in this TOML file (repeatable; see docs/hub.md)")
    serve.add_argument("--host", dest="serve_host", metavar="HOST", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", dest="serve_port", metavar="PORT", type=int, default=DEFAULT_PORT,
                       help=f"port, 1-65535, or 0 for any free one (default {DEFAULT_PORT})")
    serve.add_argument("--name", action="append", default=[], metavar="HOST",
                       help="a host name or address participants use; the TLS certificate covers it (repeatable)")
    serve.add_argument("--public-url", default=None, help="the base URL participants use, when not http(s)://HOST:PORT")
    serve.add_argument("--plain-http", action="store_true",
                       help="no TLS at all (a self-test on this machine only; labelled so in every session)")
    serve.add_argument("--no-mtls", action="store_true", help="HTTPS without demanding client certificates")
    serve.add_argument("--admin-token-file", type=Path, default=None,
                       help="file holding the bearer token of the admin API (off without it)")
    serve.add_argument("--environment", default="UIT", help="the environment this DIP plays (default UIT)")
    serve.add_argument("--retries", type=int, default=3, help="re-tries after a failed delivery attempt (default 3)")
    serve.add_argument("--delivery-timeout", type=float, default=30.0, help="bound of one delivery attempt, seconds")
    serve.add_argument("--duration", dest="serve_duration", metavar="SECONDS", type=float, default=None,
                       help="stop after this many seconds (default: until Ctrl-C or SIGTERM)")
    client = sub.add_parser("client-cert",
                            help="issue a participant's mTLS client certificate from the DIP's client CA")
    client.add_argument("--identity", type=Path, required=True, help="the DIP identity folder")
    client.add_argument("--name", required=True, help="the certificate's common name (e.g. the party's DIP ID)")
    client.add_argument("--out", type=Path, required=True, help="folder for NAME.crt and NAME.key (0600)")


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import UsageError

    if args.hub_command == "serve":
        return _serve(args)
    if args.hub_command == "client-cert":
        return _client_cert(args)
    if args.profile is None:
        raise UsageError("give --profile FILE (one participant, plain http), or `dipcert hub serve --state DIR ...`")
    return _quick(args)


def _check_port(port: int | None, option: str = "--port") -> None:
    from harness.core.errors import UsageError

    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"{option} should be 1-65535 (or 0 for any free port), got {port}")


def _wait(duration: float | None) -> None:
    """Until `duration` passes, Ctrl-C, or SIGTERM (a service manager stopping the hub)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _quick(args: argparse.Namespace) -> int:
    # Imports here keep `dipcert --help` fast (see harness/cli.py).
    from harness.config.profile import load_profile
    from harness.dip.log import printer
    from harness.dip.provision import build_hub

    _check_port(args.port)
    profile = load_profile(args.profile)
    hub = build_hub(profile, host=args.host, port=args.port)
    hub.transcript.subscribe(printer(sys.stdout))
    with hub:
        args.dip_certificate_out.write_bytes(hub.identity.cert_pem)
        print(f"dipcert hub for {profile.role} {profile.party.dip_id} ({profile.environment}) listening on "
              f"{hub.base_url} (plain http, nothing kept: a self-test on this machine)", flush=True)
        print(f"  submit:   POST {hub.base_url}/dip-channel/IF-0xx with X-API-Key and X-DIP-* headers")
        print(f"  DIP signing certificate written to {args.dip_certificate_out}")
        print("  Ctrl-C stops." if args.duration is None else f"  stopping after {args.duration:g} s.", flush=True)
        _wait(args.duration)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from harness.core.errors import UsageError
    from harness.dip import registrations
    from harness.dip.config import DeliverySettings, HubConfig
    from harness.dip.identity import load_identity
    from harness.dip.log import printer
    from harness.dip.server import Hub
    from harness.transport.apikeys import read_api_key
    from harness.transport.delivery import Timeouts

    _check_port(args.serve_port)
    if args.retries < 0 or not 0 < args.delivery_timeout <= 600:
        raise UsageError("--retries should be 0 or more and --delivery-timeout between 0 and 600 seconds")
    identity = load_identity(args.identity or args.state / "identity", tls=True, names=args.name)
    parties = registrations.from_profiles(args.register)
    for path in args.registrations:
        parties += registrations.from_file(path)
    token = read_api_key(file=args.admin_token_file, what="admin token") if args.admin_token_file else None
    t = args.delivery_timeout
    cert, key = identity.delivery_client()
    delivery = DeliverySettings(timeouts=Timeouts(connect=min(5.0, t), read=t, write=t, pool=min(5.0, t), total=t),
                                retries=args.retries, client_cert=cert, client_key=key)
    tls = None if args.plain_http else identity.hub_tls(mtls=not args.no_mtls)
    hub = Hub(HubConfig(host=args.serve_host, port=args.serve_port, environment=args.environment,
                        identity=identity.signing, tls=tls, delivery=delivery, state=args.state, admin_token=token,
                        keep_views=False, public_url=args.public_url))
    hub.transcript.subscribe(printer(sys.stdout))
    for party in parties:
        hub.register_party(party)
    hub.start()
    mode = "plain http: a self-test only" if tls is None else ("HTTPS, mTLS required" if hub.mtls else "HTTPS")
    print(f"dipcert hub serving on {hub.base_url} ({mode}), environment {args.environment}", flush=True)
    print(f"  identity  {identity.folder} (signing certificate {identity.signing_certificate}, "
          f"{identity.signing.fingerprint()})")
    if tls is not None:
        print(f"  TLS       clients trust {identity.path('ca')}; "
              + (f"client certificates from {identity.path('client-ca')}" if hub.mtls else "no client certificates"))
    print(f"  state     {hub.db.path}; {len(parties)} part{'y' if len(parties) == 1 else 'ies'} registered now; "
          f"admin API {'on' if token else 'off'}", flush=True)
    _write_endpoint(args.state, hub, identity)
    try:
        _wait(args.serve_duration)
    finally:
        hub.stop()
        (args.state / "hub.json").unlink(missing_ok=True)
    return 0


def _write_endpoint(state: Path, hub, identity) -> None:
    """STATE/hub.json: where this hub listens (for scripts and tests), replaced atomically."""
    data = {"base_url": hub.base_url, "pid": os.getpid(), "fingerprint": identity.signing.fingerprint(),
            "tls": hub.tls, "mtls": hub.mtls, "identity": str(identity.folder)}
    tmp = state / "hub.json.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(state / "hub.json")


def _client_cert(args: argparse.Namespace) -> int:
    from harness.dip.identity import load_identity

    identity = load_identity(args.identity, tls=True)
    cert, key = identity.issue_client(args.name).write(args.out, args.name)
    print(f"client certificate {cert} and key {key} (0600), issued by {identity.path('client-ca')}")
    return 0
