"""Issue 13 item 7: the HTML report fits its page on screen and in print (checked in headless Chromium:
no element reaches past the viewport), prints to PDF, and keeps tooltips and advisory notes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from netcheck.model import Report, report_from_json
from netcheck.render import RenderOptions, render

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "tests" / "fixtures" / "reports"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=5000"]
A4_PRINTABLE_PX = 703  # 210 mm − 2 × 12 mm margins at 96 dpi

PROBE = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth, bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 1) {
      const cls = typeof el.className === 'string' ? el.className : (el.className.baseVal || '');
      bad.push(el.tagName + '#' + el.id + '.' + cls + ' right=' + Math.round(r.right));
    }
  }
  const out = document.createElement('pre');
  out.id = 'overflow-probe';
  out.textContent = JSON.stringify({width, scroll: document.documentElement.scrollWidth, bad: bad.slice(0, 12)});
  document.body.appendChild(out);
});
</script>"""


def stress_report() -> Report:
    """The NO-GO fixture with the things that used to overflow: long ids, unbroken tokens, long messages."""
    doc = json.loads((REPORTS / "nogo.json").read_text())
    first = doc["checks"][0]
    doc["checks"].append({**first, "id": "reach.hybrid-assets-" + "x" * 60 + ".tcp-443", "status": "FAIL",
                          "message": "Connect to https://hybrid-assets.eks.amazonaws.com/" + "a" * 150
                                     + " timed out; <ip> " + "word " * 80,
                          "remediation": "ip addr add <ip>/32 dev lo " + "z" * 120})
    doc["metadata"]["profile"] = "site <b>A</b> " + "p" * 100
    return report_from_json(doc)


def _overflow(tmp_path: Path, html: str, width: int, name: str) -> dict[str, object]:
    assert CHROMIUM is not None
    page = tmp_path / f"{name}.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--window-size={width},1200", f"--user-data-dir={tmp_path / 'prof'}",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'<pre id="overflow-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, "probe did not run"
    result: dict[str, object] = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    shot = tmp_path / f"{name}.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--window-size={width},1600", f"--user-data-dir={tmp_path / 'prof'}",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=False)
    return result


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package chromium)")
@pytest.mark.parametrize("width", [1280, 800])
def test_screen_has_no_overflow(tmp_path: Path, width: int) -> None:
    html = render("html", stress_report(), RenderOptions(previous=report_from_json(
        json.loads((REPORTS / "go.json").read_text()))))
    result = _overflow(tmp_path, html, width, f"screen-{width}")
    assert result["scroll"] == result["width"] and not result["bad"], result
    if width == 1280:  # the probe does see overflow: without the wrapping rules the checks table runs off
        old = html.replace("overflow-wrap:anywhere", "").replace("table-layout:fixed", "")
        old = old.replace("word-break:break-word", "")
        assert _overflow(tmp_path, old, width, "unwrapped")["bad"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package chromium)")
def test_print_layout_fits_a4_and_prints(tmp_path: Path) -> None:
    html = render("html", stress_report())
    assert "@media print" in html and "@page" in html
    # The print rules applied at the A4 printable width (Chromium's CLI cannot switch the media type).
    as_print = re.sub(r"@media print\{", "@media all{", html)
    result = _overflow(tmp_path, as_print, A4_PRINTABLE_PX, "print")
    assert result["scroll"] == result["width"] and not result["bad"], result
    pdf = tmp_path / "report.pdf"
    page = tmp_path / "plain.html"
    page.write_text(html, encoding="utf-8")
    assert CHROMIUM is not None
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'prof'}", "--no-pdf-header-footer",
                           f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0 and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000, proc.stderr


def test_tooltips_advisory_and_escaping() -> None:
    html = render("html", stress_report())
    assert '<code title="Remote pod CIDRs do not overlap VPC CIDRs">cidr.overlap.pod-vpc</code>' in html
    assert "site &lt;b&gt;A&lt;/b&gt;" in html and "<b>A</b>" not in html
    assert "&lt;ip&gt;/32" in html
    doc = json.loads((REPORTS / "go.json").read_text())
    doc["checks"][0]["status"], doc["checks"][0]["severity"] = "FAIL", "advisory"
    go = render("html", report_from_json(doc))
    assert re.search(r'id="summary-note">[^<]*1 fail \(advisory\)', go)


def full_run_report() -> Report:
    """A run the size of `netcheck demo` (about 70 checks): the NO-GO fixture plus 60 passing checks."""
    doc = json.loads((REPORTS / "nogo.json").read_text())
    passing = next(c for c in doc["checks"] if c["status"] == "PASS")
    for i in range(60):
        doc["checks"].append({**passing, "id": f"dns.endpoint-{i}.resolve",
                              "message": f"endpoint-{i}.us-west-2.example.internal resolved to 10.20.2.{i} via "
                                         "10.20.0.2:53 in 5.4 ms."})
    return report_from_json(doc)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package chromium)")
def test_a_full_run_prints_on_a_few_a4_pages(tmp_path: Path) -> None:
    """Issue 25 item 5: the compact print layout puts a demo-sized run on a few A4 pages (12 before it)."""
    page, pdf = tmp_path / "full.html", tmp_path / "full.pdf"
    html = render("html", full_run_report())
    page.write_text(html, encoding="utf-8")
    assert CHROMIUM is not None
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'prof'}", "--no-pdf-header-footer",
                           f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0 and pdf.exists(), proc.stderr
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.read_bytes()))
    assert 1 <= pages <= 5, pages


def test_gateway_label_is_not_covered_when_no_route_was_checked() -> None:
    """'route not checked' used to sit under the boxes and print as 'oute not checke'."""
    doc = json.loads((REPORTS / "nogo.json").read_text())
    doc["checks"] = [c for c in doc["checks"] if c["category"] != "routing"]
    svg = re.search(r'<svg id="path".*?</svg>', render("html", report_from_json(doc)), re.S)
    assert svg
    text = svg.group(0)
    words = re.findall(r'<text class="gw" x="235"[^>]*>([^<]*)</text>', text)
    assert words == ["route", "not checked"]
    assert text.index('<text class="gw"') > text.index("on-prem, not reported")  # drawn after both boxes
