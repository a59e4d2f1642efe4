"""`dipcert serve-reference mdr|sds`: run a reference participant in the foreground.

Useful as a partner while building your own MDR or SDS, and to see what the harness catches
(`--fault`). With no `--hub` a local simulated DIP is started too, with throw-away certificates
and API keys written to a folder, so that your own system can talk to the same hub.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
from pathlib import Path

HELP = ("Run the reference MDR or SDS (with optional fault switches) until Ctrl-C. Without --hub a "
        "local simulated DIP is started as well.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("role", choices=["mdr", "sds"], type=str.lower, help="which reference participant to run")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME",
                        help="turn on a fault switch (repeatable), e.g. 47-periods or webhook-500:IF-024")
    parser.add_argument("--list-faults", action="store_true", help="list the fault switches and exit")
    parser.add_argument("--port", type=int, default=0, help="port for the participant on 127.0.0.1 (default: any free)")
    parser.add_argument("--hub", metavar="URL", help="base URL of a running DIP/hub (default: start a local hub)")
    parser.add_argument("--hub-port", type=int, default=0, help="port of the local hub (default: any free)")
    parser.add_argument("--api-key-env", metavar="NAME", help="environment variable holding the API key (with --hub)")
    parser.add_argument("--secondary-api-key-env", metavar="NAME",
                        help="environment variable holding the secondary API key (with --hub; optional)")
    parser.add_argument("--cert", metavar="PEM", help="signing certificate (with --hub)")
    parser.add_argument("--key", metavar="PEM", help="signing private key (with --hub)")
    parser.add_argument("--key-password-env", metavar="NAME", help="environment variable with the key's password")
    parser.add_argument("--dip-cert", metavar="PEM",
                        help="the DIP's signing certificate, to verify deliveries (with --hub)")
    parser.add_argument("--hub-ca", metavar="PEM",
                        help="CA certificate of an https hub's server certificate (with --hub)")
    parser.add_argument("--client-cert", metavar="PEM",
                        help="client certificate to present to an mTLS hub (with --hub)")
    parser.add_argument("--client-key", metavar="PEM", help="its private key (with --client-cert)")
    parser.add_argument("--webhook-cert", metavar="PEM", help="serve the webhooks over HTTPS with this certificate")
    parser.add_argument("--webhook-key", metavar="PEM", help="its private key (with --webhook-cert)")
    parser.add_argument("--webhook-client-ca", metavar="PEM",
                        help="demand a client certificate issued by this CA on the webhooks (the DIP's ca.pem)")
    parser.add_argument("--partner-api-key-env", metavar="NAME",
                        help="local hub only: API key your own system (the partner) will use; default: generated")
    parser.add_argument("--out", metavar="DIR", help="local hub only: folder for the throw-away certificates and keys")
    parser.add_argument("--mpan", action="append", default=None, metavar="MPAN",
                        help="MDR only: serve just these MPAN cores (repeatable); default: any with B019 naming it")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated values")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds instead of waiting for Ctrl-C")


def print_faults() -> None:
    from harness.reference.faults import load_faults

    for fault in load_faults():
        print(f"{fault.usage:32} {fault.role:5} breaks {fault.breaks}")
        text = fault.description.format(**{name: name.upper() for name in fault.params})
        print(f"{'':32} {text}")


def _env(name: str, what: str) -> str:
    from harness.transport.apikeys import read_api_key

    return read_api_key(env=name, what=what)


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import UsageError
    from harness.core.files import output_folder
    from harness.messages.samples import DEFAULT_PARTIES
    from harness.reference.faults import parse_faults

    if args.list_faults:
        print_faults()
        return 0
    role = args.role.upper()
    parse_faults(args.fault, role)  # a wrong switch is a usage error before anything starts
    party, partner = DEFAULT_PARTIES[role], DEFAULT_PARTIES["SDS" if role == "MDR" else "MDR"]
    if args.mpan and role != "MDR":
        raise UsageError("--mpan applies to the reference MDR only")
    if not 0 <= args.port <= 65535 or not 0 <= args.hub_port <= 65535:
        raise UsageError("--port and --hub-port should be between 0 and 65535")
    hub = None
    scratch = None  # throw-away keys of a local hub without --out: removed however the command ends
    try:
        if args.hub:
            identity, dip_cert, keys, hub_url = _external(args)
        else:
            if args.out:
                out = output_folder(Path(args.out))
            else:
                out = scratch = Path(tempfile.mkdtemp(prefix="dipcert-reference-"))
            hub, identity, dip_cert, keys, hub_url = _local_hub(args, out, party, partner)
        from harness.reference.participant import ReferenceParticipant

        if bool(args.webhook_cert) != bool(args.webhook_key) or (args.webhook_client_ca and not args.webhook_cert):
            raise UsageError("--webhook-cert and --webhook-key go together; --webhook-client-ca needs them")
        if bool(args.client_cert) != bool(args.client_key):
            raise UsageError("--client-cert and --client-key go together")
        participant = ReferenceParticipant(role, party=party, partner=partner, hub_url=hub_url, api_keys=keys,
                                           identity=identity, dip_certificate=dip_cert, faults=args.fault,
                                           port=args.port, seed=args.seed,
                                           served_mpans=set(args.mpan) if args.mpan else None,
                                           verify=args.hub_ca or True,
                                           client_cert=((args.client_cert, args.client_key)
                                                        if args.client_cert else None),
                                           webhook_tls=((args.webhook_cert, args.webhook_key)
                                                        if args.webhook_cert else None),
                                           webhook_client_ca=args.webhook_client_ca)
        with participant:
            print(f"reference {role} {party.dip_id} ({party.mpid}) talking to the DIP at {hub_url}")
            if args.fault:
                print(f"  fault switches: {', '.join(participant.faults.specs)}")
            for interface_id in participant.incoming_interfaces:
                print(f"  webhook {interface_id}: {participant.webhook_url(interface_id)}")
            print(f"  trigger: POST {participant.trigger_url}  {{\"interface\": \"IF-0xx\", \"event\"?, \"mpan\"?}}")
            print(f"  state:   GET  {participant.base_url}/state")
            print("Ctrl-C to stop." if args.duration is None else f"stopping after {args.duration:g} s.", flush=True)
            if args.duration is not None:
                threading.Event().wait(args.duration)
            else:
                _forever()
    finally:
        if hub is not None:
            hub.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _forever() -> None:
    stop = threading.Event()
    while not stop.wait(3600):  # wakes on Ctrl-C (KeyboardInterrupt in the main thread)
        pass


def _external(args: argparse.Namespace):
    from harness.core.errors import UsageError
    from harness.transport.signing import SigningIdentity

    missing = [flag for flag, value in (("--api-key-env", args.api_key_env), ("--cert", args.cert),
                                        ("--key", args.key), ("--dip-cert", args.dip_cert)) if not value]
    if missing:
        raise UsageError(f"with --hub, also give {', '.join(missing)}")
    if not args.hub.startswith(("http://127.0.0.1", "https://127.0.0.1", "http://localhost", "https://localhost")):
        raise UsageError(f"--hub should be a 127.0.0.1 URL (the reference participants are for local testing), "
                         f"got {args.hub!r}")
    password = _env(args.key_password_env, "key password") if args.key_password_env else None
    identity = SigningIdentity.from_files(args.cert, args.key, password)
    dip_cert = _load_cert(args.dip_cert)
    primary = _env(args.api_key_env, "API key")
    secondary = _env(args.secondary_api_key_env, "secondary API key") if args.secondary_api_key_env else primary
    return identity, dip_cert, (primary, secondary), args.hub.rstrip("/")


def _load_cert(path: str):
    from pathlib import Path

    from cryptography import x509

    from harness.core.errors import ConfigError

    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())[0]
    except FileNotFoundError:
        raise ConfigError(f"{path}: DIP certificate file not found") from None
    except (ValueError, IndexError):
        raise ConfigError(f"{path}: not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')") from None


def _local_hub(args: argparse.Namespace, out: Path, party, partner):
    """A hub with throw-away PKI in `out`: the DIP, this participant and the partner (your system) registered."""
    from harness.dip.config import HubConfig, PartyRegistration
    from harness.dip.server import Hub
    from harness.transport.apikeys import generate_api_key, key_fingerprint
    from harness.transport.certs import make_ca

    ca = make_ca("dipcert serve-reference CA")
    dip = ca.issue("dip.local.dipcert")
    own = ca.issue(f"reference-{party.role.lower()}.local.dipcert")
    other = ca.issue(f"partner-{partner.role.lower()}.local.dipcert")
    ca.write(out, "ca")
    dip_cert_path = out / "dip.crt"
    dip_cert_path.write_bytes(dip.cert_pem)
    partner_cert, partner_key = other.write(out, f"partner-{partner.role.lower()}")
    keys = (generate_api_key(), generate_api_key())
    if args.partner_api_key_env:
        partner_primary = _env(args.partner_api_key_env, "partner API key")
        partner_keys = (partner_primary, generate_api_key())
    else:
        partner_keys = (generate_api_key(), generate_api_key())
        key_file = out / f"partner-{partner.role.lower()}.apikey"
        key_file.touch(mode=0o600)
        key_file.write_text(partner_keys[0] + "\n", encoding="utf-8")
    hub = Hub(HubConfig(port=args.hub_port, identity=dip.identity()))
    hub.start()
    try:
        hub.register_party(PartyRegistration(party.dip_id, party.role, party.mpid, keys, own.cert))
        hub.register_party(PartyRegistration(partner.dip_id, partner.role, partner.mpid, partner_keys, other.cert))
    except BaseException:
        hub.stop()
        raise
    print(f"local simulated DIP at {hub.base_url} (signing certificate {dip_cert_path})")
    print(f"  your {partner.role} is DIP ID {partner.dip_id} ({partner.mpid}); sign with {partner_cert} / "
          f"{partner_key}; API key {key_fingerprint(partner_keys[0])} "
          + (f"from ${args.partner_api_key_env}" if args.partner_api_key_env
             else f"in {out / f'partner-{partner.role.lower()}.apikey'}"))
    print(f"  register your webhooks: POST {hub.base_url}/dip-channel/{{IF}}/pubconfig/{partner.dip_id}")
    return hub, own.identity(), dip.cert, keys, hub.base_url
