"""Issue 24 item 2: strings that did not come from netcheck (a TLS peer's issuer, the profile's metadata.name, a
node name, any message, remediation, title, evidence or figure) cannot forge report lines, send escape sequences
to a terminal or break a format. A hypothesis test feeds arbitrary Unicode and control strings through every
renderer; a real TLS stand-in on loopback presents a hostile issuer to `netcheck run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcheck.model import Report, report_from_json
from netcheck.render import FORMATS, RenderOptions, render
from netcheck.render.safe import for_html, for_markdown, for_nagios, for_terminal, for_xml, neutral

ROOT = Path(__file__).resolve().parent.parent
NOGO = ROOT / "tests" / "fixtures" / "reports" / "nogo.json"
JENKINS_XSD = ROOT / "tests" / "fixtures" / "junit" / "jenkins-xunit-junit-10.xsd"
FORGED = "\n[PASS] FORGED: ok"
ATTACKS = ["\x1b]0;pwned\x07", "\x1b[2J", "\x1b[31m", "\x9b31m", "\x07", "\r", FORGED, "\r\n[PASS] FORGED",
           "\u2028[PASS] FORGED", "\x85", "\u202e", "\x00", "\ud800", "\ufffe", "<script>alert(1)</script>",
           "<b>bold</b>", "]]>", "&amp;", '"', "|", "`", "*", "_", "#", "- ", "1. ", "\\", "{", "}", "=", "'"]
ANY_CHAR = st.characters(exclude_categories=())  # every code point, controls and lone surrogates included
HOSTILE = st.lists(st.one_of(st.sampled_from(ATTACKS), st.text(ANY_CHAR, max_size=12)), max_size=6).map("".join)


def raw_controls(text: str) -> list[str]:
    """Characters no report may carry raw: C0/C1 controls but newline, separators, surrogates, bidi controls."""
    bad = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch != "\n" and (cat in ("Cc", "Zl", "Zp", "Cs") or ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067"
                                                                    "\u2068\u2069\u200e\u200f\u061c\ufffe\uffff"):
            bad.append(ch)
    return bad


def forged_line(text: str) -> bool:
    return re.search(r"^[\s>#*|-]*\\?\[PASS\\?\] FORGED", text, re.M) is not None


def hostile_report(s: dict[str, str]) -> Report:
    doc = json.loads(NOGO.read_text())
    doc["metadata"]["profile"], doc["metadata"]["node"] = s["profile"], s["node"]
    doc["metadata"]["phase"], doc["metadata"]["phaseEvidence"] = "pre-join", [s["evidence"]]
    for check in doc["checks"]:
        check.update(message=s["message"], remediation=s["remediation"], title=s["title"])
    fail, warn = doc["checks"][0], doc["checks"][5]
    fail.update(measured=s["measured"], threshold=s["measured"])
    warn["evidence"] = {**warn["evidence"], "issuer": s["evidence"],
                        "path": {"attribution": {"rtt": {"bySegment": {"lan": 0.2}}},
                                 "hops": [{"addr": s["evidence"], "ttl": 1}]}}
    doc["checks"][1]["message"] = s["message"] + " (pass)"
    return report_from_json(doc)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def html_tags(page: str) -> set[str]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? '
                     r"[-+0-9.eE]+(?:Inf|NaN)?$")


def prometheus_lines_parse(text: str) -> bool:
    return all(line.startswith(("# HELP ", "# TYPE ")) or _SAMPLE.match(line) for line in text.splitlines())


BASELINE_TAGS = html_tags(render("html", report_from_json(json.loads(NOGO.read_text()))))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({k: HOSTILE for k in ("message", "remediation", "title", "evidence", "profile",
                                                   "node", "measured")}))
def test_every_renderer_neutralises_hostile_strings(s: dict[str, str]) -> None:
    report = hostile_report(s)
    for fmt in FORMATS:
        text = render(fmt, report, RenderOptions(previous=report, color=(fmt == "table")))
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text) if fmt == "table" else text  # rich's own colour codes
        assert not raw_controls(plain), (fmt, raw_controls(plain)[:5])
        assert not forged_line(text), fmt
        if fmt == "json":
            assert json.loads(text)["metadata"]["profile"] == s["profile"]  # the source of truth keeps the value
        elif fmt == "junit":
            ET.fromstring(text)
        elif fmt == "html":
            assert html_tags(text) <= BASELINE_TAGS, html_tags(text) - BASELINE_TAGS
        elif fmt == "markdown":
            from markdown_it import MarkdownIt

            page = MarkdownIt("commonmark").enable("table").render(text)
            assert "<script" not in page and "<b>" not in page
        elif fmt == "prometheus":
            assert prometheus_lines_parse(text), text
        elif fmt == "nagios":
            assert "|" not in text.split(" | ")[0].replace(" | ", "")  # one perfdata separator on the first line


def test_the_per_format_functions() -> None:
    evil = "Evil\x1b]0;pwned\x07\x1b[2J\n[PASS] fake: ok\x9b\u202e"
    assert for_terminal(evil) == "Evil\\x1b]0;pwned\\x07\\x1b[2J\\n[PASS] fake: ok\\x9b\\u202e"
    assert for_nagios("a | b\nc") == "a / b\\nc"
    assert for_markdown("<b>x</b>\n# y") == "\\<b\\>x\\</b\\>\\\\n# y"  # renders as <b>x</b>\\n# y
    assert for_html('<i a="1">\x00') == "&lt;i a=&quot;1&quot;&gt;\\x00"
    assert for_xml("\ud800\ufffe") == "\\ud800\\ufffe"
    assert neutral("ok — ünïcödé ✓ 名前") == "ok — ünïcödé ✓ 名前"  # printable text is left alone


# --- a hostile TLS peer on loopback, through `netcheck run` ------------------------------------------------

EVIL_ISSUER = "Evil\x1b]0;pwned\x07\x1b[2J\n[PASS] fake: ok"
API_HOST = "abc123.gr7.us-west-2.eks.amazonaws.com"  # fake name: resolved by nobody, dialled at controlPlaneIps


@pytest.fixture(scope="module")
def hostile_peer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from netcheck.standins.tls import make_ca, start_api_server

    tmp = tmp_path_factory.mktemp("hostile")
    with contextlib.ExitStack() as stack:
        api = start_api_server(stack, "127.0.0.1", names=[API_HOST], ca=make_ca(EVIL_ISSUER, "x\x9b31m"))
        profile = {"apiVersion": "netcheck/v1", "kind": "SiteProfile",
                   "metadata": {"name": "site\x1b]0;title\x07\n[PASS] fake: profile"},
                   "spec": {"cluster": {"name": "prod", "region": "us-west-2", "endpointAccess": "private",
                                        "endpoint": f"https://{API_HOST}:{api.port}",
                                        "controlPlaneIps": ["127.0.0.1"]},
                            "credentials": "ssm"}}
        path = tmp / "site.yaml"
        path.write_text(yaml.safe_dump(profile))
        yield tmp, path, api


def run_cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "netcheck", *args], capture_output=True, text=True,
                          errors="surrogateescape", timeout=120, env=full, **kw)


def assert_inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, repr(text[:400])
    assert not re.search(r"^\s*\[PASS\] fake", text, re.M), text


def test_hostile_issuer_and_profile_name_reach_no_terminal_raw(hostile_peer: Any) -> None:
    tmp, profile, _ = hostile_peer
    out = tmp / "report.json"
    proc = run_cli("run", "-c", str(profile), "--only", "tls.eks-api.handshake", "-f", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert_inert(proc.stderr)  # the table copied to stderr
    assert "Evil\\x1b]0;pwned\\x07\\x1b[2J\\n[PASS] fake: ok" in proc.stderr  # shown, escaped: the reader sees it
    doc = json.loads(out.read_text())
    assert doc["checks"][0]["measured"] == EVIL_ISSUER  # the JSON keeps the exact value the peer sent
    table = run_cli("run", "-c", str(profile), "--only", "tls.eks-api.handshake")
    assert table.returncode == 0 and "[WARN] tls.eks-api.handshake" in table.stdout, table.stderr
    assert_inert(table.stdout + table.stderr)
    outputs = {}
    for fmt, code in (("markdown", 0), ("nagios", 1), ("junit", 0)):  # Nagios: WARNING for the WARN
        proc = run_cli("run", "-c", str(profile), "--only", "tls.eks-api.handshake", "-f", fmt)
        assert proc.returncode == code, proc.stderr
        assert_inert(proc.stdout)
        outputs[fmt] = proc.stdout
    import xmlschema

    xmlschema.XMLSchema(str(JENKINS_XSD)).validate(outputs["junit"])  # with the hostile profile name


def _run_on_pty(args: list[str], term: str) -> str:
    """Run netcheck with stdout on a real pseudo-terminal; return what it wrote there."""
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": term, "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "netcheck", *args], stdout=slave,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    end = time.monotonic() + 120
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=max(1.0, end - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_through_rich_and_none_under_term_dumb(hostile_peer: Any) -> None:
    _, profile, _ = hostile_peer
    args = ["run", "-c", str(profile), "--only", "tls.eks-api.handshake"]
    coloured = _run_on_pty(args, "xterm-256color")
    assert "\x1b[33m[WARN]" in coloured, repr(coloured[:300])  # colour from rich on a terminal
    assert "\x1b]0;" not in coloured and "\x07" not in coloured and "\x1b[2J" not in coloured
    assert not re.search(r"^\s*\[PASS\] fake", coloured, re.M)
    dumb = _run_on_pty(args, "dumb")
    assert "[WARN] tls.eks-api.handshake" in dumb and "\x1b" not in dumb, repr(dumb[:300])


def test_profile_name_in_a_config_error_is_neutralised(tmp_path: Path) -> None:
    bad = tmp_path / "bad\x1b[2J.yaml"
    bad.write_text("apiVersion: netcheck/v1\nkind: SiteProfile\nspec: {cluster: {region: 'eu\x1b]0;x\x07'}}\n")
    proc = run_cli("run", "-c", str(bad))
    assert proc.returncode == 2 and proc.stderr.startswith("netcheck: "), proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr


def test_junit_is_valid_against_the_jenkins_xunit_schema() -> None:
    import xmlschema

    schema = xmlschema.XMLSchema(str(JENKINS_XSD))
    for name in ("go", "nogo", "inconclusive"):
        report = report_from_json(json.loads((NOGO.parent / f"{name}.json").read_text()))
        text = render("junit", report, RenderOptions(junit_properties={"site": "dc1"}))
        schema.validate(text)
        assert " status=" not in text  # the finding's kind is a suite property, not a testcase attribute
    text = render("junit", report_from_json(json.loads(NOGO.read_text())))
    assert '<property name="netcheck.finding.latency.rtt.10.20.1.10" value="warn" />' in text

