"""The runner: crashes become ERROR, skips carry reason and fix, nothing outlives the deadline.

A tiny fake probe module is registered in probes.REGISTRY for each test; its spec says how
collect() behaves (pass, raise, skip, block on a socket, sleep forever, ...).
"""

from __future__ import annotations

import errno
import importlib.machinery
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import probes
from netcheck.model import Category, Check, CheckResult, Outcome, Severity, SkipReason, Status
from netcheck.net import Net
from netcheck.runner import run
from netcheck.settings import Thresholds
from probes.base import MissingPrivilege, ProbeSkip
from tests.conftest import validate_report

FAKE = "tests_fake_probe"
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class FakeSpec:
    behaviour: str  # pass | raise | skip | privilege | recv | sleep | budget | timed | bad-evaluate
    seconds: float = 0.0


class FakeWorld:
    """State shared by the fake probe: timings, blocked sockets, and the stop switch for teardown."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.times: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def collect(self, spec: FakeSpec, net: Net) -> dict[str, Any]:
        t0 = time.monotonic()
        b = spec.behaviour
        if b == "raise":
            raise RuntimeError("boom 42")
        if b == "skip":
            raise ProbeSkip(SkipReason.NOT_APPLICABLE, "Nothing to check here.", "Set spec.x to check it.")
        if b == "privilege":
            raise MissingPrivilege("Raw sockets need CAP_NET_RAW.", "Run as root or grant CAP_NET_RAW.")
        if b == "recv":  # a socket read with no timeout: only teardown (shutdown of the peer) ends it
            a, peer = socket.socketpair()
            with self.lock:
                self.pairs.append((a, peer))
            a.recv(1)
        elif b == "sleep":  # ignores every budget; bounded only so a broken test cannot leak forever
            end = time.monotonic() + 60
            while not self.stop.is_set() and time.monotonic() < end:
                time.sleep(0.05)
        elif b == "budget":  # a well-behaved probe: every wait goes through net.budget()
            for _ in range(2000):
                time.sleep(net.budget(0.05))
        elif b == "timed":
            time.sleep(spec.seconds)
        with self.lock:
            self.times[spec.behaviour + str(id(spec))] = (t0, time.monotonic())
        return {"behaviour": b, "t0": t0, "t1": time.monotonic()}

    def close(self) -> None:
        self.stop.set()
        for a, peer in self.pairs:
            peer.shutdown(socket.SHUT_RDWR)
            peer.close()
            a.close()


def fake_evaluate(spec: FakeSpec, evidence: dict[str, Any], thresholds: Thresholds) -> Outcome:
    if spec.behaviour == "bad-evaluate":
        raise KeyError("missing-field")
    return Outcome(Status.PASS, f"Fake check {spec.behaviour} passed.", evidence=evidence)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWorld]:
    """Register the fake probe module for the duration of one test."""
    w = FakeWorld()
    mod = types.ModuleType(FAKE)
    mod.__spec__ = importlib.machinery.ModuleSpec(FAKE, None)
    mod.plan = lambda settings: []  # type: ignore[attr-defined]
    mod.collect = w.collect  # type: ignore[attr-defined]
    mod.evaluate = fake_evaluate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE, mod)
    monkeypatch.setitem(probes.REGISTRY, "fake", FAKE)
    try:
        yield w
    finally:
        w.close()


def chk(name: str, behaviour: str, *, timeout: float = 10.0, exclusive: bool = False, seconds: float = 0.0,
        severity: Severity = Severity.REQUIRED) -> Check:
    return Check(id=f"fake.{name}.x", category=Category.HOST, title=name, probe="fake",
                 spec=FakeSpec(behaviour, seconds), severity=severity, timeout=timeout, exclusive=exclusive)


def by_id(results: tuple[CheckResult, ...]) -> dict[str, CheckResult]:
    return {r.id: r for r in results}


def go(checks: list[Check], deadline: float = 20.0, concurrency: int = 8) -> tuple[dict[str, CheckResult], float]:
    t0 = time.monotonic()
    out = run(checks, Net(), Thresholds(), deadline, concurrency=concurrency)
    assert [r.id for r in out.results] == [c.id for c in checks], "results come back in plan order"
    return by_id(out.results), time.monotonic() - t0


def test_exception_in_collect_is_error_and_the_run_goes_on(world: FakeWorld) -> None:
    res, _ = go([chk("crash", "raise"), chk("ok", "pass"), chk("badeval", "bad-evaluate")])
    crash = res["fake.crash.x"].outcome
    assert crash.status is Status.ERROR
    # a sentence with a fix; the raw exception is kept in the evidence only (issue 21 item 2)
    assert "internal fault" in crash.message and crash.remediation
    assert not RAW.search(crash.message) and not RAW.search(crash.remediation or "")
    assert crash.evidence["fault"] == "RuntimeError: boom 42"
    assert "Traceback" in crash.evidence["traceback"]
    assert res["fake.ok.x"].status is Status.PASS
    bad = res["fake.badeval.x"].outcome
    assert bad.status is Status.ERROR and "Judging" in bad.message and "missing-field" in str(bad.evidence["fault"])
    assert bad.remediation and not RAW.search(bad.message)


RAW = re.compile(r"Errno|OSError|Traceback|Exception")


def test_a_typo_in_check_probe_is_an_error_not_a_dead_worker(world: FakeWorld) -> None:
    """probes.load() of an unknown name is an ERROR saying so, at once; the other checks still run."""
    typo = Check(id="fake.typo.x", category=Category.HOST, title="typo", probe="fkae", spec=FakeSpec("pass"))
    res, took = go([typo, chk("ok", "pass"), chk("ok2", "pass")], concurrency=1)
    bad = res["fake.typo.x"].outcome
    assert bad.status is Status.ERROR and "no working probe 'fkae'" in bad.message and bad.remediation
    assert "is registered" in str(bad.evidence["fault"]) and "timeout" not in bad.message
    assert res["fake.ok.x"].status is Status.PASS and res["fake.ok2.x"].status is Status.PASS
    assert took < 5.0  # not the check's 10 s timeout: the one worker thread survived


@pytest.mark.parametrize(("exc", "words"), [
    (OSError(errno.EMFILE, "Too many open files"), "file descriptors (EMFILE)"),
    (PermissionError(errno.EPERM, "Operation not permitted"), "did not allow it"),
    (OSError(errno.ENETDOWN, "Network is down"), "interface is down"),
    (OSError(errno.EPROTO, "Protocol error"), "protocol error (EPROTO)"),
    (TimeoutError(), "timed out"),
    (ValueError("x"), "internal fault"),
])
def test_exceptions_become_sentences_with_a_fix(exc: BaseException, words: str) -> None:
    from netcheck.net.localerr import plain

    what, fix = plain(exc)
    assert words in what and fix
    assert not RAW.search(what) and not RAW.search(fix)


def test_no_route_error_is_a_local_fail_with_the_route_lookup() -> None:
    from netcheck.net.localerr import NoRouteError

    exc = NoRouteError("10.20.1.10", errno.ENETUNREACH, {"dst": "10.20.1.10", "result": "no-route",
                                                          "error": "ENETUNREACH"})
    assert str(exc) == exc.sentence() and not RAW.search(str(exc))
    assert exc.sentence().startswith("This host has no route to 10.20.1.10 (route lookup: no route (ENETUNREACH))")
    assert exc.to_evidence()["localError"] == "ENETUNREACH" and exc.to_evidence()["route"]["result"] == "no-route"


def test_probe_skip_and_missing_privilege_become_skip_with_reason_and_fix(world: FakeWorld) -> None:
    res, _ = go([chk("na", "skip"), chk("priv", "privilege")])
    na, priv = res["fake.na.x"].outcome, res["fake.priv.x"].outcome
    assert (na.status, na.skip_reason, na.message, na.remediation) == (
        Status.SKIP, SkipReason.NOT_APPLICABLE, "Nothing to check here.", "Set spec.x to check it.")
    assert (priv.status, priv.skip_reason) == (Status.SKIP, SkipReason.PRIVILEGE)
    assert priv.remediation == "Run as root or grant CAP_NET_RAW."
    assert res["fake.priv.x"].to_json()["evidence"]["skipReason"] == "privilege"


@pytest.mark.parametrize("behaviour", ["recv", "sleep"])
def test_a_probe_blocked_forever_does_not_hold_the_run_past_the_deadline(world: FakeWorld, behaviour: str) -> None:
    out = run([chk("stuck", behaviour, timeout=60), chk("ok", "pass")], Net(), Thresholds(), 1.5)
    res = by_id(out.results)
    assert out.deadline_hit and not out.interrupted
    stuck = res["fake.stuck.x"].outcome
    assert stuck.status is Status.ERROR
    assert "did not finish" in stuck.message.lower()
    assert stuck.remediation and "--deadline" in stuck.remediation
    assert res["fake.ok.x"].status is Status.PASS


def test_deadline_bound_holds_in_wall_time(world: FakeWorld) -> None:
    _, took = go([chk("stuck", "recv", timeout=60), chk("stuck2", "sleep", timeout=60)], deadline=1.0)
    assert took < 5.0  # generous: 1 s deadline on a shared 2-core machine


def test_checks_never_started_before_the_deadline_say_so(world: FakeWorld) -> None:
    res, _ = go([chk("stuck", "sleep", timeout=60), chk("later", "pass")], deadline=1.0, concurrency=1)
    assert res["fake.stuck.x"].status is Status.ERROR
    later = res["fake.later.x"].outcome
    assert later.status is Status.ERROR and "never started" in later.message.lower()


def test_per_check_timeout_gives_up_and_the_queue_drains(world: FakeWorld) -> None:
    res, took = go([chk("stuck", "recv", timeout=0.3), chk("ok", "pass")], deadline=30, concurrency=1)
    stuck = res["fake.stuck.x"].outcome
    assert stuck.status is Status.ERROR
    assert "within its 0.3 s timeout" in stuck.message
    assert res["fake.ok.x"].status is Status.PASS  # a fresh worker took the rest of the queue
    assert took < 15  # far below the 30 s run deadline


def test_net_budget_follows_the_check_timeout(world: FakeWorld) -> None:
    res, took = go([chk("polite", "budget", timeout=0.5)], deadline=30)
    polite = res["fake.polite.x"].outcome
    assert polite.status is Status.ERROR and "deadline" in polite.message
    assert took < 15


def test_exclusive_checks_run_after_the_others_and_alone(world: FakeWorld) -> None:
    shared = [chk(f"s{i}", "timed", seconds=0.2) for i in range(4)]
    excl = [chk(f"e{i}", "timed", seconds=0.2, exclusive=True) for i in range(3)]
    checks = [excl[0], shared[0], shared[1], excl[1], shared[2], shared[3], excl[2]]
    res, _ = go(checks)
    assert all(r.status is Status.PASS for r in res.values())
    span = {cid: (r.outcome.evidence["t0"], r.outcome.evidence["t1"]) for cid, r in res.items()}
    shared_end = max(span[c.id][1] for c in shared)
    windows = sorted(span[c.id] for c in excl)
    assert windows[0][0] >= shared_end, "exclusive checks start only after every shared check ended"
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start >= end, "exclusive checks never overlap each other"


def test_observer_sees_every_check(world: FakeWorld) -> None:
    seen: list[tuple[str, str]] = []

    class Obs:
        def started(self, check: Check) -> None:
            seen.append(("started", check.id))

        def finished(self, result: CheckResult) -> None:
            seen.append(("finished", result.id))

    checks = [chk("a", "pass"), chk("b", "raise")]
    run(checks, Net(), Thresholds(), 10, observer=Obs())
    assert sorted(seen) == sorted([(e, c.id) for c in checks for e in ("started", "finished")])


def test_keyboard_interrupt_leaves_unfinished_checks_skipped_interrupted(world: FakeWorld) -> None:
    class Interrupting:
        def started(self, check: Check) -> None:
            pass

        def finished(self, result: CheckResult) -> None:
            raise KeyboardInterrupt

    out = run([chk("ok", "pass"), chk("stuck", "sleep", timeout=60)], Net(), Thresholds(), 30,
              observer=Interrupting())
    res = by_id(out.results)
    assert out.interrupted
    assert res["fake.ok.x"].status is Status.PASS
    stuck = res["fake.stuck.x"].outcome
    assert (stuck.status, stuck.skip_reason) == (Status.SKIP, SkipReason.INTERRUPTED)


# --- Ctrl-C on the real command line -------------------------------------------------------

SLOW_PROBE = textwrap.dedent('''
    """Fake probe for the SIGINT test: one fast check, one that never ends on its own."""
    import os, time
    from netcheck.model import Category, Check, Outcome, Status

    def plan(settings):
        return [Check("fake.fast.pass", Category.HOST, "fast", "slow", "fast"),
                Check("fake.slow.block", Category.HOST, "slow", "slow", "slow", timeout=120)]

    def collect(spec, net):
        if spec == "slow":
            open(os.environ["NC_MARKER"], "w").close()
            end = time.monotonic() + 60
            while time.monotonic() < end:
                time.sleep(0.05)
        return {}

    def evaluate(spec, evidence, thresholds):
        return Outcome(Status.PASS, "Fake check passed.")
''')

LAUNCHER = ("import sys; import probes; probes.REGISTRY['slow'] = 'nc_slow_probe'; "
            "sys.argv[0] = 'netcheck'; from netcheck.cli import main; main()")


def test_ctrl_c_gives_a_partial_report_and_exit_4(tmp_path: Path) -> None:
    (tmp_path / "nc_slow_probe.py").write_text(SLOW_PROBE)
    profile = tmp_path / "site.yaml"
    profile.write_text("apiVersion: netcheck/v1\nkind: SiteProfile\nmetadata: {name: sigint}\nspec: {}\n")
    marker = tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}", "NC_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, "run", "-c", str(profile), "--format", "json",
                             "--only", "fake", "--deadline", "100"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "the slow check never started"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 4, stderr
    assert "Traceback" not in stderr
    doc = json.loads(stdout)
    validate_report(doc)
    assert doc["verdict"] == "INCONCLUSIVE" and doc["metadata"]["interrupted"] is True
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["fake.fast.pass"]["status"] == "PASS"
    slow = checks["fake.slow.block"]
    assert slow["status"] == "SKIP" and slow["evidence"]["skipReason"] == "interrupted"



def test_progress_on_a_tty_does_not_disturb_the_report(tmp_path: Path) -> None:
    """On a TTY the rich progress observer runs (stderr); the report and exit code are unchanged."""
    import shutil

    if shutil.which("script") is None:
        pytest.skip("util-linux `script` is needed to give netcheck a terminal")
    profile = tmp_path / "site.yaml"
    profile.write_text("apiVersion: netcheck/v1\nkind: SiteProfile\nspec:\n  node: {ip: 192.168.50.10}\n"
                       "  remoteNetwork: {nodeCidrs: [192.168.50.0/24], podCidrs: [10.244.0.0/16]}\n")
    cmd = f"{sys.executable} -m netcheck run -c {profile} --only cidr.node,cidr.overlap --no-color"
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert "VERDICT: GO" in proc.stdout and "Traceback" not in proc.stdout


def test_net_once_shares_evidence_within_a_run_only() -> None:
    """Net.once: one computation per key and run, shared by the per-check bounded copies; errors are not kept."""
    import time as _time

    from netcheck.net import DeadlineExceeded, Net

    calls: list[int] = []
    net = Net()
    bounded = net.bounded(_time.monotonic() + 5)
    assert net.once("k", lambda: calls.append(1) or 42) == 42
    assert bounded.once("k", lambda: calls.append(2) or 0) == 42 and calls == [1]
    assert Net().once("k", lambda: calls.append(3) or 7) == 7  # a new run computes again

    def boom() -> int:
        raise OSError("flaky")

    with pytest.raises(OSError):
        net.once("e", boom)
    assert net.once("e", lambda: 5) == 5
    expired = net.bounded(_time.monotonic() - 1)
    for call in (expired.local_prefixes, expired.interfaces, lambda: expired.sysctl("net.ipv4.ip_forward"),
                 lambda: expired.listen_tcp("127.0.0.1", 0)):
        with pytest.raises(DeadlineExceeded):
            call()


def test_longest_checks_start_first(world: FakeWorld) -> None:
    short = [chk(f"short{i}", "timed", seconds=0.1, timeout=5.0) for i in range(3)]
    long = chk("long", "timed", seconds=0.1, timeout=30.0)
    res, _ = go([*short, long], concurrency=1)
    starts = {cid: r.outcome.evidence["t0"] for cid, r in res.items()}
    assert min(starts, key=lambda i: starts[i]) == "fake.long.x", "the longest timeout starts before the short ones"


def test_the_first_checks_run_while_the_rest_is_planned(world: FakeWorld) -> None:
    """`rest` (the planning of the other probes) is called once the first checks have started; its checks
    run too, within the same concurrency, and the results are the first checks then the rest's."""
    first = [chk("series", "timed", seconds=0.4, timeout=30.0)]
    more = [chk(f"quick{i}", "timed", seconds=0.05) for i in range(5)] + [chk("bulk", "pass", exclusive=True)]
    seen: list[float] = []

    def rest() -> list[Check]:
        deadline = time.monotonic() + 10
        while not world.times and not any(t.name == "netcheck-probe" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the first check never started"
            time.sleep(0.005)
        seen.append(time.monotonic())
        return more

    out = run(first, Net(), Thresholds(), 20.0, concurrency=2, rest=rest)
    assert [r.id for r in out.results] == [c.id for c in first + more]
    assert all(r.status is Status.PASS for r in out.results)
    res = by_id(out.results)
    t0 = res["fake.series.x"].outcome.evidence["t0"]
    assert t0 <= seen[0], "the first check started before the rest of the plan was asked for"
    starts = sorted(res[f"fake.quick{i}.x"].outcome.evidence["t0"] for i in range(5))
    assert starts[0] < res["fake.series.x"].outcome.evidence["t1"], "the rest ran beside the first check"
    assert res["fake.bulk.x"].outcome.evidence["t0"] >= max(r.outcome.evidence["t1"] for r in out.results
                                                            if r.id != "fake.bulk.x") - 0.01, "exclusive: alone"


def test_a_rest_that_fails_stops_the_run_and_starts_nothing_more(world: FakeWorld) -> None:
    first = [chk("series", "timed", seconds=0.2), chk("queued", "timed", seconds=0.2)]

    def rest() -> list[Check]:
        raise ValueError("--skip 'latncy.*' matches none of the checks")

    with pytest.raises(ValueError, match="latncy"):
        run(first, Net(), Thresholds(), 20.0, concurrency=1, rest=rest)
    deadline = time.monotonic() + 10  # what was running ends on its own; its worker finds nothing queued
    while any(t.name == "netcheck-probe" and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a worker outlived its check"
        time.sleep(0.01)
    assert len(world.times) == 1, world.times


def test_critical_path_names_the_check_that_ended_last_and_what_it_waited_for(world: FakeWorld) -> None:
    checks = [chk("quick", "timed", seconds=0.05), chk("slow", "timed", seconds=0.4),
              chk("bulk", "timed", seconds=0.2, exclusive=True)]
    out = run(checks, Net(), Thresholds(), 20.0)
    path = out.critical_path
    assert path is not None and path["checkId"] == "fake.bulk.x"
    chain = [link["id"] for link in path["path"]]
    assert chain == ["fake.bulk.x", "fake.slow.x"], "the exclusive check waited for the slowest shared check"
    assert path["path"][0]["waitedFor"] == "fake.slow.x" and "exclusive" in path["path"][0]["why"]
    assert path["path"][-1]["why"] == "started with the run"
    assert path["endedAt"] >= path["path"][0]["startedAt"] >= path["path"][1]["endedAt"] - 0.03
    assert "fake.bulk.x ended last" in path["reason"]


def test_critical_path_through_a_wait_for_a_worker(world: FakeWorld) -> None:
    checks = [chk("first", "timed", seconds=0.3, timeout=20.0), chk("second", "timed", seconds=0.1, timeout=10.0)]
    out = run(checks, Net(), Thresholds(), 20.0, concurrency=1)
    assert out.critical_path is not None
    first, *rest = out.critical_path["path"]
    assert first["id"] == "fake.second.x" and first["waitedFor"] == "fake.first.x"
    assert "free worker (1 at once)" in first["why"] and rest[0]["id"] == "fake.first.x"


def test_critical_path_travels_in_the_report_json_and_back(world: FakeWorld) -> None:
    from netcheck.model import Report, Verdict, report_from_json

    out = run([chk("a", "timed", seconds=0.05), chk("b", "timed", seconds=0.1, exclusive=True)], Net(),
              Thresholds(), 20.0)
    report = Report(results=out.results, verdict=Verdict.GO, started_at="2026-01-01T00:00:00+00:00", duration=0.3,
                    critical_path=out.critical_path)
    doc = json.loads(json.dumps(report.to_json()))
    validate_report(doc)
    assert doc["metadata"]["criticalPath"]["checkId"] == "fake.b.x"
    again = report_from_json(doc)
    assert again.critical_path == doc["metadata"]["criticalPath"]
    assert again.to_json()["metadata"] == doc["metadata"]
    old = {**doc, "metadata": {k: v for k, v in doc["metadata"].items() if k != "criticalPath"}}
    assert report_from_json(old).critical_path is None, "reports from before the field still load"
