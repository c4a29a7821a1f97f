"""History: storing runs with bounded retention, the previous run, regressions between two runs,
`netcheck diff`, and two real `netcheck run --history` calls with a fault introduced between them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck import history
from netcheck.model import Report, report_from_json
from tests.conftest import validate_report

HERE = Path(__file__).parent
REPORTS = HERE / "fixtures" / "reports"


def load(name: str) -> Report:
    return report_from_json(json.loads((REPORTS / f"{name}.json").read_text()))


def _with(report: Report, started_at: str) -> Report:
    doc = report.to_json()
    doc["startedAt"] = started_at
    return report_from_json(doc)


def test_store_latest_and_retention(tmp_path: Path) -> None:
    assert history.latest(tmp_path / "none") is None
    for day in range(1, 8):
        history.store(_with(load("go"), f"2025-06-0{day}T03:00:00+00:00"), tmp_path, keep=5)
    names = [p.name for p in history.entries(tmp_path)]
    assert names == [f"netcheck-2025060{d}T030000Z-000.json" for d in range(3, 8)]
    latest = history.latest(tmp_path)
    assert latest is not None and latest.started_at == "2025-06-07T03:00:00+00:00"
    validate_report(json.loads((tmp_path / names[-1]).read_text()))
    assert not list(tmp_path.glob(".*.tmp"))


def test_same_second_runs_do_not_overwrite(tmp_path: Path) -> None:
    a = history.store(load("go"), tmp_path)
    b = history.store(load("go"), tmp_path)
    assert a != b and a.exists() and b.exists()


def test_latest_passes_over_corrupt_files(tmp_path: Path) -> None:
    history.store(load("go"), tmp_path)
    (tmp_path / "netcheck-20990101T000000Z-000.json").write_text("{truncated")
    latest = history.latest(tmp_path)
    assert latest is not None and latest.verdict.value == "GO"


@pytest.mark.parametrize(("content", "problem"), [
    (None, "no such file"),
    ("not json", "not a JSON report"),
    ('{"kind": "Other"}', "not a netcheck report"),
    ('{"kind": "PreflightReport", "verdict": "MAYBE"}', "malformed report"),
])
def test_load_names_the_file_and_problem(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(history.HistoryError, match=problem) as err:
        history.load(path)
    assert str(path) in str(err.value)


def test_check_dir_refuses_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(history.HistoryError, match="--history"):
        history.check_dir(f)


def test_regressions_between_fixture_runs() -> None:
    changes = history.diff(load("go"), load("nogo"))
    regressed = {c.id: (c.before and c.before.value, c.after and c.after.value) for c in changes if c.regression}
    assert regressed == {
        "cidr.overlap.pod-vpc": ("PASS", "FAIL"),
        "reach.eks-api.tcp-443": ("PASS", "FAIL"),
        "mtu.path.10.20.1.10": ("PASS", "FAIL"),
        "latency.rtt.10.20.1.10": ("PASS", "WARN"),
        "bandwidth.upload.10.20.1.10": ("PASS", "WARN"),
    }
    lines = history.regression_lines(load("nogo"), load("go"))
    assert lines[0].endswith("verdict GO → NO-GO (REGRESSION).")
    assert ("  REGRESSION: mtu.path.10.20.1.10: PASS → FAIL (measured 1500 bytes → 1400 bytes, "
            "threshold 1500 bytes)") in lines
    back = history.diff(load("nogo"), load("go"))
    assert not [c for c in back if c.regression]  # the way back is all improvement
    assert history.regression_lines(load("go"), None) == []


def test_figure_that_crossed_its_threshold_without_a_status_flip() -> None:
    """Latency stays WARN (advisory grading) but moves past the 200 ms limit: that is a regression too."""
    before = json.loads((REPORTS / "nogo.json").read_text())
    after = json.loads(json.dumps(before))
    rtt = next(c for c in after["checks"] if c["id"] == "latency.rtt.10.20.1.10")
    rtt["measured"] = 243.0
    (change,) = history.diff(report_from_json(before), report_from_json(after))
    assert (change.kind, change.regression) == ("crossed", True)
    assert "176.5 ms → 243 ms, threshold 200 ms" in change.describe()
    bw_before = json.loads(json.dumps(before))
    bw = next(c for c in bw_before["checks"] if c["id"] == "bandwidth.upload.10.20.1.10")
    bw["measured"] = 120.0  # throughput went from above the floor to below it
    (change,) = history.diff(report_from_json(bw_before), report_from_json(before))
    assert (change.id, change.kind, change.regression) == ("bandwidth.upload.10.20.1.10", "crossed", True)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netcheck", *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=HERE.parent)


def test_diff_command_exit_codes(tmp_path: Path) -> None:
    worse = _cli("diff", str(REPORTS / "go.json"), str(REPORTS / "nogo.json"))
    assert worse.returncode == 3, worse.stderr
    assert "REGRESSION: reach.eks-api.tcp-443: PASS → FAIL" in worse.stdout
    better = _cli("diff", str(REPORTS / "nogo.json"), str(REPORTS / "go.json"))
    assert better.returncode == 0 and "improved" in better.stdout
    (tmp_path / "bad.json").write_text("[1, 2]")
    bad = _cli("diff", str(REPORTS / "go.json"), str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "bad.json: not a netcheck report" in bad.stderr and "Traceback" not in bad.stderr


PROFILE = """apiVersion: netcheck/v1
kind: SiteProfile
metadata: {{name: history-lab}}
spec:
  cluster: {{serviceCidr: 172.20.0.0/16}}
  vpc: {{cidrs: [10.20.0.0/16]}}
  remoteNetwork: {{nodeCidrs: [192.168.50.0/24], podCidrs: [{pods}]}}
"""


def test_two_real_runs_name_the_regression(tmp_path: Path) -> None:
    """Run 1 passes; the site then renumbers its pods into the VPC range; run 2 names what regressed."""
    profile, hist = tmp_path / "site.yaml", tmp_path / "history"
    common = ("run", "-c", str(profile), "--only", "cidr.*", "--skip", "cidr.node-ip", "--node-ip", "192.168.50.5", "--history", str(hist))
    profile.write_text(PROFILE.format(pods="192.168.64.0/18"))
    first = _cli(*common, "--format", "json")
    assert first.returncode == 0, first.stdout + first.stderr
    profile.write_text(PROFILE.format(pods="10.20.64.0/18"))  # the fault: pod CIDR inside the VPC
    out = tmp_path / "metrics.prom"
    second = _cli(*common, "--format", "prometheus", "-o", str(out))
    assert second.returncode == 3, second.stdout + second.stderr
    text = out.read_text()
    assert 'netcheck_regressions{site="history-lab"} 1' in text
    assert ('netcheck_check_regressed{site="history-lab",check="cidr.overlap.pod-vpc",category="cidr",target="",'
            'change="flipped",before="PASS",after="FAIL"} 1') in text
    stored = history.entries(hist)
    assert len(stored) == 2
    for p in stored:
        validate_report(json.loads(p.read_text()))
    md = _cli("diff", str(stored[0]), str(stored[1]))
    assert md.returncode == 3 and "REGRESSION: cidr.overlap.pod-vpc: PASS → FAIL" in md.stdout
    third = _cli(*common, "--format", "markdown")
    assert third.returncode == 3
    assert "verdict unchanged, NO-GO" in third.stdout and "## Changes since the previous run" in third.stdout


def test_history_dir_that_cannot_be_used_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE.format(pods="192.168.64.0/18"))
    proc = _cli("run", "-c", str(profile), "--only", "cidr.*", "--history", str(blocker / "sub"))
    assert proc.returncode == 2 and "--history" in proc.stderr and "Traceback" not in proc.stderr


def test_junit_property_must_be_key_value(tmp_path: Path) -> None:
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE.format(pods="192.168.64.0/18"))
    bad = _cli("run", "-c", str(profile), "--only", "cidr.*", "--format", "junit", "--junit-property", "novalue")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    good = _cli("run", "-c", str(profile), "--only", "cidr.*", "--skip", "cidr.node-ip", "--node-ip", "192.168.50.5", "--format", "junit",
                "--junit-property", "change=CHG-42", "--junit-property", "site=dc1")
    assert good.returncode == 0, good.stderr
    assert '<property name="change" value="CHG-42" />' in good.stdout
