"""`dipcert samples` and `dipcert interfaces` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.messages.schemapack import load_pack
from harness.messages.validate import validate_body

OURS = load_pack()


def test_samples_writes_one_posted_array_per_message(tmp_path: Path, capsys) -> None:
    assert main(["samples", "IF-061", "--count", "2", "--seed", "3", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["IF-061_MDRStart_1.json", "IF-061_MDRStart_2.json"]
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'IF-061_MDRStart_1.json'}" in out and "2 message file(s)" in out
    bodies = [json.loads((tmp_path / name).read_text()) for name in files]
    for name, body in zip(files, bodies):
        assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"payload"}
        assert validate_body((tmp_path / name).read_bytes(), interface_id="IF-061", pack=OURS) == []
    assert bodies[0] != bodies[1]


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        assert main(["samples", "IF-065", "--event", "MDRTOU", "--seed", "9", "--out", str(tmp_path / folder)]) == 0
    name = "IF-065_MDRTOU_1.json"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_all_events_of_all_interfaces(tmp_path: Path) -> None:
    assert main(["samples", "--all", "--out", str(tmp_path)]) == 0
    files = sorted(tmp_path.iterdir())
    assert len(files) == 24
    for path in files:
        interface_id = path.name.split("_")[0]
        assert validate_body(path.read_bytes(), interface_id=interface_id, pack=OURS) == [], path.name
    per_interface = sorted(tmp_path.glob("IF-024_*"))
    assert len(per_interface) == 6


def test_egress_form_and_days(tmp_path: Path) -> None:
    assert main(["samples", "IF-064", "--form", "egress", "--days", "200", "--out", str(tmp_path)]) == 0
    [item] = json.loads((tmp_path / "IF-064_MDRConsumption_1.json").read_text())
    assert item["payload"]["CommonBlock"]["D0"]["publicationID"] == "PUB-064"
    assert len(item["payload"]["CustomBlock"]["B941List"]) == 200


@pytest.mark.parametrize("argv, message", [
    (["samples", "IF-099"], "unknown interface 'IF-099'"),
    (["samples", "IF-061", "--event", "Nope"], "IF-061 has no event 'Nope'"),
    (["samples"], "name one interface"),
    (["samples", "IF-061", "--all"], "name one interface"),
    (["samples", "IF-061", "--count", "0"], "--count should be at least 1"),
    (["samples", "IF-064", "--days", "201"], "--days should be between 1 and 200"),
    (["interfaces", "--role", "SUP"], "--role should be one of MDR, SDS"),
])
def test_mistakes_are_one_line_and_exit_2(argv, message, tmp_path: Path, capsys) -> None:
    assert main([*argv, *(["--out", str(tmp_path)] if argv[0] == "samples" else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_out_folder_that_cannot_be_made(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["samples", "IF-061", "--out", str(blocker / "sub")]) == 2
    assert "cannot create the --out folder" in capsys.readouterr().err


def test_interfaces_table_shows_directions_and_assumptions(capsys) -> None:
    assert main(["interfaces"]) == 0
    out = capsys.readouterr().out
    for text in ("IF-006", "IF-065", "MDR Start Request", "SDS → MDR", "in + out", "A-IF065-DIRECTION", "required"):
        assert text in out
    assert "IF-065 per-event direction is not stated" in out


def test_interfaces_for_one_role(capsys) -> None:
    assert main(["interfaces", "--role", "sds"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "┃ id" in line)
    assert "┃ SDS" in header and "┃ MDR" not in header
    assert "IF-064" in out
