"""`dipcert samples`: write realistic sample messages, one file per message.

Each file holds exactly the JSON array a sender POSTs to the DIP (`[{"payload": ...}]`), or with
`--form egress` the array the DIP delivers to a webhook, so a participant can replay it against
its own system or compare it with what it produces. A seed reproduces every file byte for byte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Write sample DIP messages: one JSON file per message, exactly the array a sender POSTs "
        "(or, with --form egress, the array the DIP delivers). The same --seed writes the same files.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("interface", nargs="?", help="interface id, e.g. IF-061 (or use --all)")
    parser.add_argument("--event", help="event name, e.g. MDRTOU (default: every event of the interface)")
    parser.add_argument("--all", action="store_true", help="every event of every interface")
    parser.add_argument("--count", type=int, default=1, help="messages per event (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("samples"), help="output folder (default ./samples)")
    parser.add_argument("--form", choices=("ingress", "egress"), default="ingress",
                        help="ingress: as the sender POSTs it; egress: as the DIP delivers it (adds D0)")
    parser.add_argument("--days", type=int, default=1, help="IF-064 settlement days per message (1-200, default 1)")
    parser.add_argument("--environment", default="UIT", help="S1.environmentTag (default UIT)")


def file_name(interface_id: str, event_name: str, n: int) -> str:
    return f"{interface_id}_{event_name}_{n}.json"


def run(args: argparse.Namespace) -> int:
    import json

    from harness.core.catalogue import Event, load_catalogue
    from harness.core.errors import UsageError
    from harness.core.files import output_folder
    from harness.messages.samples import SampleFactory

    catalogue = load_catalogue()
    if args.all == bool(args.interface):
        raise UsageError("name one interface (e.g. IF-061) or pass --all, not both")
    if args.all and args.event:
        raise UsageError("--event needs an interface, not --all")
    if args.count < 1:
        raise UsageError(f"--count should be at least 1, got {args.count}")
    if not 1 <= args.days <= 200:
        raise UsageError(f"--days should be between 1 and 200 (B941List holds at most 200), got {args.days}")
    events: list[Event]
    if args.all:
        events = catalogue.events()
    elif args.event:
        events = [catalogue.event(args.interface, args.event)]
    else:
        events = list(catalogue.get(args.interface).events)
    factory = SampleFactory(args.seed, environment=args.environment)
    out: Path = output_folder(args.out)
    written = 0
    for event in events:
        for n in range(1, args.count + 1):
            item = factory.message(event.interface_id, event.name, form=args.form, days=args.days)
            path = out / file_name(event.interface_id, event.name, n)
            try:
                path.write_text(json.dumps([item], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"{path}: cannot write ({exc.strerror})") from None
            print(f"wrote {path}")
            written += 1
    print(f"{written} message file(s) in {out} (seed {args.seed}, form {args.form})")
    return 0
