"""`netcheck fleet` (issue 23): one row per site over many JSON reports, through the real CLI.

Reports are the committed fixtures re-labelled per site and node, and reports real `netcheck run`s wrote
into --history directories (address-plan checks only: they read local state and send nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netcheck.fleet import (
    DEFAULT_STALE,
    VERDICT_RANK,
    Header,
    Regression,
    Site,
    _regressions_full,
    _site,
    load_fleet,
    parse_duration,
)
from netcheck.history import load as history_load
from netcheck.model import Report
from netcheck.render.fleet import render

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "tests" / "fixtures" / "reports"
NOW = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("NETCHECK_")}
    return subprocess.run([sys.executable, "-m", "netcheck", *args], capture_output=True, text=True, timeout=120,
                          check=False, env=env, stdin=subprocess.DEVNULL)


def fixture(name: str, site: str, node: str, started: datetime, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((REPORTS / f"{name}.json").read_text())
    doc["startedAt"] = started.isoformat(timespec="seconds")
    doc["metadata"].update(node=node, labels={"site": site, "link": "vpn"})
    doc.update(extra)
    return doc


def write(path: Path, doc: dict[str, Any], *, compact: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc) if compact else json.dumps(doc, indent=2) + "\n")
    return path


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    """Three sites: lon (2 nodes, one turned NO-GO since its last run), par (GO, stale), ber (INCONCLUSIVE)."""
    d = tmp_path / "reports"
    write(d / "lon" / "n1" / "a.json", fixture("go", "lon", "n1", NOW - timedelta(minutes=40)))
    write(d / "lon" / "n1" / "b.json", fixture("nogo", "lon", "n1", NOW - timedelta(minutes=10)))
    write(d / "lon" / "n2" / "b.json", fixture("go", "lon", "n2", NOW - timedelta(minutes=12)), compact=True)
    write(d / "par" / "x.json", fixture("go", "par", "p1", NOW - timedelta(hours=5)))
    write(d / "ber" / "x.json", fixture("inconclusive", "ber", "b1", NOW - timedelta(minutes=3)))
    return d


def test_one_row_per_site_newest_per_node_worst_first(fleet_dir: Path) -> None:
    warnings: list[str] = []
    fleet = load_fleet([fleet_dir], now=NOW, warn=warnings.append)
    assert warnings == []
    assert [(s.site, s.verdict.value, s.nodes, s.stale) for s in fleet.sites] == [
        ("lon", "NO-GO", 2, False), ("ber", "INCONCLUSIVE", 1, False), ("par", "GO", 1, True)]
    lon = fleet.sites[0]
    assert [b.id for b in lon.blocking] == ["cidr.overlap.pod-vpc", "mtu.path.10.20.1.10", "reach.eks-api.tcp-443"]
    assert all(b.nodes == 1 and b.status == "FAIL" for b in lon.blocking)
    assert lon.age == 600 and fleet.sites[2].age == 5 * 3600
    # worst figures over both nodes' newest reports: n1 (nogo) has 176.5 ms and 1400 bytes
    assert (lon.rtt_ms, lon.loss_pct, lon.bandwidth_mbps, lon.pmtu_bytes) == (176.5, 5.0, 87.3, 1400.0)
    regressed = {g.id for g in lon.regressions}
    assert "cidr.overlap.pod-vpc" in regressed and {g.node for g in lon.regressions} == {"n1"}
    assert fleet.exit_code == 3 and fleet.files_read == 5


def test_root_causes_come_first(tmp_path: Path) -> None:
    doc = fixture("nogo", "lon", "n1", NOW)
    doc["rootCauses"] = [{"id": "reach.eks-api.tcp-443", "dependents": ["tls.eks-api.handshake"]}]
    for c in doc["checks"]:
        if c["id"] == "tls.eks-api.handshake":
            c["causedBy"] = "reach.eks-api.tcp-443"
    (site,) = load_fleet([write(tmp_path / "r.json", doc)], now=NOW).sites
    first = site.blocking[0]
    assert (first.id, first.root_cause, first.dependents) == ("reach.eks-api.tcp-443", True, 1)
    text = render("table", load_fleet([tmp_path], now=NOW))
    assert "reach.eks-api.tcp-443 (root cause of 1), cidr.overlap.pod-vpc" in text


def test_site_falls_back_to_the_profile_name(tmp_path: Path) -> None:
    doc = json.loads((REPORTS / "go.json").read_text())
    (site,) = load_fleet([write(tmp_path / "r.json", doc)], now=NOW).sites
    assert site.site == "dc1-rack4" and site.reports[0].node == "edge-node-07"


def test_real_runs_in_history_directories(tmp_path: Path) -> None:
    """Two sites' real `netcheck run --history` directories; the second site's pods moved into the VPC range."""
    for site, runs in (("ams", ["192.168.64.0/18"]), ("mad", ["192.168.64.0/18", "10.20.64.0/18"])):
        profile = tmp_path / f"{site}.yaml"
        for pods in runs:
            profile.write_text(f"""apiVersion: netcheck/v1
kind: SiteProfile
metadata: {{name: {site}-rack1, labels: {{site: {site}, link: dx, rack.id: r1}}}}
spec:
  cluster: {{serviceCidr: 172.20.0.0/16}}
  vpc: {{cidrs: [10.20.0.0/16]}}
  remoteNetwork: {{nodeCidrs: [192.168.50.0/24], podCidrs: [{pods}]}}
""")
            proc = cli("run", "-c", str(profile), "--only", "cidr.*", "--skip", "cidr.node-ip", "-q",
                       "--history", str(tmp_path / "hist" / site), "-f", "json", "-o", os.devnull)
            assert proc.returncode in (0, 3), proc.stderr
    (tmp_path / "hist" / "mad" / "notes.json").write_text("{not json")
    proc = cli("fleet", str(tmp_path / "hist"), "-f", "json")
    assert proc.returncode == 3, proc.stderr
    assert "skipping" in proc.stderr and "notes.json: not a JSON report" in proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, json.loads(resources.files("netcheck").joinpath("schemas/fleet.schema.json")
                                        .read_text()), format_checker=jsonschema.FormatChecker())
    rows = {s["site"]: s for s in doc["sites"]}
    assert [s["site"] for s in doc["sites"]] == ["mad", "ams"]
    assert rows["ams"]["verdict"] == "GO" and rows["ams"]["blocking"] == []
    assert rows["mad"]["labels"] == {"site": "mad", "link": "dx", "rack.id": "r1"}
    assert [b["id"] for b in rows["mad"]["blocking"]] == ["cidr.overlap.pod-vpc"]
    assert [(g["id"], g["before"], g["after"]) for g in rows["mad"]["regressions"]] == [
        ("cidr.overlap.pod-vpc", "PASS", "FAIL")]
    assert doc["filesRead"] == 4 and len(doc["skipped"]) == 1


def test_formats_and_exit_codes(fleet_dir: Path, tmp_path: Path) -> None:
    table = cli("fleet", str(fleet_dir), "--stale", "1h")
    assert table.returncode == 3, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["SITE", "VERDICT", "NODES", "AGE"]
    assert lines[1].split()[:3] == ["lon", "NO-GO", "2"] and "STALE" in lines[3]
    assert "FLEET: NO-GO" in lines[-1]
    md = cli("fleet", str(fleet_dir), "-f", "markdown")
    assert md.returncode == 3 and "| lon | NO-GO | 2 |" in md.stdout
    out = tmp_path / "fleet.html"
    page = cli("fleet", str(fleet_dir), "-f", "html", "-o", str(out))
    assert page.returncode == 3 and page.stdout == ""
    text = out.read_text()
    links: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                links.append(dict(attrs)["href"] or "")
            assert tag not in ("link", "img") and not (tag == "script" and dict(attrs).get("src")), tag

    Links().feed(text)
    assert sorted(links) == sorted(p.resolve().as_uri() for p in [fleet_dir / "lon/n1/b.json",
                                                                   fleet_dir / "lon/n2/b.json",
                                                                   fleet_dir / "par/x.json",
                                                                   fleet_dir / "ber/x.json"])
    assert text.index(">lon<") < text.index(">ber<") < text.index(">par<")  # worst first, sortable by click
    assert "addEventListener" in text and 'data-k="-2"' in text
    go_only = cli("fleet", str(fleet_dir / "par"), "--stale", "100d")
    assert go_only.returncode == 0 and "FLEET: GO" in go_only.stdout
    inconclusive = cli("fleet", str(fleet_dir / "par"), str(fleet_dir / "ber"))
    assert inconclusive.returncode == 4


def test_bad_input_is_a_clear_usage_error(tmp_path: Path) -> None:
    missing = cli("fleet", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "nope: no such file or directory" in missing.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.json").write_text('{"kind": "Other"}')
    empty = cli("fleet", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "no netcheck report found" in empty.stderr and "1 file(s) skipped" in empty.stderr
    assert "x.json: not a netcheck report" in empty.stderr
    for flag, value in (("--stale", "soon"), ("--format", "pdf")):
        proc = cli("fleet", str(tmp_path), flag, value)
        assert proc.returncode == 2 and flag in proc.stderr and "Traceback" not in proc.stderr


def test_a_broken_newest_report_falls_back_to_the_one_before(tmp_path: Path) -> None:
    good = write(tmp_path / "a.json", fixture("go", "lon", "n1", NOW - timedelta(minutes=30)))
    broken = json.dumps(fixture("nogo", "lon", "n1", NOW), indent=2)
    (tmp_path / "b.json").write_text(broken[: broken.index('"checks"')] + '"checks": [{"id": 1}],\n' +
                                     broken[broken.index('  "startedAt"'):])
    warnings: list[str] = []
    (site,) = load_fleet([tmp_path], now=NOW, warn=warnings.append).sites
    assert site.verdict.value == "GO" and site.reports[0].path == good
    assert len(warnings) == 1 and "b.json: malformed report (checks[0].id must be text)" in warnings[0]


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200), ("90m", 5400), ("45s", 45), ("1d", 86400),
                                               ("300", 300)])
def test_stale_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def _full_parse_sites(directory: Path, now: datetime) -> list[Site]:
    """The straightforward way: every report loaded in full by history.load, newest two per node built and
    compared with history.diff, every site summarised from full documents."""
    by_key: dict[tuple[str, str], list[tuple[Header, Report, dict[str, Any]]]] = {}
    for path in sorted(directory.rglob("*.json")):
        doc = json.loads(path.read_text())
        report = history_load(path)
        started = datetime.fromisoformat(doc["startedAt"])
        head = Header(path, report.site, report.node, started)
        by_key.setdefault((head.site, head.node), []).append((head, report, doc))
    rows: dict[str, list[tuple[Header, Report, dict[str, Any], list[Regression]]]] = {}
    for (site, _), seen in by_key.items():
        seen.sort(key=lambda x: (x[0].started, str(x[0].path)), reverse=True)
        head, report, doc = seen[0]
        previous = seen[1][1] if len(seen) > 1 else None
        rows.setdefault(site, []).append((head, report, doc, _regressions_full(head.node, previous, report)))
    sites = [_site(site, site_rows, now, DEFAULT_STALE) for site, site_rows in rows.items()]
    return sorted(sites, key=lambda s: (-VERDICT_RANK[s.verdict], not s.stale, s.site))


def test_fast_path_gives_the_rows_of_a_full_parse(tmp_path: Path) -> None:
    """Only the newest report per node is built; the previous one is compared from its raw checks. Every kind
    of change (flip both ways, a figure crossing its threshold with the status unchanged, a figure equal in
    value but not in type, a check added and one removed, an unchanged node, a lone report) gives the same
    rows as building both reports and calling history.diff."""
    d = tmp_path / "reports"
    t0, t1, t2 = NOW - timedelta(minutes=50), NOW - timedelta(minutes=30), NOW - timedelta(minutes=10)

    def go(site: str, node: str, started: datetime) -> dict[str, Any]:
        return fixture("go", site, node, started)

    def edit(doc: dict[str, Any], cid: str, **fields: Any) -> dict[str, Any]:
        next(c for c in doc["checks"] if c["id"] == cid).update(fields)
        return doc

    write(d / "a" / "n1" / "0.json", go("a", "n1", t1))
    write(d / "a" / "n1" / "1.json", fixture("nogo", "a", "n1", t2))
    write(d / "a" / "n2" / "0.json", fixture("nogo", "a", "n2", t1))
    write(d / "a" / "n2" / "1.json", go("a", "n2", t2), compact=True)
    write(d / "b" / "n3" / "0.json", go("b", "n3", t1))
    crossed = edit(go("b", "n3", t2), "latency.rtt.10.20.1.10", measured=250.5)
    write(d / "b" / "n3" / "1.json", edit(crossed, "bandwidth.upload.10.20.1.10", measured=412.5, threshold=100.0))
    write(d / "b" / "n4" / "0.json", edit(go("b", "n4", t1), "mtu.path.10.20.1.10", measured=1500.0))
    changed = go("b", "n4", t2)
    changed["checks"] = [c for c in changed["checks"] if c["id"] != "dns.eks-api.resolve"]
    changed["checks"].append({**changed["checks"][0], "id": "reach.extra.tcp-1", "status": "WARN"})
    write(d / "b" / "n4" / "1.json", changed)
    for i, t in enumerate((t0, t1, t2)):
        write(d / "c" / "n5" / f"{i}.json", go("c", "n5", t))
    write(d / "c" / "n6" / "0.json", fixture("inconclusive", "c", "n6", t2))

    fast = load_fleet([d], now=NOW)
    assert not fast.skipped
    assert list(fast.sites) == _full_parse_sites(d, NOW)
    kinds = {(g.node, g.id, g.change) for s in fast.sites for g in s.regressions}
    assert ("n3", "latency.rtt.10.20.1.10", "crossed") in kinds
    assert ("n4", "reach.extra.tcp-1", "added") in kinds
    assert any(g.node == "n1" and g.change == "flipped" for s in fast.sites for g in s.regressions)
    assert not any(g.node in ("n2", "n5", "n6") for s in fast.sites for g in s.regressions)
