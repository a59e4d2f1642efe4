"""`dipcert`: the command line. Each subcommand lives in its own module under harness/commands/.

A command module defines `HELP: str`, `add_arguments(parser)` and `run(args) -> int`. Modules are
imported when the parser is built, so command modules keep heavy imports (hypothesis, cryptography)
inside run(): that keeps
`dipcert --help` fast. A user mistake anywhere becomes one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import signal
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

from harness import __version__
from harness.core.errors import DipcertError, Terminated
from harness.core.outcomes import ExitCode

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("harness.commands.demo", "certify the built-in reference MDR and SDS end to end"),
    "run": ("harness.commands.run", "certify your system from a profile"),
    "init": ("harness.commands.init", "write a commented participant profile"),
    "preflight": ("harness.commands.preflight", "check onboarding readiness (guidance 4.1)"),
    "verify": ("harness.commands.verify", "re-check an evidence bundle independently"),
    "reuse": ("harness.commands.reuse", "build evidence on a DCP's earlier certification"),
    "promote": ("harness.commands.promote", "promote a certified configuration to production (5.5 / 6.5)"),
    "report": ("harness.commands.report", "re-render the reports of a bundle"),
    "replay": ("harness.commands.replay", "re-send a recorded message, freshly signed, and compare"),
    "hub": ("harness.commands.hub", "run the simulated DIP on its own"),
    "serve-reference": ("harness.commands.serve_reference", "run a reference MDR or SDS"),
    "samples": ("harness.commands.samples", "write sample messages for an interface"),
    "validate": ("harness.commands.validate", "validate message files"),
    "interfaces": ("harness.commands.interfaces", "show the interface catalogue"),
    "schemas": ("harness.commands.schemas", "show or check the schema pack in use"),
}


def _available() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="dipcert",
        description="Certification harness for the extended MDR/SDS flows on Elexon's DIP.",
    )
    parser.add_argument("--version", action="version", version=f"dipcert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name, (module_name, help_text) in _available().items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=getattr(module, "HELP", help_text))
        module.add_arguments(command_parser)
        modules[name] = module
    return parser, modules


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return ExitCode.USAGE
    if threading_is_main():
        signal.signal(signal.SIGTERM, _terminate)  # cleanup as for Ctrl-C, not a silent death
    try:
        return int(modules[args.command].run(args))
    except DipcertError as exc:
        print(f"dipcert {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print(f"dipcert {args.command}: terminated", file=sys.stderr)
        return ExitCode.TERMINATED
    except KeyboardInterrupt:
        print(f"dipcert {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and closed early: not an error of the user's
        sys.stderr.close()
        return ExitCode.OK


def threading_is_main() -> bool:
    """Signal handlers can be set from the main thread only (tests call main() from others)."""
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
