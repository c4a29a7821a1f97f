"""The HTML report: self-contained, and really rendered by headless Chromium with the path
picture and the failing checks on the page (a screenshot is kept under pytest's tmp dir)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from netcheck.model import Report, report_from_json
from netcheck.render import RenderOptions, render
from netcheck.render.html import path_model

REPORTS = Path(__file__).parent / "fixtures" / "reports"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1000,1600"]


def load(name: str) -> Report:
    return report_from_json(json.loads((REPORTS / f"{name}.json").read_text()))


def test_html_is_self_contained() -> None:
    page = render("html", load("nogo"), RenderOptions(previous=load("go")))
    assert not re.search(r"""<(script|link|img|iframe)\b|src=|url\(|@import""", page, re.I)
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert hrefs and all(h.startswith("https://docs.aws.amazon.com/") for h in hrefs)  # links, never loaded


def test_path_model_from_checks_and_evidence() -> None:
    node, source, gateway, gw_status, targets = path_model(load("nogo"))
    assert (node, source, gateway, gw_status and gw_status.value) == ("edge-node-07", "192.168.50.21",
                                                                        "192.168.50.1", "PASS")
    (t,) = targets
    assert t.name == "10.20.1.10" and t.aliases == ["eks-api"]
    assert (t.rtt, t.mtu, t.throughput) == ("RTT 176.5 ms", "MTU 1400 bytes", ["upload 87.3 Mbps"])
    assert t.status is not None and t.status.value == "FAIL"


def test_html_escapes_report_text() -> None:
    doc = json.loads((REPORTS / "nogo.json").read_text())
    doc["checks"][0]["message"] = "<script>alert(1)</script>"
    page = render("html", report_from_json(doc))
    assert "<script>" not in page and "&lt;script&gt;" in page


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package chromium)")
def test_html_rendered_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "nogo.html"
    page.write_text(render("html", load("nogo"), RenderOptions(previous=load("go"))), encoding="utf-8")
    shot = tmp_path / "nogo.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert _png_size(shot) == (1000, 1600) and shot.stat().st_size > 20_000  # a real picture, not a blank page
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # The path picture: node → gateway → VPC target, with the measured figures and the status colour.
    svg = re.search(r'<svg id="path".*?</svg>', html, re.S)
    assert svg, "path picture missing from the rendered DOM"
    for text in ("edge-node-07", "192.168.50.1", "on-prem gateway", "10.20.1.10 (eks-api)",
                 "RTT 176.5 ms · MTU 1400 bytes · upload 87.3 Mbps", "VPC target · FAIL"):
        assert text in svg.group(0), text
    assert 'stroke="#c62828"' in svg.group(0)  # the failing segment is red
    # Every failing check is on the page with its measured value, threshold and fix.
    for cid in ("cidr.overlap.pod-vpc", "reach.eks-api.tcp-443", "mtu.path.10.20.1.10"):
        assert f'id="finding-{cid}"' in html, cid
    assert "<dt>Measured</dt><dd>1400 bytes</dd><dt>Threshold</dt><dd>1500 bytes</dd>" in html
    assert re.search(r'<svg class="latency".*?20 samples', html, re.S), "latency chart missing"
    assert "REGRESSION: mtu.path.10.20.1.10: PASS → FAIL" in html


def test_segments_in_the_path_picture_the_hop_table_and_the_terminal_table() -> None:
    """A real report (two-router namespace path, 30 ms each way on the site edge): the WAN is named."""
    report = report_from_json(json.loads((Path(__file__).parent / "fixtures" / "segments" / "wan-delay.json")
                                         .read_text()))
    _, _, gateway, _, targets = path_model(report)
    assert gateway == "192.168.50.1"
    assert targets[0].culprit == "rtt on WAN" and targets[0].segments.startswith("RTT by segment: LAN")
    page = render("html", report, RenderOptions())
    svg = re.search(r'<svg id="path".*?</svg>', page, re.S)
    assert svg and "rtt on WAN" in svg.group(0)
    hops = re.search(r'<div id="hops">.*?</div>', page, re.S)
    assert hops and "192.168.50.1 (site edge)" in hops.group(0) and "169.254.100.2" in hops.group(0)
    text = render("table", report, RenderOptions())
    assert "path by segment: rtt LAN" in text and "WAN" in text and "192.168.50.1 › 169.254.100.2 › 10.20.1.10" in text
