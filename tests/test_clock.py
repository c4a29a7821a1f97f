"""clock probe: SNTP against a loopback NTP stand-in with a set offset; Date-header offset from the
API stand-in; config-file discovery; evaluate branches on recorded evidence."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from netcheck import timesync
from netcheck.model import SkipReason, Status
from netcheck.net import Net
from netcheck.net.sntp import SntpResult
from netcheck.net.tls import HttpAnswer, TlsResult
from netcheck.settings import HostSnapshot, Settings, SiteProfile, Thresholds
from netcheck.standins import ntp
from netcheck.standins.tls import start_api_server
from probes import clock
from probes.base import ProbeSkip

API_HOST = "abc123.gr7.us-west-2.eks.amazonaws.com"  # fake name: stand-ins or recorded evidence only
T = Thresholds()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


def site(ntp_servers: list[str] | None = None, **cluster: Any) -> Settings:
    spec: dict[str, Any] = {"cluster": {"name": "prod", "region": "us-west-2", **cluster}}
    if ntp_servers is not None:
        spec["ntp"] = {"servers": ntp_servers}
    return Settings(SiteProfile.model_validate({"spec": spec}), "test")


def outcome(settings: Settings, check_id: str) -> Any:
    check = next(c for c in clock.plan(settings) if c.id == check_id)
    try:
        ev = clock.collect(check.spec, Net())
    except ProbeSkip as skip:
        return skip
    return clock.evaluate(check.spec, ev, T)


# --- SNTP against the stand-in -------------------------------------------------------------

@pytest.mark.parametrize(("offset", "status"), [(0.0, Status.PASS), (10.0, Status.WARN), (400.0, Status.FAIL),
                                                (-400.0, Status.FAIL)])
def test_ntp_offset(stack: contextlib.ExitStack, offset: float, status: Status) -> None:
    srv = ntp.start(stack, offset=offset)
    out = outcome(site([srv.address]), "clock.ntp.offset")
    assert out.status == status, out.message
    assert out.measured == pytest.approx(offset, abs=0.5) and out.unit == "s"
    if status != Status.PASS:
        assert "UDP 123" in out.remediation and ("behind" if offset > 0 else "ahead of") in out.message


def test_ntp_unsynchronized_server_warns(stack: contextlib.ExitStack) -> None:
    srv = ntp.start(stack, stratum=16, leap=3)
    out = outcome(site([srv.address]), "clock.ntp.offset")
    assert out.status == Status.WARN and "not synchronized" in out.message


def test_ntp_no_answer_warns(stack: contextlib.ExitStack) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = outcome(site([f"127.0.0.1:{port}"]), "clock.ntp.offset")
    assert out.status == Status.WARN and "refused" in out.message and "UDP 123" in out.remediation


def test_ntp_best_of_several_servers(stack: contextlib.ExitStack) -> None:
    a = ntp.start(stack, offset=0.0)
    dead = ntp.start(stack, "127.0.0.2", stratum=0, leap=3)
    out = outcome(site([dead.address, a.address]), "clock.ntp.offset")
    assert out.status == Status.PASS and out.evidence["chosen"] == a.address


def on_host(settings: Settings, root: Path) -> Settings:
    """`settings` with the time-sync servers a snapshot of a host whose filesystem is at `root` names."""
    return replace(settings, timesync=HostSnapshot.take({"NETCHECK_HOST_ROOT": str(root)}).timesync)


def test_no_ntp_server_skips(tmp_path: Path) -> None:
    skip = outcome(on_host(site(), tmp_path), "clock.ntp.offset")  # a host root with no time-sync files
    assert isinstance(skip, ProbeSkip) and skip.reason == SkipReason.NOT_APPLICABLE
    assert "spec.ntp.servers" in (skip.fix or "") and "chrony" in (skip.fix or "")


def test_plan_takes_servers_from_config_below_the_host_root(tmp_path: Path) -> None:
    """chrony.conf is read below NETCHECK_HOST_ROOT (a DaemonSet's /host) and named as on the host."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "chrony.conf").write_text("server 127.0.0.1 iburst\n")
    spec = next(c for c in clock.plan(on_host(site(), tmp_path)) if c.id == "clock.ntp.offset").spec
    assert spec.servers == ("127.0.0.1",) and spec.source == "/etc/chrony.conf"
    assert next(c for c in clock.plan(site(["10.1.1.1:123"]))).spec.servers == ("10.1.1.1:123",)


def test_timesyncd_dropins_are_read_below_the_host_root(tmp_path: Path) -> None:
    dropins = tmp_path / "etc" / "systemd" / "timesyncd.conf.d"
    dropins.mkdir(parents=True)
    (dropins / "10-site.conf").write_text("[Time]\nNTP=10.9.9.9\n")
    assert timesync.servers_from_config(root=str(tmp_path)) == (
        ("10.9.9.9",), "/etc/systemd/timesyncd.conf.d/10-site.conf")
    assert HostSnapshot.take({"NETCHECK_HOST_ROOT": str(tmp_path)}).timesync[0] == ("10.9.9.9",)


def test_servers_from_config_files(tmp_path: Path) -> None:
    chrony = tmp_path / "chrony.conf"
    chrony.write_text("# comment\npool 2.debian.pool.ntp.org iburst\nserver ntp1.corp.example port 1123 iburst\n"
                      "sourcedir /run/chrony-dhcp\n")
    timesyncd = tmp_path / "timesyncd.conf"
    timesyncd.write_text("[Time]\nNTP=ntp1.corp.example ntp2.corp.example\nFallbackNTP=0.pool.ntp.org\n")
    assert timesync.servers_from_config((str(tmp_path / "nope"), str(chrony)), str(tmp_path / "x")) == (
        ("2.debian.pool.ntp.org", "ntp1.corp.example:1123"), str(chrony))
    assert timesync.servers_from_config((str(timesyncd),), str(tmp_path / "x"))[0] == (
        "ntp1.corp.example", "ntp2.corp.example")
    dropins = tmp_path / "timesyncd.conf.d"
    dropins.mkdir()
    (dropins / "10-site.conf").write_text("[Time]\nNTP=10.1.1.1\n")
    assert timesync.servers_from_config((), str(dropins))[0] == ("10.1.1.1",)


# --- the API server's Date header -------------------------------------------------------------

def api_site(srv: Any) -> Settings:
    return site(endpoint=f"https://{API_HOST}:{srv.port}", controlPlaneIps=[srv.ip],
                certificateAuthority=base64.b64encode(srv.ca_pem.encode()).decode())


@pytest.mark.parametrize(("skew", "status"), [(0.0, Status.PASS), (10.0, Status.WARN), (-400.0, Status.FAIL)])
def test_https_date_offset(stack: contextlib.ExitStack, skew: float, status: Status) -> None:
    srv = start_api_server(stack, "127.0.0.1", names=[API_HOST], date_offset=skew)
    out = outcome(api_site(srv), "clock.https.offset")
    assert out.status == status, out.message
    assert "1 s resolution" in out.message and out.measured == pytest.approx(skew, abs=1.5)


def test_https_not_planned_without_endpoint() -> None:
    assert {c.id for c in clock.plan(site(["127.0.0.1"]))} == {"clock.ntp.offset", "clock.sync.state"}


def test_https_skips_without_date() -> None:
    r = TlsResult(API_HOST, "10.0.0.1", 443, "the cluster CA", "tcp", "timeout", tcp_reason="no-answer")
    out = clock.evaluate(clock.Spec("https", host=API_HOST), r, T)
    assert out.status == Status.SKIP and out.skip_reason == SkipReason.DEPENDENCY


def test_https_within_resolution_passes() -> None:
    """1.8 s off with ±1 s uncertainty is not surely beyond the 2 s warning threshold."""
    date = "Fri, 15 Jan 2027 08:00:01 GMT"
    d = email.utils.parsedate_to_datetime(date).timestamp()
    answer = HttpAnswer("/livez", 200, date=date, sent_at=d - 1.8, received_at=d - 0.8)
    r = TlsResult(API_HOST, "10.0.0.1", 443, "the cluster CA", "done", "connected", verified=True, http=(answer,))
    out = clock.evaluate(clock.Spec("https", host=API_HOST), r, T)
    assert out.status == Status.PASS, out.message


def test_ntp_evaluate_delay_widens_error() -> None:
    """A 2.3 s offset measured over a 1 s round trip (±0.5 s) is not surely beyond 2 s."""
    ev = clock.NtpEvidence((SntpResult("10.0.0.1:123", "answered", 2.3, 1.0, 2, 0, "10.0.0.9"),))
    out = clock.evaluate(clock.Spec("ntp", ("10.0.0.1",), "spec.ntp.servers"), ev, T)
    assert out.status == Status.PASS


# --- several requests, as chrony and timesyncd (issue 16) ------------------------------------

def test_sntp_burst_keeps_several_samples(stack: contextlib.ExitStack) -> None:
    from netcheck.net.sntp import WANT, burst

    srv = ntp.start(stack, offset=3.0)
    r = burst(srv.ip, srv.port, timeout=4)
    assert r.outcome == "answered" and (r.sent, r.received, r.lost) == (WANT, WANT, 0)
    assert r.offset == pytest.approx(3.0, abs=0.05) and r.to_evidence()["received"] == WANT


def test_lost_sntp_requests_are_retried_and_noted(stack: contextlib.ExitStack) -> None:
    srv = ntp.start(stack, lose=2)
    out = outcome(site([srv.address]), "clock.ntp.offset")
    assert out.status == Status.PASS, out.message
    answer = out.evidence["answers"][0]
    assert answer["lost"] == 2 and answer["received"] >= 1 and out.evidence["lostQueries"] == 2
    assert f"2 of {answer['sent']} SNTP requests got no answer" in out.message and "latency.rtt" in out.message


def test_silent_ntp_server_with_the_host_alive_is_not_blamed_on_the_path() -> None:
    ev = clock.NtpEvidence((SntpResult("10.0.0.1:123", "timeout", sent=6),),
                           paths=({"ip": "10.0.0.1", "alive": True, "down": False, "summary": "ICMP echo answered"},))
    out = clock.evaluate(clock.Spec("ntp", ("10.0.0.1",), "spec.ntp.servers"), ev, T)
    assert out.status == Status.WARN and out.measured == "no answer" and "(6 requests)" in out.message
    assert "Other traffic to them gets through (10.0.0.1: ICMP echo answered)" in out.message


def test_nothing_back_from_the_ntp_server_is_a_path_problem() -> None:
    ev = clock.NtpEvidence((SntpResult("10.0.0.1:123", "timeout", sent=6),),
                           paths=({"ip": "10.0.0.1", "alive": False, "down": True, "summary": "ICMP echo lost"},))
    out = clock.evaluate(clock.Spec("ntp", ("10.0.0.1",), "spec.ntp.servers"), ev, T)
    assert out.status == Status.WARN and out.measured == "path down"
    assert "network path problem, not an NTP one" in out.message
