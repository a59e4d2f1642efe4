"""Hostile bundles and options: exit 2 and ONE line, never a traceback (issue 12).

The DIP Manager runs `dipcert verify` (and a DCP `dipcert reuse`, anyone `dipcert report`) on files
other people send. Each case below takes a real bundle and breaks one JSON file the way an attacker
would: nesting 200,000 levels deep, a field of the wrong type, a manifest of a million entries.
Each command is run in-process through `harness.cli.main`, so an unexpected exception fails the test
with its traceback instead of being hidden in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.evidence.bundle import write_zip
from harness.evidence.recorder import read_records
from harness.run.demo import DemoPKI, run_party

DEEP = 200_000
Edit = Callable[[Path], None]


@pytest.fixture(scope="module")
def clean(demo_pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory) -> Any:
    result = run_party("MDR", demo_pki, tmp_path_factory.mktemp("bundles"), timeout=2.0, interfaces=("IF-008",))
    assert result.ready
    return result


# -- the corpus: (file it breaks, how) ----------------------------------------------------------------
def deep_array(path: Path) -> None:
    path.write_bytes(b"[" * DEEP + b"]" * DEEP)


def deep_object(path: Path) -> None:
    path.write_bytes(b'{"a":' * DEEP + b"1" + b"}" * DEEP)


def text(content: str) -> Edit:
    def write(path: Path) -> None:
        path.write_text(content, encoding="utf-8")
    return write


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def json_edit(change: Callable[[Any], Any]) -> Edit:
    """Parse, change (the change may return a replacement), write back."""
    def edit(path: Path) -> None:
        data = json.loads(path.read_text("utf-8"))
        replaced = change(data)
        path.write_text(json.dumps(data if replaced is None else replaced), encoding="utf-8")
    return edit


def record_edit(pick: Callable[[dict[str, Any]], bool], change: Callable[[dict[str, Any]], Any]) -> Edit:
    """Change the first evidence record `pick` selects."""
    def edit(path: Path) -> None:
        lines = path.read_bytes().splitlines()
        for index, line in enumerate(lines):
            record = json.loads(line)
            if pick(record):
                change(record)
                lines[index] = json.dumps(record).encode()
                break
        else:
            raise AssertionError("no record to edit")
        path.write_bytes(b"\n".join(lines) + b"\n")
    return edit


def replace_line(number: int, content: bytes) -> Edit:
    def edit(path: Path) -> None:
        lines = path.read_bytes().splitlines()
        lines[number - 1] = content
        path.write_bytes(b"\n".join(lines) + b"\n")
    return edit


def million_entries(path: Path) -> None:
    entries = b",".join(b'"messages/%d-request.bin":"%s"' % (i, b"0" * 64) for i in range(1_000_000))
    path.write_bytes(b'{"format":"dipcert-bundle/1","files":{' + entries + b"}}")


def many_entries(path: Path) -> None:  # under the size limit, over the member limit: refused before hashing
    data = json.loads(path.read_text("utf-8"))
    data["files"] = {f"messages/{i}-request.bin": "0" * 64 for i in range(25_000)}
    path.write_text(json.dumps(data), encoding="utf-8")


def setitem(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.__setitem__(key, value)


def first_key(mapping: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d[mapping].__setitem__(next(iter(d[mapping])), value)


is_http = lambda r: r["kind"] == "http" and r.get("request", {}).get("body") is not None  # noqa: E731
is_check = lambda r: r["kind"] == "check"  # noqa: E731
is_event = lambda r: r["kind"] == "event"  # noqa: E731
is_plan = lambda r: r.get("event") == "plan"  # noqa: E731
is_start = lambda r: r["kind"] == "run-start"  # noqa: E731

CORPUS: dict[str, tuple[str, Edit]] = {
    # manifest.json
    "manifest-deep-array": ("manifest.json", deep_array),
    "manifest-deep-object": ("manifest.json", deep_object),
    "manifest-nested-100": ("manifest.json", json_edit(setitem("extra", nested(100)))),
    "manifest-not-json": ("manifest.json", text("{")),
    "manifest-not-utf8": ("manifest.json", lambda p: p.write_bytes(b'{"format": "\xff"}')),
    "manifest-an-array": ("manifest.json", text("[]")),
    "manifest-schema-pack-list": ("manifest.json", json_edit(setitem("schema_pack", [1]))),
    "manifest-files-value-int": ("manifest.json", json_edit(first_key("files", 1))),
    "manifest-files-value-list": ("manifest.json", json_edit(first_key("files", ["x"]))),
    "manifest-files-list": ("manifest.json", json_edit(setitem("files", []))),
    "manifest-ready-string": ("manifest.json", json_edit(setitem("ready", "yes"))),
    "manifest-signer-object": ("manifest.json", json_edit(setitem("signer", {}))),
    "manifest-attestation-list": ("manifest.json", json_edit(setitem("attestation", [1]))),
    "manifest-format-int": ("manifest.json", json_edit(setitem("format", 1))),
    "manifest-finished-int": ("manifest.json", json_edit(setitem("finished", 5))),
    "manifest-million-entries": ("manifest.json", million_entries),
    "manifest-25000-entries": ("manifest.json", many_entries),
    # manifest.sig
    "signature-deep": ("manifest.sig", deep_array),
    "signature-not-json": ("manifest.sig", text("nope")),
    "signature-certificate-int": ("manifest.sig", json_edit(setitem("certificate_pem", 1))),
    "signature-algorithm-list": ("manifest.sig", json_edit(setitem("algorithm", ["RSA"]))),
    "signature-a-string": ("manifest.sig", text('"sig"')),
    # summary.json
    "summary-deep-array": ("summary.json", deep_array),
    "summary-deep-object": ("summary.json", deep_object),
    "summary-not-json": ("summary.json", text("{,}")),
    "summary-an-array": ("summary.json", text("[1]")),
    "summary-requirements-int": ("summary.json", json_edit(setitem("requirements", 5))),
    "summary-requirement-findings-string": ("summary.json",
                                            json_edit(lambda d: d["requirements"][0].__setitem__("findings", "x"))),
    "summary-blockers-ints": ("summary.json", json_edit(setitem("blockers", [1, 2]))),
    "summary-party-list": ("summary.json", json_edit(setitem("party", []))),
    # evidence.jsonl
    "evidence-deep-line": ("evidence.jsonl", replace_line(3, b"[" * DEEP + b"]" * DEEP)),
    "evidence-deep-object-line": ("evidence.jsonl", replace_line(3, b'{"a":' * DEEP + b"1" + b"}" * DEEP)),
    "evidence-nested-100": ("evidence.jsonl",
                            record_edit(is_event, lambda r: r.__setitem__("data", {"x": nested(100)}))),
    "evidence-seq-string": ("evidence.jsonl", record_edit(is_start, setitem("seq", "1"))),
    "evidence-seq-list": ("evidence.jsonl", record_edit(is_check, setitem("seq", [4]))),
    "evidence-kind-int": ("evidence.jsonl", record_edit(is_check, setitem("kind", 5))),
    "evidence-run-list": ("evidence.jsonl", record_edit(is_start, setitem("run", []))),
    "evidence-party-list": ("evidence.jsonl", record_edit(is_start, lambda r: r["run"].__setitem__("party", [1]))),
    "evidence-profile-list": ("evidence.jsonl", record_edit(is_start, lambda r: r["run"].__setitem__("profile", [1]))),
    "evidence-fingerprint-parts-list": ("evidence.jsonl", record_edit(
        is_start, lambda r: r["run"]["system_fingerprint"].__setitem__("parts", [1]))),
    "evidence-interfaces-int": ("evidence.jsonl", record_edit(
        is_start, lambda r: r["run"]["system_fingerprint"]["parts"].__setitem__("interfaces", 9))),
    "evidence-plan-requirements-string": ("evidence.jsonl", record_edit(
        is_plan, lambda r: r["data"].__setitem__("requirements", "all"))),
    "evidence-plan-requirement-id-int": ("evidence.jsonl", record_edit(
        is_plan, lambda r: r["data"]["requirements"][0].__setitem__("id", 7))),
    "evidence-plan-assumptions-int": ("evidence.jsonl", record_edit(
        is_plan, lambda r: r["data"]["requirements"][0].__setitem__("assumptions", 7))),
    "evidence-request-list": ("evidence.jsonl", record_edit(is_http, setitem("request", []))),
    "evidence-headers-string": ("evidence.jsonl",
                                record_edit(is_http, lambda r: r["request"].__setitem__("headers", "x"))),
    "evidence-header-pair-of-ints": ("evidence.jsonl", record_edit(
        is_http, lambda r: r["request"].__setitem__("headers", [[1, 2]]))),
    "evidence-body-int": ("evidence.jsonl", record_edit(is_http, lambda r: r["request"].__setitem__("body", 5))),
    "evidence-status-string": ("evidence.jsonl",
                               record_edit(is_http, lambda r: r["response"].__setitem__("status", "200"))),
    "evidence-context-list": ("evidence.jsonl", record_edit(is_http, setitem("context", [1]))),
    "evidence-method-list": ("evidence.jsonl", record_edit(is_http, setitem("method", ["POST"]))),
    "evidence-event-data-list": ("evidence.jsonl", record_edit(is_event, setitem("data", [1]))),
    "evidence-passed-string": ("evidence.jsonl", record_edit(is_check, setitem("passed", "yes"))),
    "evidence-messages-strings": ("evidence.jsonl", record_edit(is_check, setitem("messages", ["a"]))),
    "evidence-findings-ints": ("evidence.jsonl", record_edit(is_check, setitem("findings", [1]))),
    "evidence-requirement-int": ("evidence.jsonl", record_edit(is_check, setitem("requirement", 1))),
}


def broken(clean: Any, tmp_path: Path, case: str) -> Path:
    name, edit = CORPUS[case]
    folder = Path(shutil.copytree(clean.folder, tmp_path / clean.folder.name))
    edit(folder / name)
    return folder


def one_line(capsys: pytest.CaptureFixture[str], *names: str) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1, (out, err)
    assert "Traceback" not in err and all(n in lines[0] for n in names), lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_verify_refuses_each_hostile_bundle_with_one_line(clean: Any, tmp_path: Path, capsys, case: str) -> None:
    folder = broken(clean, tmp_path, case)
    assert main(["verify", str(folder)]) == 2
    one_line(capsys, "dipcert verify: error:", CORPUS[case][0])


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_reuse_refuses_each_hostile_earlier_bundle_with_one_line(demo_pki: DemoPKI, clean: Any, tmp_path: Path,
                                                                 capsys, case: str) -> None:
    folder = broken(clean, tmp_path, case)
    assert main(["reuse", "--profile", str(demo_pki.folder / "demo-mdr.toml"), "--from", str(folder), "--out",
                 str(tmp_path / "out"), "--unchanged-since-attested-by", "Dee Cee, DCP Ltd",
                 "--trust", str(demo_pki.folder / "ca.crt")]) == 2
    one_line(capsys, "dipcert reuse: error:", CORPUS[case][0])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_report_on_each_hostile_bundle_is_one_line_or_renders(clean: Any, tmp_path: Path, capsys,
                                                              case: str) -> None:
    """report reads only the evidence: a broken record is exit 2 with one line; a broken manifest,
    signature or summary does not concern it (it renders from the evidence, exit 0)."""
    folder = broken(clean, tmp_path, case)
    code = main(["report", str(folder), "--out", str(tmp_path / "out")])
    if CORPUS[case][0] == "evidence.jsonl":
        assert code == 2
        one_line(capsys, "dipcert report: error:", "evidence.jsonl")
    else:
        assert code == 0 and (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize("case", ["manifest-deep-array", "summary-requirements-int", "evidence-deep-line",
                                  "evidence-request-list"])
def test_the_same_hostile_files_in_a_zip(clean: Any, tmp_path: Path, capsys, case: str) -> None:
    folder = broken(clean, tmp_path, case)
    archive = write_zip(folder, tmp_path / "hostile.dipcert.zip", prefix=folder.name)
    assert main(["verify", str(archive)]) == 2
    one_line(capsys, "hostile.dipcert.zip", CORPUS[case][0])


def test_an_oversized_manifest_in_a_zip_is_refused_before_it_is_extracted(tmp_path: Path, capsys) -> None:
    archive = tmp_path / "big.dipcert.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("run/manifest.json", b" " * (9 * 1024 * 1024))
    assert main(["verify", str(archive)]) == 2
    assert "manifest limit" in one_line(capsys, "big.dipcert.zip", "manifest.json")


@pytest.mark.parametrize("case", ["reuse-json-deep", "reuse-json-requirements-string", "reuse-sig-certificate-list"])
def test_a_hostile_reuse_decision_is_refused(clean: Any, tmp_path: Path, capsys, case: str) -> None:
    """A bundle that says requirements were reused must hold reuse.json; a hostile one is refused."""
    folder = Path(shutil.copytree(clean.folder, tmp_path / clean.folder.name))
    grant = {"seq": 999, "kind": "event", "event": "reuse", "prev": "0" * 64, "time": "2026-01-01T00:00:00Z",
             "data": {"requirement": "MDR-5.2a/IF-008/consume", "run_id": "earlier", "manifest_sha256": "sha256:00"}}
    with open(folder / "evidence.jsonl", "ab") as log:
        log.write(json.dumps(grant).encode() + b"\n")
    (folder / "reuse.json").write_text(json.dumps({"format": "dipcert-reuse/1", "requirements": []}))
    (folder / "reuse.sig").write_text((folder / "manifest.sig").read_text())
    if case == "reuse-json-deep":
        deep_object(folder / "reuse.json")
    elif case == "reuse-json-requirements-string":
        (folder / "reuse.json").write_text(json.dumps({"format": "dipcert-reuse/1", "requirements": "all"}))
    else:
        json_edit(setitem("certificate_pem", ["x"]))(folder / "reuse.sig")
    assert main(["verify", str(folder)]) == 2
    one_line(capsys, "dipcert verify: error:", "reuse.")


def test_a_deeply_nested_message_body_is_a_finding_not_a_crash(clean: Any, tmp_path: Path, capsys) -> None:
    """Message bodies are the participant's traffic: one nested too deeply fails re-validation (and its
    hash), it does not stop the verifier or the report."""
    folder = Path(shutil.copytree(clean.folder, tmp_path / clean.folder.name))
    request = next(r for r in read_records(folder / "evidence.jsonl") if r["kind"] == "http")["request"]["body"]
    segment = folder / request["file"]
    data = segment.read_bytes()  # the body replaced in its segment (the bodies after it move: more findings)
    start, end = request["offset"], request["offset"] + request["size"]
    segment.write_bytes(data[:start] + b"[" * DEEP + b"]" * DEEP + data[end:])
    assert main(["verify", str(folder), "--json", "--integrity-only"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {"bundle.hash", "evidence.body-hash"} <= {f["rule"] for f in report["findings"]}
    assert main(["report", str(folder), "--out", str(tmp_path / "out")]) == 0


# -- options ------------------------------------------------------------------------------------------
def test_verify_with_a_missing_or_non_bundle_earlier_is_a_usage_error(clean: Any, tmp_path: Path, capsys) -> None:
    assert main(["verify", str(clean.zip_path), "--with", str(tmp_path / "MISSING.zip")]) == 2
    one_line(capsys, "--with", "MISSING.zip")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    assert main(["verify", str(clean.zip_path), "--with", str(tmp_path / "notes")]) == 2
    one_line(capsys, "notes", "not a dipcert bundle")
    hostile = broken(clean, tmp_path / "h", "manifest-schema-pack-list")
    assert main(["verify", str(clean.zip_path), "--with", str(hostile)]) == 2
    one_line(capsys, "manifest.json", "schema_pack")


def _trust_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "folder").mkdir()
    (tmp_path / "not-pem.pem").write_text("hello")
    (tmp_path / "empty.pem").write_bytes(b"")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    return {
        "trust-folder": (["--trust", str(tmp_path / "folder")], "is a folder"),
        "trust-missing": (["--trust", str(tmp_path / "nope.pem")], "not found"),
        "trust-not-pem": (["--trust", str(tmp_path / "not-pem.pem")], "not a PEM certificate"),
        "trust-empty": (["--trust", str(tmp_path / "empty.pem")], "not a PEM certificate"),
        "trust-a-key": (["--trust", str(tmp_path / "key.pem")], "not a PEM certificate"),
        "signer-bad-hex": (["--signer", "sha256:zz"], "64 hex digits"),
        "signer-short": (["--signer", "sha256:" + "a" * 63], "64 hex digits"),
        "signer-missing-file": (["--signer", str(tmp_path / "nope.pem")], "neither sha256"),
        "signer-not-pem": (["--signer", str(tmp_path / "not-pem.pem")], "not a PEM certificate"),
        "signer-folder": (["--signer", str(tmp_path / "folder")], "is a folder"),
        "integrity-only-and-trust": (["--integrity-only", "--trust", str(tmp_path / "nope.pem")], "--integrity-only"),
    }


@pytest.mark.parametrize("case", ["trust-folder", "trust-missing", "trust-not-pem", "trust-empty", "trust-a-key",
                                  "signer-bad-hex", "signer-short", "signer-missing-file", "signer-not-pem",
                                  "signer-folder", "integrity-only-and-trust"])
@pytest.mark.parametrize("command", ["verify", "reuse"])
def test_bad_anchor_options_are_one_line_exit_2(demo_pki: DemoPKI, clean: Any, tmp_path: Path, capsys, case: str,
                                                command: str) -> None:
    options, expected = _trust_cases(tmp_path)[case]
    if command == "verify":
        argv = ["verify", str(clean.zip_path), *options]
    else:
        trust = ["--trust", str(demo_pki.folder / "ca.crt")] if case.startswith("signer") else []  # reuse needs one
        argv = ["reuse", "--profile", str(demo_pki.folder / "demo-mdr.toml"), "--from", str(clean.zip_path),
                "--out", str(tmp_path / "out"), "--unchanged-since-attested-by", "Dee Cee, DCP Ltd", *trust, *options]
    assert main(argv) == 2
    one_line(capsys, f"dipcert {command}: error:", expected)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_trust_file_is_one_line_exit_2(clean: Any, tmp_path: Path, capsys) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("x")
    path.chmod(0)
    assert main(["verify", str(clean.zip_path), "--trust", str(path)]) == 2
    one_line(capsys, "ca.pem", "cannot read")
