"""`dipcert validate` and `dipcert schemas` through harness.cli.main: exit codes and what users read."""

from __future__ import annotations

import json
import shutil

import pytest
from test_validate import mutate, valid_item

from harness.cli import main
from harness.core.paths import default_spec_dir


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


def assert_one_error_line(capsys, *needles: str) -> None:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


def test_valid_file_exits_0(tmp_path, capsys) -> None:
    path = write(tmp_path, "good.json", [valid_item(), valid_item("IF-064")])
    assert main(["validate", path]) == 0
    out = capsys.readouterr().out
    assert "VALID" in out and "1 valid" in out


def test_invalid_file_exits_1_and_names_file_rule_and_path(tmp_path, capsys) -> None:
    good = write(tmp_path, "good.json", [valid_item()])
    bad = write(tmp_path, "bad.json", [mutate(valid_item(), "CustomBlock/B078/energyDirection", "X")])
    assert main(["validate", good, bad]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    finding = [line for line in lines if "schema.enum" in line]
    assert len(finding) == 1
    assert finding[0].startswith(bad) and "/0/payload/CustomBlock/B078/energyDirection" in finding[0]
    assert "INVALID" in lines[-1] and "1 invalid" in lines[-1]


def test_json_output(tmp_path, capsys) -> None:
    bad = write(tmp_path, "bad.json", [mutate(valid_item(), "CommonBlock/M0/GSPGroupID", delete=True)])
    assert main(["validate", "--json", bad]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["pack"]["name"] == "dipcert"
    assert report["summary"] == {"files": 1, "valid": 0, "invalid": 1, "unreadable": 0}
    assert report["files"][0]["findings"][0]["rule"] == "schema.required"
    assert report["files"][0]["findings"][0]["path"] == "/0/payload/CommonBlock/M0/GSPGroupID"


def test_interface_and_form_options(tmp_path, capsys) -> None:
    path = write(tmp_path, "m.json", [valid_item()])
    assert main(["validate", "--interface", "IF-062", path]) == 1
    assert "interface.mismatch" in capsys.readouterr().out
    assert main(["validate", "--form", "egress", path]) == 1  # no D0: not as the DIP delivers it
    assert "/0/payload/CommonBlock/D0" in capsys.readouterr().out
    assert main(["validate", "--interface", "IF-999", path]) == 2
    assert_one_error_line(capsys, "IF-999")


def test_non_array_is_a_finding_not_an_error(tmp_path, capsys) -> None:
    path = write(tmp_path, "object.json", valid_item())
    assert main(["validate", path]) == 1
    assert "envelope.not-array" in capsys.readouterr().out


@pytest.mark.parametrize("name,content,needle", [
    ("corrupt.json", '[{"payload": {', "not valid JSON at line 1"),
    ("empty.json", "", "empty"),
    ("blank.json", "  \n", "empty"),
    ("latin1.json", b'[{"payload": "caf\xe9"}]', "not UTF-8"),
])
def test_unreadable_input_exits_2_with_one_line(tmp_path, capsys, name, content, needle) -> None:
    path = write(tmp_path, name, content)
    assert main(["validate", path]) == 2
    assert_one_error_line(capsys, name, needle)


def test_an_unreadable_file_does_not_stop_the_batch(tmp_path, capsys) -> None:
    good = write(tmp_path, "good.json", [valid_item()])
    corrupt = write(tmp_path, "corrupt.json", '[{"payload": {')
    bad = write(tmp_path, "bad.json", [mutate(valid_item(), "CustomBlock/B078/energyDirection", "X")])
    absent = str(tmp_path / "absent.json")
    assert main(["validate", good, corrupt, bad, absent]) == 2  # incomplete: two files could not be read
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2 and "corrupt.json" in errors[0] and "absent.json" in errors[1]
    assert "Traceback" not in captured.err
    assert any(line.startswith(bad) and "schema.enum" in line for line in captured.out.splitlines())
    assert "2 file(s), 1 valid, 1 invalid, 2 unreadable" in captured.out
    assert main(["validate", "--json", good, corrupt, bad]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"files": 2, "valid": 1, "invalid": 1, "unreadable": 1}
    assert report["unreadable"][0]["file"] == corrupt and "line 1" in report["unreadable"][0]["error"]


def test_warnings_do_not_fail_a_file(tmp_path, capsys) -> None:
    item = valid_item()
    item["signature"] = "abc"  # beside payload: not forbidden by the specification
    path = write(tmp_path, "extra.json", [item])
    assert main(["validate", path]) == 0
    out = capsys.readouterr().out
    assert "envelope.extra-key" in out and "/0/signature" in out and "1 warning(s)" in out


def test_missing_file_exits_2(tmp_path, capsys) -> None:
    good = write(tmp_path, "good.json", [valid_item()])
    assert main(["validate", good, str(tmp_path / "absent.json")]) == 2
    assert_one_error_line(capsys, "absent.json", "not found")


def test_five_megabyte_file(tmp_path, capsys) -> None:
    # One message whose free text is 5 MB: read and judged (subText is at most 500 characters).
    item = mutate(valid_item(), "CommonBlock/S1/subText", "x" * (5 * 1024 * 1024))
    path = write(tmp_path, "big.json", [item])
    assert (tmp_path / "big.json").stat().st_size > 5 * 1024 * 1024
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out
    assert "schema.maxLength" in out and "/0/payload/CommonBlock/S1/subText" in out
    assert len(out) < 2000  # the 5 MB value is never echoed back whole
    assert main(["validate", "--max-bytes", str(1024 * 1024), path]) == 2
    assert_one_error_line(capsys, "big.json", "limit")


def test_official_spec_option(tmp_path, capsys) -> None:
    spec = default_spec_dir()
    if spec is None:
        pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api (harness.core.paths.default_spec_dir)")
    path = write(tmp_path, "bad.json", [valid_item(), mutate(valid_item(), "CommonBlock/S1/senderDIPID", None)])
    assert main(["validate", "--spec", str(spec), path]) == 1
    out = capsys.readouterr().out
    assert "schema.type" in out and "/1/payload/CommonBlock/S1/senderDIPID" in out and "elexon-dip-api 2.1.0" in out
    assert main(["validate", "--spec", str(tmp_path / "nowhere"), path]) == 2
    assert_one_error_line(capsys, "nowhere")


# --- dipcert schemas --------------------------------------------------------------------------------

def test_schemas_shows_the_bundled_pack(capsys) -> None:
    assert main(["schemas"]) == 0
    out = capsys.readouterr().out
    assert "dipcert" in out and "sha256:" in out and "[MDRStart]" in out and "IF-065" in out


def test_schemas_check_passes_for_both_packs(capsys) -> None:
    assert main(["schemas", "--check"]) == 0
    assert "CHECK PASSED" in capsys.readouterr().out
    spec = default_spec_dir()
    if spec is None:
        pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api (harness.core.paths.default_spec_dir)")
    assert main(["schemas", "--spec", str(spec), "--check"]) == 0
    out = capsys.readouterr().out
    assert "elexon-dip-api" in out and "2.1.0" in out and "IF-065-ReadingRemote" in out and "CHECK PASSED" in out


def test_schemas_check_reports_unresolved_references(tmp_path, capsys) -> None:
    spec = default_spec_dir()
    if spec is None:
        pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api (harness.core.paths.default_spec_dir)")
    folder = tmp_path / "spec"
    shutil.copytree(spec, folder, ignore=shutil.ignore_patterns(".git", "*.md"))
    (folder / "DataTypes-unresolved.yaml").unlink()
    assert main(["schemas", "--spec", str(folder), "--check"]) == 1
    out = capsys.readouterr().out
    assert "CHECK FAILED" in out and "DataTypes-unresolved.yaml" in out


def test_schemas_with_a_missing_folder_exits_2(tmp_path, capsys) -> None:
    assert main(["schemas", "--spec", str(tmp_path / "nowhere")]) == 2
    assert_one_error_line(capsys, "nowhere")
