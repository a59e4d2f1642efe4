"""`dipcert init`: write a commented participant profile to start from.

Asks on a terminal for what the flags do not give; otherwise (or with --non-interactive) uses the
flags and example defaults. The file is validated with `load_profile`'s rules before it is written,
so what init writes always loads. Secrets are written as environment-variable references only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError

HELP = ("Write a commented participant profile (TOML). Missing answers are asked on a terminal, "
        "or taken from example defaults with --non-interactive. Refuses to overwrite without --force.")

DEFAULTS = {"role": "MDR", "company": "Example Energy Ltd", "mpid": "EXMP", "dip_id": "1234567890",
            "partner_mpid": "PART", "partner_dip_id": "1111111111", "interfaces": "all"}
EXTENDED = ("IF-061", "IF-062", "IF-063", "IF-064", "IF-065")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("dipcert.toml"), metavar="FILE",
                        help="where to write the profile (default dipcert.toml)")
    parser.add_argument("--role", type=str.upper, choices=("MDR", "SDS"), help="the role being certified")
    parser.add_argument("--company", metavar="NAME", help="company name given to the DIP Manager")
    parser.add_argument("--mpid", metavar="X", help="Market Participant ID (4 capital letters)")
    parser.add_argument("--dip-id", metavar="N", help="the DIP ID for this MPID and role (10 characters)")
    parser.add_argument("--partner-mpid", metavar="X", help="the nominated partner's MPID (extended interfaces)")
    parser.add_argument("--partner-dip-id", metavar="N", help="the nominated partner's DIP ID")
    parser.add_argument("--interfaces", metavar="IF-061,IF-062,...|all",
                        help="interfaces to certify: a comma-separated list or 'all' (default all)")
    parser.add_argument("--dcc-user-role", choices=("supplier", "MDR"),
                        help="MHHS-DEL1384: how the smart-meter data is collected: the existing Import/Export "
                             "Supplier DCC User Roles (supplier) or the MDR DCC User Role (MDR); "
                             "writes [qualification]")
    parser.add_argument("--operating-model", type=int, choices=(1, 2, 3, 4),
                        help="the guidance appendix's operating model of the MDR function (1-4; with --dcc-user-role)")
    parser.add_argument("--non-interactive", action="store_true", help="never ask; use flags and defaults")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


# --- answers ----------------------------------------------------------------------------------

def _check_mpid(value: str, flag: str) -> str:
    if not re.fullmatch(r"[A-Z]{4}", value):
        raise UsageError(f"{flag}: expected 4 capital letters, got {value!r}")
    return value


def _check_dip_id(value: str, flag: str) -> str:
    if len(value) != 10:
        raise UsageError(f"{flag}: expected exactly 10 characters, got {value!r} ({len(value)})")
    return value


def parse_interfaces(value: str, known: list[str]) -> list[str]:
    """'all' or 'IF-061,if062' -> catalogue ids in catalogue order; unknown ids are a UsageError."""
    from harness.config.profile import normalise_interface_id

    if value.strip().lower() == "all":
        return list(known)
    wanted = {normalise_interface_id(part.strip()) for part in value.split(",") if part.strip()}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise UsageError(f"--interfaces: unknown interface {unknown[0]} "
                         f"(expected 'all' or some of: {', '.join(known)})")
    if not wanted:
        raise UsageError("--interfaces: expected 'all' or a comma-separated list such as IF-061,IF-062")
    return [i for i in known if i in wanted]


def _ask(args: argparse.Namespace, known: list[str]) -> dict[str, Any]:
    """Answers from flags; on a terminal, prompt for the missing ones (rich.prompt)."""
    interactive = not args.non_interactive and sys.stdin.isatty()
    answers: dict[str, Any] = {}

    def get(name: str, question: str, check: Any = None, choices: list[str] | None = None) -> str:
        value = getattr(args, name)
        if value is None and interactive:
            from rich.prompt import Prompt

            while True:
                value = Prompt.ask(question, default=DEFAULTS[name], choices=choices)
                try:
                    return check(value, name) if check else value
                except UsageError as exc:
                    print(f"  {exc}", file=sys.stderr)
        value = DEFAULTS[name] if value is None else value
        return check(value, f"--{name.replace('_', '-')}") if check else value

    answers["role"] = get("role", "Role being certified", choices=["MDR", "SDS"])
    answers["company"] = get("company", "Company name")
    answers["mpid"] = get("mpid", "MPID (4 capital letters)", _check_mpid)
    answers["dip_id"] = get("dip_id", f"{answers['role']} DIP ID (10 characters)", _check_dip_id)
    answers["interfaces"] = parse_interfaces(get("interfaces", "Interfaces to certify (comma-separated, or all)"),
                                             known)
    if any(i in EXTENDED for i in answers["interfaces"]):
        partner = "SDS" if answers["role"] == "MDR" else "MDR"
        answers["partner_mpid"] = get("partner_mpid", f"Nominated {partner}'s MPID", _check_mpid)
        answers["partner_dip_id"] = get("partner_dip_id", f"Nominated {partner}'s DIP ID", _check_dip_id)
    if getattr(args, "operating_model", None) is not None and getattr(args, "dcc_user_role", None) is None:
        raise UsageError("--operating-model: give --dcc-user-role too (the [qualification] table needs both)")
    answers["dcc_user_role"] = getattr(args, "dcc_user_role", None)
    answers["operating_model"] = getattr(args, "operating_model", None)
    return answers


# --- the file ---------------------------------------------------------------------------------

def _q(value: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


def render_profile(answers: dict[str, Any]) -> str:
    """The commented profile text for these answers."""
    from harness.core.catalogue import load_catalogue

    catalogue = load_catalogue()
    role = answers["role"]
    partner_role = "SDS" if role == "MDR" else "MDR"
    chosen = answers["interfaces"]
    extended = [i for i in chosen if i in EXTENDED]
    outgoing = [i for i in chosen if "outgoing" in catalogue.get(i).directions_for(role)]
    incoming = [i for i in chosen if "incoming" in catalogue.get(i).directions_for(role)]
    section = "5" if role == "MDR" else "6"

    lines = [
        f"# dipcert participant profile: {role} certification (DIP Manager guidance 4.1 and {section}).",
        "# Every field is explained in docs/profile.md. Check readiness with:",
        "#   dipcert preflight --profile THIS_FILE",
        "# Secrets are never written here: they are referenced as {env = \"NAME\"} or {file = \"path\"}.",
        "# Relative paths are relative to this file.",
        "",
        "environment = \"UIT\"                 # DEV, SIT, SITB, UIT or PRD; certification happens in UIT",
        "",
        "[party]                             # the participant being certified",
        f"role = {_q(role)}                       # MDR or SDS",
        f"company = {_q(answers['company'])}",
        f"mpid = {_q(answers['mpid'])}                      # Market Participant ID: 4 capital letters",
        f"dip_id = {_q(answers['dip_id'])}              # the {role} DIP ID for this MPID (10 characters)",
        "# dcp_id = \"0000000000\"             # the DCP Id, when a DIP Connection Provider provisions the service",
        "",
        "[system]                            # the system under test; reuse (guidance "
        f"{section}.4) compares these",
        "name = \"MySystem\"",
        "version = \"1.0.0\"",
        "# build_id = \"sha256:...\"          # exact build, so reuse can prove it is the same one",
        "# supplier = \"Software Supplier Ltd\"",
        "# supplier_is_dcp = false           # true when the supplier is a DCP (then set party.dcp_id)",
        "",
    ]
    partner_lines = [
        f"[partner]                           # the nominated {partner_role} for the extended exchange",
        f"role = {_q(partner_role)}",
        f"mpid = {_q(answers.get('partner_mpid', DEFAULTS['partner_mpid']))}",
        f"dip_id = {_q(answers.get('partner_dip_id', DEFAULTS['partner_dip_id']))}",
        "endpoint = \"reference\"              # dipcert's reference partner, or the partner's https webhook URL",
    ]
    if extended:
        lines += partner_lines
    else:
        lines += ["# No extended interface (IF-061..IF-065) is enabled, so no partner is needed:"]
        lines += ["# " + line for line in partner_lines]
    lines += ["", "[interfaces]                        # the guidance note's table: \"Y\" or \"N\""]
    for iid, interface in catalogue.interfaces.items():
        directions = " and ".join(sorted(interface.directions_for(role))) or "not used"
        flag = "Y" if iid in chosen else "N"
        lines.append(f"{iid} = \"{flag}\"                        # {interface.category}: {interface.name} "
                     f"({directions} for an {role})")
    lines += ["", "[webhooks]                          # where the DIP delivers your incoming interfaces"]
    if incoming:
        lines += ["default = \"https://127.0.0.1:8443/dip\"   # used for every incoming interface "
                  "without its own entry",
                  f"# {incoming[0]} = \"https://127.0.0.1:8443/dip/{incoming[0].lower()}\""]
    else:
        lines += ["# none: no enabled interface is incoming for an " + role]
    lines += [
        "",
        "[credentials]                       # guidance 4.1-4.3",
        "api_key_primary = { env = \"DIP_API_KEY_PRIMARY\" }       # primary API key of the DIP ID",
        "api_key_secondary = { env = \"DIP_API_KEY_SECONDARY\" }   # secondary API key (must differ)",
        "signing_certificate = \"certs/signing.pem\"   # the DIP mTLS/signing certificate (PEM)",
        "signing_key = \"certs/signing.key\"           # its private key (PEM)",
        "# signing_key_password = { env = \"SIGNING_KEY_PASSWORD\" }   # if the key is encrypted",
        "# tls_ca = \"certs/ca.pem\"                  # CA of your webhook's server certificate",
        "# client_certificate = \"certs/client.pem\"  # mTLS client certificate towards the DIP",
        "# client_key = \"certs/client.key\"",
        "",
        "[triggers]                          # how the harness asks you to send each outgoing flow",
    ]
    if outgoing:
        lines += ["default = { kind = \"http\", url = \"http://127.0.0.1:9100/trigger\" }",
                  f"# {outgoing[0]} = {{ kind = \"command\", command = \"my-cli send {{mpan}}\", timeout = 60 }}",
                  f"# {outgoing[-1]} = {{ kind = \"manual\", instructions = \"send it from the console\", "
                  "timeout = 300 }"]
    else:
        lines += ["# none: no enabled interface is outgoing for an " + role]
    lines += [
        "",
        "[harness]",
        "hub_host = \"127.0.0.1\"              # where the simulated DIP listens",
        "hub_port = 0                        # 0: any free port",
        "timeout = 10.0                      # seconds: bound on every request and wait",
        "skew_seconds = 300                  # allowed clock skew on X-DIP-Signature-Date",
        "",
        "[policy]                            # how checks beyond the guidance's words are weighed",
        "must_reject = \"advisory\"            # advisory (shown, not blocking readiness) or blocking: the "
        "<IF>/reject requirements (wrong MPAN check digit -> RCP1061, future senderTimestamp -> RCP1008)",
        "",
    ]
    return "\n".join(lines + qualification_lines(answers))


def qualification_lines(answers: dict[str, Any]) -> list[str]:
    """The [qualification] table (MHHS-DEL1384): written when --dcc-user-role is given, else commented out."""
    role = answers.get("dcc_user_role")
    model = answers.get("operating_model") or (1 if role == "supplier" else 3)
    mark = "" if role else "# "
    lines = [
        "# MHHS-DEL1384 qualification prerequisites, attested (not proved by dipcert): the documents go into the",
        "# bundle by hash. With the MDR DCC User Role, SECAS's confirmation of the full DCC User Entry Process is",
        "# required (A203): without it <role>-5.1|6.1/qualification/uep-confirmation fails. See docs/profile.md.",
        f"{mark}[qualification]",
        f"{mark}dcc_user_role = {_q(role or 'MDR')}             # supplier (existing IS/ES DCC User Roles) or MDR "
        "(the MDR DCC User Role)",
        f"{mark}operating_model = {model}                 # guidance appendix: 1-2 Supplier performs MDR, "
        "3 the SDS does, "
        "4 the SDS through a third party",
    ]
    if answers["role"] == "SDS":
        lines.append("# mdr_dip_id = \"0000000000\"         # the MDR DIP ID allocated to you when you perform "
                     "MDR (A201)")
    if role == "MDR" or not role:
        lines.append(f"{mark}uep_confirmation = \"evidence/secas-uep-confirmation.pdf\"   # SECAS's confirmation of "
                     "the full User Entry Process")
    lines += ["# uept_certificate = \"evidence/dcc-uept-certificate.pdf\"   # optional; not enough on its own (A203)",
              ""]
    return lines


def run(args: argparse.Namespace) -> int:
    import tomllib

    from harness.config.profile import parse_profile
    from harness.core.catalogue import load_catalogue

    out: Path = args.out
    if out.exists() and not args.force:
        raise UsageError(f"{out}: already exists; pass --force to overwrite it")
    if out.exists() and out.is_dir():
        raise UsageError(f"{out}: is a folder; give a file name with --out")
    answers = _ask(args, list(load_catalogue().interfaces))
    text = render_profile(answers)
    parse_profile(tomllib.loads(text), out)  # what init writes must load (documents are read by run, not here)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{out}: cannot write ({exc.strerror})") from None
    print(f"wrote {out}")
    print("next: set DIP_API_KEY_PRIMARY and DIP_API_KEY_SECONDARY, put your certificate and key under "
          f"{out.parent / 'certs'}, then run: dipcert preflight --profile {out}")
    return 0
