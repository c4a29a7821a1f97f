"""Issue 13: CLI conventions (--version, -h, completion, NO_COLOR, -o -, --quiet, --nodeconfig file://),
formats checked by their own consumers (a strict Nagios perfdata parser with range semantics, a CI-style JUnit
reader, markdown-it), and the shipped scheduling examples run with exactly the privileges they grant."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from netcheck.model import Report, Status, report_from_json
from netcheck.render import render
from netcheck.render.nagios import NagiosState, state

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "tests" / "fixtures" / "reports"
EXAMPLES = ROOT / "examples"


def load(name: str) -> Report:
    return report_from_json(json.loads((REPORTS / f"{name}.json").read_text()))


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "netcheck", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=full, cwd=cwd or ROOT)


def _advisory_variants() -> list[Report]:
    """GO with an advisory FAIL and a WARN, GO with a WARN, NO-GO, INCONCLUSIVE."""
    doc = load("go").to_json()
    doc["checks"][0]["status"], doc["checks"][0]["severity"] = "FAIL", "advisory"
    doc["checks"][1]["status"] = "WARN"
    return [report_from_json(doc), load("go"), load("nogo"), load("inconclusive")]


# --- CLI conventions --------------------------------------------------------------------------

def test_version_and_short_help() -> None:
    from netcheck import __version__

    for flag in ("--version", "-V"):
        proc = cli(flag)
        assert proc.returncode == 0 and proc.stdout.strip() == f"netcheck {__version__}", proc.stderr
    for args in (("-h",), ("run", "-h"), ("demo", "-h")):
        proc = cli(*args)
        assert proc.returncode == 0 and "Usage:" in proc.stdout, proc.stderr


def test_help_has_examples_and_plain_placeholders() -> None:
    top = cli("--help").stdout
    assert "Examples:" in top and "netcheck demo" in top and "--install-completion" in top
    for sub in ("run", "plan", "demo", "serve"):
        text = cli(sub, "--help").stdout
        assert not re.search(r"<(?:[a-z]+\[[^>]*\]|[a-z]+ range|str|int|float|path|file|dir|text|integer)>", text), text
    run_help = cli("run", "--help").stdout
    assert "--deadline SECONDS" in run_help and "--only PATTERN[,...]" in run_help and "-q, --quiet" in run_help


def test_completion_installs_for_bash(tmp_path: Path) -> None:
    proc = cli("--install-completion", "bash", env={"HOME": str(tmp_path), "SHELL": "/bin/bash"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = tmp_path / ".bash_completions" / "netcheck.sh"
    assert script.is_file() and "complete" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


def test_completion_answers() -> None:
    code = "import sys; sys.argv = ['netcheck']; from netcheck.cli import main; main()"
    for words, cword, want in (("netcheck ru", "1", "run"), ("netcheck run --for", "2", "--format")):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "_NETCHECK_COMPLETE": "complete_bash",
                                   "COMP_WORDS": words, "COMP_CWORD": cword})
        assert proc.returncode == 0 and want in proc.stdout.split(), proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo.json"
    proc = cli("demo", "--format", "json", "--quiet", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_quiet_prints_only_the_verdict_line(demo_json: Path) -> None:
    proc = cli("demo", "-q")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("VERDICT: GO — ") and " pass" in lines[0]
    advisory_fails = [c for c in json.loads(demo_json.read_text())["checks"]
                      if c["status"] == "FAIL" and c["severity"] == "advisory"]
    assert ("(advisory)" in lines[0]) == bool(advisory_fails), lines[0]
    proc = cli("demo", "-q", "-f", "prometheus", "-o", str(demo_json.with_suffix(".prom")))
    assert proc.returncode == 0 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("VERDICT: GO")
    assert "netcheck_verdict" in demo_json.with_suffix(".prom").read_text()


def test_dash_output_is_stdout(tmp_path: Path) -> None:
    proc = cli("demo", "-f", "json", "-o", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "GO"
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("value", ["anything", "0", "1", "false"])
def test_no_color_any_value(value: str) -> None:
    proc = cli("demo", "-q", env={"NO_COLOR": value})
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout + proc.stderr


def test_no_color_logic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour only on a terminal (a real pty here) that is not TERM=dumb, without --no-color or NO_COLOR."""
    from netcheck.render.table import color_wanted

    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            monkeypatch.delenv("NO_COLOR", raising=False)
            monkeypatch.delenv("FORCE_COLOR", raising=False)
            monkeypatch.setenv("TERM", "xterm-256color")
            assert color_wanted(tty) and not color_wanted(tty, no_color=True)
            monkeypatch.setenv("NO_COLOR", "")
            assert color_wanted(tty)  # empty means unset (no-color.org)
            monkeypatch.setenv("NO_COLOR", "0")
            assert not color_wanted(tty)
            monkeypatch.delenv("NO_COLOR")
            monkeypatch.setenv("TERM", "dumb")
            assert not color_wanted(tty)
    finally:
        os.close(master)
        os.close(slave)
    r, w = os.pipe()
    try:
        with os.fdopen(w, "w", closefd=False) as pipe:
            monkeypatch.setenv("TERM", "xterm-256color")
            assert not color_wanted(pipe)  # not a terminal
    finally:
        os.close(r)
        os.close(w)


def test_nodeconfig_file_uri(tmp_path: Path) -> None:
    src = EXAMPLES / "nodeconfig" / "ssm.yaml"
    nc = tmp_path / "node config.yaml"
    nc.write_text(src.read_text())
    uri = "file://" + str(nc).replace(" ", "%20")
    by_uri = cli("plan", "--nodeconfig", uri)
    by_path = cli("plan", "--nodeconfig", str(nc))
    assert by_uri.returncode == 0, by_uri.stderr
    assert by_uri.stdout == by_path.stdout
    localhost = cli("plan", "--nodeconfig", "file://localhost" + str(nc).replace(" ", "%20"))
    assert localhost.returncode == 0 and localhost.stdout == by_path.stdout
    for bad in ("imds://", "https://example.internal/nc.yaml", "s3://bucket/nc.yaml"):
        proc = cli("plan", "--nodeconfig", bad)
        assert proc.returncode == 2 and "is not read" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = cli("plan", "--nodeconfig", "file://otherhost/etc/eks/nodeConfig.yaml")
    assert proc.returncode == 2 and "local path" in proc.stderr


def test_nagios_usage_errors_are_unknown_on_stdout(tmp_path: Path) -> None:
    for args in (("run", "--format", "nagios", "--bogus"), ("run", "-f", "nagios", "--deadline", "0", "-c", "x"),
                 ("run", "--format=nagios", "--nodeconfig", "imds://"), ("run", "-f", "nagios")):
        proc = cli(*args)
        assert proc.returncode == 3, (args, proc.returncode, proc.stdout, proc.stderr)
        assert proc.stdout.startswith("NETCHECK UNKNOWN - ") and len(proc.stdout.splitlines()[0]) <= 1024
    proc = cli("run", "--bogus")  # other formats keep the usage exit code
    assert proc.returncode == 2 and proc.stdout == ""


def test_progress_observer_whatever_the_format() -> None:
    import inspect

    from netcheck import cli as cli_module

    src = inspect.getsource(cli_module._progress)
    line = next(ln for ln in src.splitlines() if "isatty()" in ln and "observer" not in ln.split("=")[0])
    assert "fmt" not in line and "output" not in line and "quiet" in line


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux script(1) not installed")
def test_progress_on_a_tty_with_json_and_output(tmp_path: Path) -> None:
    """Under a pseudo-terminal, a JSON run with -o still draws progress on stderr (rich writes to the tty)."""
    out = tmp_path / "r.json"
    cmd = f"{sys.executable} -m netcheck demo -f json -o {out}"
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"})
    assert proc.returncode == 0, proc.stdout
    assert "checking" in proc.stdout or re.search(r"\d+/\d+", proc.stdout), proc.stdout[-2000:]
    assert json.loads(out.read_text())["verdict"] == "GO"


# --- Nagios: a strict parser with the plugin guidelines' range semantics ------------------------

PERF = re.compile(r"^(?P<label>[^'= ]+|'[^'=]+')=(?P<value>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
                  r"(?P<uom>s|ms|us|%|B|KB|MB|TB|c)?"
                  r";(?P<warn>[^;]*);(?P<crit>[^;]*);(?P<min>-?[\d.]*);(?P<max>-?[\d.]*)$")
RANGE = re.compile(r"^@?(?:(?:~|-?\d+(?:\.\d+)?)?:)?(?:-?\d+(?:\.\d+)?)?$")


def parse_plugin_output(text: str) -> tuple[str, list[str], list[dict[str, str]]]:
    """Status text, long text lines, perfdata items (first line and after the last `|` of the long text)."""
    lines = text.rstrip("\n").split("\n")
    first, _, perf1 = lines[0].partition("|")
    long_text, perf_rest = [], []
    in_perf = False
    for line in lines[1:]:
        if in_perf:
            perf_rest.append(line)
        elif "|" in line:
            t, _, p = line.partition("|")
            long_text.append(t)
            perf_rest.append(p)
            in_perf = True
        else:
            long_text.append(line)
    items = []
    for token in " ".join([perf1, *perf_rest]).split():
        m = PERF.match(token)
        assert m, f"perfdata item does not follow the guidelines: {token!r}"
        for key in ("warn", "crit"):
            assert RANGE.match(m[key]), f"bad range {m[key]!r} in {token!r}"
        items.append(m.groupdict())
    return first.strip(), long_text, items


@pytest.mark.parametrize("index", range(4))
def test_nagios_perfdata_consistent_with_statuses(index: int) -> None:
    from nagiosplugin import Range

    report = _advisory_variants()[index]
    text = render("nagios", report)
    first_line = text.split("\n")[0]
    assert len(first_line.encode()) <= 1024
    status, _, items = parse_plugin_output(text)
    assert status.startswith(f"NETCHECK {state(report).name} - ")
    by_label = {it["label"]: it for it in items}
    worst = NagiosState.OK
    for r in report.results:
        item = next((it for lbl, it in by_label.items() if lbl.startswith(r.check.id.replace(" ", "_"))), None)
        if item is None:
            continue
        value = float(item["value"])
        if item["min"]:
            assert value >= float(item["min"]), item
        if item["crit"]:
            violated = not Range(item["crit"]).match(value)
            assert violated == (r.status is Status.FAIL), (r.check.id, r.status, item)
            assert r.check.severity.value == "required"
            if violated:
                worst = NagiosState.CRITICAL
        assert not item["warn"]
        if item["uom"] == "" and r.outcome.unit:  # units the guidelines lack travel in the label
            assert re.sub(r"[^A-Za-z0-9]+", "_", r.outcome.unit).strip("_") in item["label"]
    if worst is NagiosState.CRITICAL:
        assert state(report) is NagiosState.CRITICAL


def test_nagios_first_line_capped_at_1kib() -> None:
    doc = load("nogo").to_json()
    base = doc["checks"][0]
    doc["checks"] += [{**base, "id": f"cidr.overlap.generated-check-number-{i:03d}"} for i in range(200)]
    text = render("nagios", report_from_json(doc))
    first = text.split("\n")[0]
    assert len(first.encode()) <= 1024 and "more" in first and " | duration=" in first
    parse_plugin_output(text)


def test_nagios_advisory_failure_is_named() -> None:
    doc = load("go").to_json()
    doc["checks"][0]["status"], doc["checks"][0]["severity"] = "FAIL", "advisory"
    first = render("nagios", report_from_json(doc)).splitlines()[0]
    assert first.startswith("NETCHECK OK - GO") and "1 fail (advisory)" in first
    assert f"advisory failures {doc['checks'][0]['id']}" in first
    first = render("nagios", _advisory_variants()[0]).splitlines()[0]  # plus a WARN
    assert first.startswith("NETCHECK WARNING - GO") and "(advisory)" in first


# --- JUnit read the way CI servers read it -----------------------------------------------------

def ci_verdict(xml_text: str) -> tuple[str, list[str]]:
    """Jenkins' junit plugin: any <failure>/<error> makes the build UNSTABLE; skipped tests are listed with their
    message (GitLab shows them the same way). Returns (build result, shown skipped messages)."""
    root = ET.fromstring(xml_text)
    cases = list(root.iter("testcase"))
    bad = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    shown = [c.findall("skipped")[0].get("message", "") for c in cases if c.find("skipped") is not None]
    return ("UNSTABLE" if bad else "SUCCESS"), shown


def test_junit_advisory_and_warn_visible_without_failing() -> None:
    report = _advisory_variants()[0]
    assert report.verdict.value == "GO"
    result, shown = ci_verdict(render("junit", report))
    assert result == "SUCCESS"
    assert any(m.startswith("advisory FAIL") for m in shown) and any(m.startswith("WARN") for m in shown)
    root = ET.fromstring(render("junit", report))
    assert root.get("failures") == "0"
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(ROOT / "tests" / "golden" / "junit.xsd")).validate(render("junit", report))


def test_junit_strict_warn_and_required_fail_do_fail() -> None:
    doc = _advisory_variants()[0].to_json()
    doc["metadata"]["strict"] = True
    strict = report_from_json(doc)
    assert strict.strict, "the strict flag must survive the report's JSON round trip"
    assert ci_verdict(render("junit", strict))[0] == "UNSTABLE"
    assert ci_verdict(render("junit", load("nogo")))[0] == "UNSTABLE"


# --- Markdown through markdown-it -------------------------------------------------------------

def test_markdown_placeholders_visible() -> None:
    from markdown_it import MarkdownIt

    doc = load("nogo").to_json()
    doc["metadata"]["profile"] = "site <b>A</b> *x*"
    doc["checks"][0]["remediation"] = "ip addr add <ip>/32 dev lo; set <mtu> on `eth0` | then [retry]"
    doc["checks"][0]["message"] = "# not a heading <node-ip> & <pod-cidr>"
    report = report_from_json(doc)
    text = render("markdown", report)
    html = MarkdownIt("commonmark").enable("table").render(text)
    for placeholder in ("&lt;ip&gt;/32", "&lt;mtu&gt;", "&lt;b&gt;A&lt;/b&gt; *x*", "&lt;node-ip&gt;",
                        "&lt;pod-cidr&gt;", "[retry]", "`eth0`"):
        assert placeholder in html, placeholder
    assert "<b>" not in html and "<h1>not a heading" not in html
    # every <…> of every message and remediation survives
    for r in report.results:
        for field in (r.outcome.message, r.outcome.remediation or ""):
            for ph in re.findall(r"<[^<>]+>", field):
                assert ph.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html


def test_summaries_say_failures_are_advisory() -> None:
    report = _advisory_variants()[0]
    table = render("table", report)
    assert re.search(r"VERDICT: GO — .*1 fail \(advisory\)", table)
    assert "fail (advisory)" in render("markdown", report)
    from netcheck.render.table import summary_counts

    assert "3 fail," in summary_counts(load("nogo"))  # required failures carry no advisory note


# --- Prometheus: fleet metric set --------------------------------------------------------------

def test_prometheus_metric_set_is_small_and_stable(demo_json: Path) -> None:
    report = report_from_json(json.loads(demo_json.read_text()))
    text = render("prometheus", report)
    samples = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(samples) < 7 * len(report.results) + 30, len(samples)  # a five-sample status state set per check
    for line in samples:
        labels = line.partition("{")[2].rpartition("}")[0]
        assert not re.search(r"\d+\.\d+\.\d+\.\d+", labels), line  # no IPv4 in labels
        assert not re.search(r"tcp-\d{5}", labels), line  # no ephemeral ports
    assert re.search(r'netcheck_latency_loss_ratio\{site="demo-loopback",check="latency.rtt",category="latency",'
                     r'target="responder"\} ', text)
    assert "netcheck_latency_jitter_seconds" in text and "netcheck_latency_p95_seconds" in text
    status = [ln for ln in samples if ln.startswith("netcheck_check_status{")]
    assert len([ln for ln in status if ln.endswith(" 1")]) * 5 == len(status)  # one 1 per check, four 0s
    keys = [ln.rpartition(" ")[0] for ln in samples]
    assert len(keys) == len(set(keys)), "duplicate series"
    promtool = shutil.which("promtool")
    if promtool:
        proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                              timeout=60, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_textfile_path_documented() -> None:
    path = "/var/lib/prometheus/node-exporter"
    for f in ("README.md", "examples/systemd/netcheck.service", "examples/kubernetes/daemonset.yaml"):
        text = (ROOT / f).read_text()
        assert path in text, f
        assert "textfile_collector" not in text and "node_exporter/textfile" not in text, f


# --- the scheduling examples with exactly the privileges they grant ---------------------------

def _unit_caps() -> str:
    service = (EXAMPLES / "systemd" / "netcheck.service").read_text()
    (caps,) = re.findall(r"^AmbientCapabilities=(.+)$", service, re.M)
    (bounding,) = re.findall(r"^CapabilityBoundingSet=(.+)$", service, re.M)
    assert caps.split() == bounding.split()
    return ",".join("+" + c.lower().removeprefix("cap_") for c in caps.split())


def _container_caps(name: str) -> str:
    doc = next(d for d in yaml.safe_load_all((EXAMPLES / "kubernetes" / name).read_text())
               if d and d["kind"] in ("DaemonSet", "CronJob"))
    spec: dict[str, Any] = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    caps = container["securityContext"]["capabilities"]
    assert caps["drop"] == ["ALL"]
    return ",".join("+" + c.lower() for c in caps["add"])


def _alerts_fire(tmp_path: Path, metrics: str) -> str:
    """promtool test rules: the shipped alerts evaluated over two hours of these metrics; '' if none fires."""
    series = []
    for line in metrics.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            series.append({"series": name, "values": f"{value}x150"})
    alerts = yaml.safe_load((EXAMPLES / "prometheus" / "alerts.yaml").read_text())
    names = [r["alert"] for g in alerts["groups"] for r in g["rules"]]
    test = {"rule_files": [str(EXAMPLES / "prometheus" / "alerts.yaml")], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series,
                       "alert_rule_test": [{"eval_time": t, "alertname": n, "exp_alerts": []}
                                           for n in names for t in ("30m", "2h")]}]}
    path = tmp_path / "alerts_test.yaml"
    path.write_text(yaml.safe_dump(test))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("nft") is None,
                    reason="needs root, setpriv and nft")
@pytest.mark.parametrize("example", ["systemd", "daemonset.yaml", "cronjob.yaml"])
def test_example_runs_go_with_exactly_its_privileges(tmp_path: Path, example: str) -> None:
    """In a fresh namespace (a healthy node: nothing blocks kubelet or CNI ports), with the capability set the
    example grants and no other, the firewall checks the example profiles require come out GO, and the shipped
    alerts do not fire on the resulting metrics. With NET_RAW alone (the old examples) the run is INCONCLUSIVE."""
    caps = _unit_caps() if example == "systemd" else _container_caps(example)
    ns = f"ops{os.getpid()}{example[:3]}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)

        def run(capset: str, out: Path) -> subprocess.CompletedProcess[str]:
            cmd = ["ip", "netns", "exec", ns, "setpriv", f"--bounding-set=-all,{capset}",
                   f"--inh-caps=-all,{capset}", f"--ambient-caps=-all,{capset}", "--no-new-privs", "--",
                   sys.executable, "-m", "netcheck", "run", "-c", str(EXAMPLES / "profiles" / "vpn-site.yaml"),
                   "--only", "firewall.local", "--format", "prometheus", "--quiet", "-o", str(out)]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False,
                                  env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})

        good = run(caps, tmp_path / "good.prom")
        assert good.returncode == 0, good.stdout + good.stderr
        assert good.stderr.startswith("VERDICT: GO") and len(good.stderr.splitlines()) == 1, good.stderr
        metrics = (tmp_path / "good.prom").read_text()
        assert 'verdict="GO"} 1' in metrics
        if shutil.which("promtool"):
            assert _alerts_fire(tmp_path, metrics) == ""
        # The whole preflight (every probe: raw ICMP, DF probes, bandwidth, DNS, TLS, firewall) against the demo's
        # loopback stand-ins inside the same namespace, with the same capabilities and nothing else.
        demo = subprocess.run(["ip", "netns", "exec", ns, "setpriv", f"--bounding-set=-all,{caps}",
                               f"--inh-caps=-all,{caps}", f"--ambient-caps=-all,{caps}", "--no-new-privs", "--",
                               sys.executable, "-m", "netcheck", "demo", "-q", "-f", "prometheus", "-o",
                               str(tmp_path / "demo.prom")], capture_output=True, text=True, timeout=180,
                              check=False, env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
        assert demo.returncode == 0 and demo.stderr.startswith("VERDICT: GO"), demo.stderr
        demo_metrics = (tmp_path / "demo.prom").read_text()
        assert 'check="firewall.local.tcp",category="host",target="kubelet",requirement="advisory",status="PASS"' \
            in demo_metrics
        if shutil.which("promtool"):
            assert _alerts_fire(tmp_path, demo_metrics) == ""
        old = run("+net_raw", tmp_path / "old.prom")
        assert old.returncode == 4, old.stderr
        if shutil.which("promtool"):
            assert "NetcheckInconclusive" in _alerts_fire(tmp_path, (tmp_path / "old.prom").read_text())
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30)


# --- where each value came from -----------------------------------------------------------------

def _node_ip_message(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                     profile_ip: bool = False) -> str:
    profile = tmp_path / "site.yaml"
    text = (EXAMPLES / "profiles" / "vpn-site.yaml").read_text()
    doc = yaml.safe_load(text)
    if profile_ip:
        doc["spec"].setdefault("node", {})["ip"] = "192.168.50.7"
    profile.write_text(yaml.safe_dump(doc))
    proc = cli("run", "-c", str(profile), "--only", "cidr.node-ip", "-f", "json", *args, env=env)
    assert proc.returncode in (0, 3), proc.stderr
    (check,) = [c for c in json.loads(proc.stdout)["checks"] if c["id"] == "cidr.node-ip.in-node-cidr"]
    return str(check["message"])


def test_messages_say_where_the_node_ip_came_from(tmp_path: Path) -> None:
    assert "(from --node-ip)" in _node_ip_message(tmp_path, "--node-ip", "192.168.50.5")
    assert "(from NETCHECK_NODE_IP)" in _node_ip_message(tmp_path, env={"NETCHECK_NODE_IP": "192.168.50.6"})
    assert f"(from site profile {tmp_path / 'site.yaml'}, spec.node.ip)" in _node_ip_message(tmp_path,
                                                                                               profile_ip=True)
    nc = str(EXAMPLES / "nodeconfig" / "ssm.yaml")
    assert f"(from NodeConfig {nc}, kubelet --node-ip)" in _node_ip_message(tmp_path, "--nodeconfig", nc)
