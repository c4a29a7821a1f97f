"""Golden files for every derived format from the same fixture reports, plus the format contracts:
JUnit valid against the Ant/Jenkins XSD, Prometheus clean under promtool, Nagios states and exit codes.

Regenerate the golden files after an intended change: NETCHECK_UPDATE_GOLDEN=1 pytest tests/test_render_formats.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck.history import format_value
from netcheck.model import CheckResult, Report, Status, Verdict, report_from_json
from netcheck.render import RenderOptions, render
from netcheck.render.nagios import NagiosState, exit_code, state
from netcheck.render.safe import for_xml
from tests.conftest import validate_report

HERE = Path(__file__).parent
REPORTS = HERE / "fixtures" / "reports"
GOLDEN = HERE / "golden"
FIXTURES = ["go", "nogo", "inconclusive"]
FORMATS = {"junit": "xml", "markdown": "md", "html": "html", "prometheus": "prom", "nagios": "txt"}
UPDATE = os.environ.get("NETCHECK_UPDATE_GOLDEN") == "1"


def load(name: str) -> Report:
    doc = json.loads((REPORTS / f"{name}.json").read_text())
    validate_report(doc)
    return report_from_json(doc)


def check_golden(path: Path, text: str) -> None:
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file {path.name} was missing and has been written; check it and re-run")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs (NETCHECK_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("fixture", FIXTURES)
def test_fixture_reports_are_valid_and_consistent(fixture: str) -> None:
    from netcheck.verdict import decide

    report = load(fixture)
    assert decide(report.results) is report.verdict
    assert report.to_json()["checks"] == json.loads((REPORTS / f"{fixture}.json").read_text())["checks"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("fixture", FIXTURES)
def test_golden(fixture: str, fmt: str) -> None:
    opts = RenderOptions(junit_properties={"ci.pipeline": "edge-rollout"} if fmt == "junit" else {})
    check_golden(GOLDEN / f"{fixture}.{FORMATS[fmt]}", render(fmt, load(fixture), opts))


@pytest.mark.parametrize("fmt", ["markdown", "html", "prometheus", "nagios"])
def test_golden_with_previous_run(fmt: str) -> None:
    """NO-GO after a GO run: every format that shows history names the regressions."""
    text = render(fmt, load("nogo"), RenderOptions(previous=load("go")))
    check_golden(GOLDEN / f"nogo-after-go.{FORMATS[fmt]}", text)
    ids = ("reach.eks-api.tcp-443", "mtu.path.10.20.1.10", "cidr.overlap.pod-vpc")
    if fmt == "prometheus":  # stable labels: no addresses or ports
        ids = ('check="reach.tcp",category="reachability",target="eks-api"', 'check="mtu.path"',
               'check="cidr.overlap.pod-vpc"')
    for cid in ids:
        assert cid in text


def test_markdown_lists_every_non_passing_check_with_figures() -> None:
    report = load("nogo")
    text = render("markdown", report)
    for r in report.results:
        if r.status.value != "PASS":
            assert f"`{r.check.id}`" in text
    assert "- **Measured:** 1400 bytes" in text and "- **Threshold:** 1500 bytes" in text
    assert "Set the node interface MTU to 1400" in text
    for env in ("dc1-rack4", "edge-node-07", "2025-06-02T03:15:09+00:00", "0.1.0"):
        assert env in text


# --- JUnit -------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", FIXTURES)
def test_junit_valid_against_xsd(fixture: str) -> None:
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema not installed (test extra)")
    schema = xmlschema.XMLSchema(str(GOLDEN / "junit.xsd"))
    schema.validate(render("junit", load(fixture), RenderOptions(junit_properties={"site": "dc1"})))


def test_junit_maps_statuses() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(render("junit", load("nogo"), RenderOptions(junit_properties={"change": "CHG-1234"})))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"netcheck.cidr", "netcheck.routing", "netcheck.dns", "netcheck.reachability",
                           "netcheck.tls", "netcheck.latency", "netcheck.mtu", "netcheck.bandwidth",
                           "netcheck.inbound"}
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["mtu.path.10.20.1.10"].find("failure") is not None
    assert cases["tls.eks-api.handshake"].find("skipped") is not None
    warn = cases["latency.rtt.10.20.1.10"]
    assert warn.find("failure") is None and "176.5 ms" in (warn.findtext("system-out") or "")
    props = {p.get("name"): p.get("value") for p in suites["netcheck.mtu"].iter("property")}
    assert props["change"] == "CHG-1234" and props["netcheck.verdict"] == "NO-GO"
    assert root.get("failures") == "3" and suites["netcheck.mtu"].get("failures") == "1"
    inc = ET.fromstring(render("junit", load("inconclusive")))
    assert next(c for c in inc.iter("testcase") if c.get("name") == "mtu.path.10.20.1.10").find("error") is not None


def test_junit_survives_control_characters() -> None:
    import xml.etree.ElementTree as ET

    doc = json.loads((REPORTS / "nogo.json").read_text())
    doc["checks"][0]["message"] = "bad byte \x00\x1b here"
    ET.fromstring(render("junit", report_from_json(doc)))


def _mixed(strict: bool) -> Report:
    """The NO-GO fixture with every JUnit mapping present: required FAIL, WARN, ERROR and SKIP, advisory FAIL, ERROR
    and SKIP, PASS; `strict` as the run had it."""
    doc = json.loads((REPORTS / "nogo.json").read_text())
    by_id = {c["id"]: c for c in doc["checks"]}
    by_id["dns.eks-api.resolve"].update(status="ERROR", remediation="Re-run with --verbose and report the bug.")
    by_id["bandwidth.upload.10.20.1.10"].update(severity="advisory", status="FAIL")
    by_id["routing.vpc.10.20.0.0/16"].update(severity="advisory", status="ERROR", message="probe broke")
    doc["metadata"]["strict"] = strict
    return report_from_json(doc)


def _expected_junit(r: CheckResult, strict: bool) -> str | None:
    """The element a check's testcase must carry, from the module docstring's rules (not the renderer's code)."""
    required = r.check.severity.value == "required"
    if r.status is Status.PASS:
        return None
    if r.status is Status.SKIP:
        return "skipped"
    if not required or (r.status is Status.WARN and not strict):
        return "skipped"  # a finding that does not block GO: listed, not failing the build
    return "error" if r.status is Status.ERROR else "failure"


@pytest.mark.parametrize("strict", [False, True])
def test_junit_one_testcase_per_check_and_counts_per_status(strict: bool) -> None:
    import xml.etree.ElementTree as ET

    report = _mixed(strict)
    root = ET.fromstring(render("junit", report))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(list(root.iter("testcase"))) == len(cases) == len(report.results) == int(root.get("tests") or -1)
    expected = {r.check.id: _expected_junit(r, strict) for r in report.results}
    assert set(cases) == set(expected)
    for cid, case in cases.items():
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        assert kinds == ([expected[cid]] if expected[cid] else []), cid
    totals = {kind: sum(1 for k in expected.values() if k == kind) for kind in ("failure", "error", "skipped")}
    assert totals == ({"failure": 3, "error": 1, "skipped": 5} if not strict else
                      {"failure": 4, "error": 1, "skipped": 4})  # strict: the required WARN fails the build
    assert (root.get("failures"), root.get("errors")) == (str(totals["failure"]), str(totals["error"]))
    for suite in root.iter("testsuite"):
        suite_cases = list(suite.iter("testcase"))
        assert suite.get("tests") == str(len(suite_cases))
        for kind, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            n = sum(1 for c in suite_cases if expected[c.get("name") or ""] == kind)
            assert suite.get(attr) == str(n), (suite.get("name"), attr)


def test_junit_tells_each_finding_with_figures_and_remediation() -> None:
    import xml.etree.ElementTree as ET

    report = _mixed(False)
    cases = {c.get("name"): c for c in ET.fromstring(render("junit", report)).iter("testcase")}
    for r in report.results:
        o = r.outcome
        text = "\n".join(e.text or "" for e in cases[r.check.id] if e.text)
        if r.status is Status.PASS:
            assert not text
            continue
        assert o.message in text and f"severity: {r.check.severity.value}" in text, r.check.id
        if o.remediation:
            assert f"remediation: {o.remediation}" in text, r.check.id
        if o.measured is not None:
            assert f"measured: {format_value(o.measured, o.unit)}; threshold: " in text, r.check.id
    assert "remediation: Set the node interface MTU to 1400" in "".join(cases["mtu.path.10.20.1.10"].itertext())
    assert "measured: 1400 bytes; threshold: 1500 bytes" in "".join(cases["mtu.path.10.20.1.10"].itertext())


def test_junit_escapes_hostile_strings() -> None:
    """A message, remediation, id or property that holds markup, quotes or control characters stays one value."""
    import xml.etree.ElementTree as ET

    hostile = 'x</failure><error message="y"/><script>alert(1)</script> & "q" \'s\' ]]> \x00\x1b[31m\x85 end'
    doc = json.loads((REPORTS / "nogo.json").read_text())
    mtu = next(c for c in doc["checks"] if c["id"] == "mtu.path.10.20.1.10")
    mtu.update(id='mtu.path."<&>', message=hostile, remediation=hostile)
    doc["metadata"]["profile"] = hostile
    text = render("junit", report_from_json(doc), RenderOptions(junit_properties={"change": hostile}))
    assert "<script>" not in text and "</failure><error" not in text and "\x00" not in text and "\x1b" not in text
    root = ET.fromstring(text)
    assert not list(root.iter("script")) and len(list(root.iter("error"))) == 0
    case = next(c for c in root.iter("testcase") if c.get("name") == 'mtu.path."<&>')
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == for_xml(hostile)  # the same text, escaped, not cut
    assert f"remediation: {for_xml(hostile)}" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["change"] == props["netcheck.profile"] == for_xml(hostile)
    assert root.get("name") == f"netcheck {for_xml(hostile)}"


# --- Prometheus ----------------------------------------------------------------------------

PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
@pytest.mark.parametrize("case", [*FIXTURES, "nogo-after-go"])
def test_prometheus_clean_under_promtool(case: str) -> None:
    opts = RenderOptions(previous=load("go")) if case == "nogo-after-go" else RenderOptions()
    text = render("prometheus", load(case.split("-")[0]), opts)
    proc = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


def test_prometheus_values_in_base_units() -> None:
    text = render("prometheus", load("nogo"))
    assert 'netcheck_check_measured_seconds{site="dc1-rack4",check="latency.rtt",category="latency",target=""} 0.1765' in text
    assert 'netcheck_check_measured_bytes{site="dc1-rack4",check="mtu.path",category="mtu",target=""} 1400' in text
    assert ('netcheck_check_measured_bytes_per_second{site="dc1-rack4",check="bandwidth.upload",category="bandwidth",'
            'target=""} 10912500') in text
    assert 'netcheck_verdict{site="dc1-rack4",verdict="NO-GO"} 1' in text
    assert ('netcheck_check_status{site="dc1-rack4",check="mtu.path",category="mtu",target="",'
            'requirement="required",status="FAIL"} 1') in text
    assert 'netcheck_run_timestamp_seconds{site="dc1-rack4"} 1748834109' in text
    assert "10.20.1.10" not in text.replace('node="', "")  # no addresses in labels


def _two_enis(first: str, second: str) -> Report:
    """The NO-GO fixture with its path MTU check on a second control plane ENI: two results, one series."""
    doc = json.loads((REPORTS / "nogo.json").read_text())
    mtu = next(c for c in doc["checks"] if c["id"] == "mtu.path.10.20.1.10")
    other = json.loads(json.dumps(mtu))
    other["id"] = "mtu.path.10.20.1.11"
    for check, status in ((mtu, first), (other, second)):
        check["status"] = status
    doc["checks"].insert(doc["checks"].index(mtu) + 1, other)
    return report_from_json(doc)


@pytest.mark.parametrize("order", [("ERROR", "FAIL"), ("FAIL", "ERROR")])
def test_folded_series_take_the_worst_status_by_status_rank(order: tuple[str, str]) -> None:
    """FAIL ranks above ERROR (Status.rank, verdict.worst): a folded series that held a FAIL says FAIL."""
    report = _two_enis(*order)
    series = 'netcheck_check_status{site="dc1-rack4",check="mtu.path",category="mtu",target="",requirement="required",'
    text = render("prometheus", report)
    assert f'{series}status="FAIL"}} 1' in text and f'{series}status="ERROR"}} 0' in text
    assert "mtu.path=1400B;;1500:;0;" in render("nagios", report)  # the FAIL's figure, with its critical range


def test_fold_worst_agrees_with_verdict_worst() -> None:
    from netcheck.render.prometheus import fold_worst
    from netcheck.verdict import worst

    for a in Status:
        for b in Status:
            ra, rb = (r for r in _two_enis(a.value, b.value).results if r.check.id.startswith("mtu.path."))
            assert fold_worst(ra, rb).status is worst([a, b])


def test_prometheus_escapes_label_values() -> None:
    doc = json.loads((REPORTS / "go.json").read_text())
    doc["metadata"]["profile"] = 'site "A"\\b\nc'
    text = render("prometheus", report_from_json(doc))
    assert 'profile="site \\"A\\"\\\\b\\nc"' in text


# --- Nagios --------------------------------------------------------------------------------

def _with_warning(report: Report) -> Report:
    """The GO fixture with one required check turned WARN: still GO, but Nagios WARNING."""
    doc = report.to_json()
    doc["checks"][4]["status"] = "WARN"
    return report_from_json(doc)


def test_nagios_states_and_exit_codes() -> None:
    go, nogo, inc = load("go"), load("nogo"), load("inconclusive")
    warn = _with_warning(go)
    assert warn.verdict is Verdict.GO
    assert [state(r) for r in (go, warn, nogo, inc)] == [NagiosState.OK, NagiosState.WARNING,
                                                          NagiosState.CRITICAL, NagiosState.UNKNOWN]
    assert [exit_code(r) for r in (go, warn, nogo, inc)] == [0, 1, 2, 3]


def test_nagios_status_line_and_perfdata() -> None:
    lines = render("nagios", load("nogo")).splitlines()
    status, _, run_perf = lines[0].partition(" | ")
    assert status.startswith("NETCHECK CRITICAL - NO-GO")
    assert "cidr.overlap.pod-vpc" in status
    assert run_perf.startswith("duration=")
    later = [p for line in lines[1:] for p in line.rpartition(" | ")[2].split() if "=" in p]
    assert "latency.rtt=176.5ms;;~:200;0;" in later  # labels without addresses or ports, as in Prometheus
    assert "mtu.path=1400B;;1500:;0;" in later  # critical below 1500: the check failed
    assert "bandwidth.upload_Mbps=87.3;;;0;" in later  # WARN below 100: no critical range


# --- Nagios exit codes through the real CLI (loopback only: cidr checks read local state) ------

PROFILE = """apiVersion: netcheck/v1
kind: SiteProfile
metadata: {{name: nagios-lab}}
spec:
{service}  vpc: {{cidrs: [10.20.0.0/16]}}
  remoteNetwork: {{nodeCidrs: [192.168.50.0/24], podCidrs: [{pods}]}}
"""


def _run(tmp_path: Path, pods: str, service: bool = True, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE.format(pods=pods, service="  cluster: {serviceCidr: 172.20.0.0/16}\n" if service else ""))
    cmd = [sys.executable, "-m", "netcheck", "run", "-c", str(profile), "--only", "cidr.*", "--skip", "cidr.node-ip", "--node-ip",
           "192.168.50.5", "--format", "nagios", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=HERE.parent)


@pytest.mark.parametrize(("pods", "service", "code", "word"), [
    ("192.168.64.0/18", True, 0, "OK"),
    ("10.100.0.0/18", False, 1, "WARNING"),   # overlaps an EKS default service CIDR that EKS would not pick
    ("10.20.64.0/18", True, 2, "CRITICAL"),   # pod CIDR inside the VPC
])
def test_nagios_exit_codes_from_cli(tmp_path: Path, pods: str, service: bool, code: int, word: str) -> None:
    proc = _run(tmp_path, pods, service)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"NETCHECK {word} - "), proc.stdout


def test_nagios_unknown_on_bad_config(tmp_path: Path) -> None:
    proc = _run(tmp_path, "not-a-cidr")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.startswith("NETCHECK UNKNOWN - ") and "not-a-cidr" in proc.stdout
