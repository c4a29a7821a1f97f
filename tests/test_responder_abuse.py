"""Issue 12 items 1–6: the responder under abuse, on loopback only (127.x.y.z sources).

Each test reproduces one defect of the old single-file responder (noted per test) and
bounds every loop in count and time. Processes are started and stopped by PID; the pids
cgroup is created and removed by the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck import protocol as proto
from netcheck.net import iperf
from netcheck.net import iperfwire as wire
from netcheck.responder import Responder, ServeConfig
from tests.test_responder import TOKEN, Logs, free_port, request

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def logs() -> Logs:
    return Logs()


def _start(logs: Logs, **kw: object) -> Responder:
    cfg = {"host": "0.0.0.0", "port": 0, "iperf_ports": (), "token": TOKEN, "max_test_seconds": 10, **kw}
    r = Responder(ServeConfig(**cfg), logs)  # type: ignore[arg-type]
    r.start()
    return r


@pytest.fixture
def responder(logs: Logs) -> Iterator[Responder]:
    r = _start(logs)
    try:
        yield r
    finally:
        r.stop()


def _echo_session(port: int, source: str, payload: bytes, seconds: float) -> int:
    """Bytes echoed back on one echo connection within `seconds` (0 when refused)."""
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(source, 0)) as s:
        s.sendall(b'{"op":"echo"}\n')
        f = s.makefile("rb")
        if not json.loads(f.readline()).get("ok"):
            return 0
        end = time.monotonic() + seconds
        threading.Thread(target=_push, args=(s, payload, end), daemon=True).start()
        s.settimeout(0.5)
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            got += len(chunk)
    return got


def _push(s: socket.socket, payload: bytes, end: float) -> None:
    with contextlib.suppress(OSError):
        while time.monotonic() < end:
            s.sendall(payload)


def unauthenticated_bytes(port: int, source: str, seconds: float) -> int:
    """Everything one source gets echoed (TCP echo sessions + UDP mode-0 echo) in `seconds`."""
    total = 0
    end = time.monotonic() + seconds
    payload = os.urandom(16384)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind((source, 0))
        u.settimeout(0.01)
        dgram = b"NCE1" + struct.pack("!BI", 0, 1) + os.urandom(8000)
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                total += _echo_session(port, source, payload, min(0.5, max(0.05, end - time.monotonic())))
            for _ in range(50):
                u.sendto(dgram, ("127.0.0.1", port))
            with contextlib.suppress(OSError):
                while True:
                    total += len(u.recv(65536))
    return total


# -- 1. unauthenticated echo stays small (was: 3.0 GB in 3.2 s from one source) ---------------

def test_unauthenticated_echo_has_a_per_source_byte_budget(responder: Responder) -> None:
    cfg = responder.cfg
    moved = unauthenticated_bytes(responder.port, "127.0.2.1", 4.0)
    assert moved <= cfg.echo_burst_bytes + 4.5 * cfg.echo_bytes_per_second, moved
    assert moved > 0
    # another source still gets its echo (a budget per source, not global)
    assert _echo_session(responder.port, "127.0.2.2", b"ping" * 10, 0.5) > 0


def test_echo_connection_is_capped_in_bytes_and_time(responder: Responder) -> None:
    got = _echo_session(responder.port, "127.0.2.3", os.urandom(16384), 3.0)
    assert got <= responder.cfg.echo_max_bytes


# -- 2. token before slot, bounded parameter exchange (was: one trickling connection held the slot) --

def _trickle_params(port: int, source: str, stop: threading.Event) -> float:
    """Valid cookie, then the parameters one byte per second; returns when the server closed it."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as s:
        s.sendall(wire.make_cookie())
        assert wire.recv_state(s) == proto.PARAM_EXCHANGE
        body = json.dumps({"tcp": True, "time": 1, "parallel": 1, "extra_data": TOKEN}).encode()
        data = struct.pack("!I", len(body)) + body
        with contextlib.suppress(OSError):
            for b in data:
                if stop.is_set():
                    break
                s.sendall(bytes([b]))
                s.settimeout(1.0)
                with contextlib.suppress(TimeoutError):
                    if s.recv(64) == b"":
                        break
    return time.monotonic() - t0


def test_trickling_parameters_neither_hold_a_slot_nor_last(logs: Logs) -> None:
    r = _start(logs, max_tests=1, handshake_timeout=3.0)
    stop = threading.Event()
    held: list[float] = []
    try:
        t = threading.Thread(target=lambda: held.append(_trickle_params(r.port, "127.0.2.4", stop)))
        t.start()
        time.sleep(0.5)
        results = [iperf.run_client("127.0.0.1", r.port, seconds=1, token=TOKEN, busy_retries=0) for _ in range(2)]
        t.join(timeout=15)
    finally:
        stop.set()
        r.stop()
    assert all(res.attempts == 1 and res.bytes_received > 0 for res in results)  # never "busy"
    assert held and held[0] < 3.0 + 1.5  # the whole exchange is bounded, not each read


def test_unauthenticated_client_never_takes_a_slot(logs: Logs) -> None:
    r = _start(logs, max_tests=1)
    try:
        for _ in range(3):
            with pytest.raises(iperf.IperfError) as info:
                iperf.run_client("127.0.0.1", r.port, seconds=5, token="wrong", busy_retries=0)
            assert info.value.kind == "unauthorized"
        assert r.tests.active() == 0
    finally:
        r.stop()


# -- 3. thread start failure (was: accept loop died for good, counters leaked) -----------------

PIDS = Path("/sys/fs/cgroup/pids")  # cgroup v1 pids hierarchy
UNIFIED = Path("/sys/fs/cgroup")  # cgroup v2, where the pids controller is enabled for children


def _pids_parent() -> Path | None:
    if PIDS.is_dir():
        return PIDS
    with contextlib.suppress(OSError):
        if "pids" in (UNIFIED / "cgroup.subtree_control").read_text().split():
            return UNIFIED
    return None


def _serve_proc(*extra: str, preexec: object = None, env: dict[str, str] | None = None,
                port: int | None = None) -> tuple[subprocess.Popen[str], int, list[dict[str, object]]]:
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "netcheck", "serve", "-l", "127.0.0.1", "-p", str(port),
                             "--iperf-port", "0", "--token", TOKEN, *extra], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=preexec,  # type: ignore[arg-type]
                            env={**os.environ, **(env or {})})
    assert proc.stderr is not None
    early: list[dict[str, object]] = []
    for _ in range(5):
        early.append(json.loads(proc.stderr.readline()))
        if early[-1]["event"] == "listening":
            break
    return proc, port, early


def _stop(proc: subprocess.Popen[str]) -> list[dict[str, object]]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def _hold(port: int, n: int, prefix: str = "127.0.3", send: bytes = b"{") -> list[socket.socket]:
    held = []
    for i in range(n):
        with contextlib.suppress(OSError):
            s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                         source_address=(f"{prefix}.{i % 250 + 1}", 0))
            s.sendall(send)
            held.append(s)
    return held


class _StderrEvents:
    """The responder's JSON log lines, read by a thread as they come (so a test can wait for one)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.events: list[dict[str, object]] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def wait_for(self, event: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(e["event"] == event for e in list(self.events)):
                return True
            time.sleep(0.05)
        return False

    def finish(self, proc: subprocess.Popen[str]) -> list[dict[str, object]]:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._thread.join(timeout=10)
        return self.events


def _make_pids_group() -> Path:
    """A fresh pids cgroup this process may limit and move a child into; skips when it may not
    (the controller missing, or present but not writable: not root, a read-only cgroupfs, no delegation)."""
    parent = _pids_parent()
    if parent is None:
        pytest.skip("no pids cgroup controller (v1 or v2) to limit threads with")
    group = parent / f"netcheck-test-{os.getpid()}"
    try:
        group.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot create a pids cgroup under {parent} ({exc.strerror}): needs root and a writable cgroupfs")
    try:
        (group / "pids.max").write_text("30\n")
    except OSError as exc:
        with contextlib.suppress(OSError):
            group.rmdir()
        pytest.skip(f"cannot set pids.max in {group} ({exc.strerror})")
    return group


def test_thread_start_failure_backs_off_and_service_recovers() -> None:
    group = _make_pids_group()
    proc = None
    reader = None
    held: list[socket.socket] = []
    events: list[dict[str, object]] = []
    try:
        proc, port, _ = _serve_proc()
        reader = _StderrEvents(proc)
        try:
            (group / "cgroup.procs").write_text(f"{proc.pid}\n")
        except OSError as exc:
            pytest.skip(f"cannot move a process into {group} ({exc.strerror})")
        held = _hold(port, 60)
        # wait for the condition the test is about, not for a guessed time
        assert reader.wait_for("thread-start-failed", 30), "the thread limit was never hit"
        for s in held:
            s.close()
        held = []
        deadline = time.monotonic() + 30
        ok = False
        while time.monotonic() < deadline and not ok:
            with contextlib.suppress(OSError, ValueError):
                ok = request(port, {"op": "hello"}, source="127.0.0.2")["ok"] is True
            if not ok:
                time.sleep(0.2)
        assert ok, "TCP service did not come back after the thread limit"
        # counters did not leak: 20 concurrent connections from one source still fit (per-source limit 32)
        again = _hold(port, 20, prefix="127.0.0")
        assert len(again) == 20
        for s in again:
            s.close()
        assert request(port, {"op": "hello"}, source="127.0.0.3")["ok"] is True
    finally:
        for s in held:
            s.close()
        if proc is not None and reader is not None:
            events = reader.finish(proc)
        elif proc is not None:
            _stop(proc)
        with contextlib.suppress(OSError):
            group.rmdir()
    names = [e["event"] for e in events]
    assert "thread-start-failed" in names, names[-10:]
    assert names[-1] == "stopped"
    stats = events[-1]
    assert isinstance(stats["thread_failures"], int) and stats["thread_failures"] >= 1


# -- 4. EMFILE (was: accept loop spun at 98 % CPU, logged nothing) ----------------------------

def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _nofile(n: int) -> object:
    import resource

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return apply


def test_max_clients_is_derived_from_the_descriptor_limit() -> None:
    proc, port, early = _serve_proc("--max-clients", "5000", preexec=_nofile(64))
    try:
        assert request(port, {"op": "hello"})["ok"] is True
    finally:
        events = early + _stop(proc)
    assert early[-1]["event"] == "listening" and early[-1]["max_clients"] == 32
    lowered = [e for e in events if e["event"] == "limit-lowered"]
    assert lowered and lowered[0]["requested"] == 5000 and lowered[0]["used"] == 32


EMFILE_SERVER = """
import sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
from netcheck.responder import core, limits, Responder, ServeConfig, json_logger
limits.clients_for_nofile = lambda soft, tests: 100000  # fault injection: let the table outgrow the fd limit
r = Responder(ServeConfig(host="127.0.0.1", port=int(sys.argv[1]), iperf_ports=(), token="t"), json_logger())
r.start()
time.sleep(float(sys.argv[2]))
r.stop()
"""


def test_emfile_backs_off_and_logs_instead_of_spinning() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", EMFILE_SERVER, str(port), "12"], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    held: list[socket.socket] = []
    try:
        assert proc.stderr is not None
        assert json.loads(proc.stderr.readline())["event"] == "listening"
        held = _hold(port, 80, prefix="127.0.4")  # more than 48 descriptors: accept() hits EMFILE
        time.sleep(0.5)
        c0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(2.0)
        cpu = (_cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
        for s in held:
            s.close()
        held = []
        ok = False
        end = time.monotonic() + 8
        while time.monotonic() < end and not ok:
            with contextlib.suppress(OSError, ValueError):
                ok = request(port, {"op": "hello"}, source="127.0.0.2")["ok"] is True
            time.sleep(0.2)
    finally:
        for s in held:
            s.close()
        events = _stop(proc)
    assert cpu < 0.25, f"accept loop used {cpu:.0%} of a core under EMFILE"
    assert ok, "service did not recover after descriptors were freed"
    failed = [e for e in events if e["event"] == "accept-failed"]
    assert failed and "open files" in str(failed[0]["error"]).lower()


# -- 5. slowloris from many sources (was: legitimate clients refused for 36 s) -----------------

def slowloris(port: int, n: int, stop: threading.Event, opening: bytes = b"{") -> list[socket.socket]:
    """n connections from 127.5.x.y sources that send `opening` and then a byte every 2 s."""
    socks = _hold(port, n, prefix="127.5.0", send=opening)
    def drip() -> None:
        while not stop.wait(2.0):
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(b" ")
    threading.Thread(target=drip, daemon=True).start()
    return socks


@pytest.mark.parametrize(("max_clients", "opening"), [(100, b"{"), (1024, b"{"),
                                                      (100, wire.make_cookie() + b"\x00")],
                         ids=["json-full-table", "json-defaults", "iperf-parameters-full-table"])
def test_legitimate_client_is_served_within_5s_under_slowloris(logs: Logs, max_clients: int, opening: bytes) -> None:
    r = _start(logs, max_clients=max_clients, handshake_timeout=5.0)
    stop = threading.Event()
    socks: list[socket.socket] = []
    try:
        socks = slowloris(r.port, 300, stop, opening)
        t0 = time.monotonic()
        assert request(r.port, {"op": "hello"}, source="127.0.0.2")["ok"] is True
        res = iperf.run_client("127.0.0.1", r.port, seconds=1, token=TOKEN, busy_retries=0)
        waited = time.monotonic() - t0 - res.seconds
    finally:
        stop.set()
        for s in socks:
            s.close()
        r.stop()
    assert res.bytes_received > 0 and waited < 5.0, waited
    if max_clients == 100:
        assert r.stats["evicted"] > 0  # the table was full: slowloris connections made room


def test_one_source_cannot_fill_the_table(logs: Logs) -> None:
    r = _start(logs)
    try:
        socks = _hold(r.port, 60, prefix="127.0.6")  # 60 sources... and then one source:
        one = [socket.create_connection(("127.0.0.1", r.port), timeout=2, source_address=("127.0.7.1", 0))
               for _ in range(40)]
        time.sleep(0.5)
        assert r.connection_count() <= 60 + r.cfg.max_per_source
        for s in socks + one:
            s.close()
    finally:
        r.stop()
    assert "connection-rejected" in logs.names()


# -- 6. malformed input before auth is answered, not logged as an internal error ---------------

@pytest.mark.parametrize("line", [b'{"a":' + b"[" * 3000 + b"\n", b'{"a":' * 800 + b"1" + b"}" * 800 + b"\n",
                                  b'{"op":"hello","v":Infinity}\n', b'{"op":"hello","v":1e999}\n'], ids=["deep-list", "deep-object", "infinity", "huge"])
def test_nested_or_odd_json_request_gets_an_error(responder: Responder, logs: Logs, line: bytes) -> None:
    with socket.create_connection(("127.0.0.1", responder.port), timeout=5) as s:
        s.sendall(line)
        reply = json.loads(s.makefile("rb").readline())
    assert reply["ok"] is False and str(reply["error"]).startswith("bad request")
    assert not [e for e in logs.events if e["level"] == "error"]


def _params_reply(port: int, params: bytes) -> tuple[int, list[int]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(wire.make_cookie())
        assert wire.recv_state(s) == proto.PARAM_EXCHANGE
        s.sendall(struct.pack("!I", len(params)) + params)
        state = wire.recv_state(s)
        codes = list(struct.unpack("!ii", wire.recv_exact(s, 8))) if state == proto.SERVER_ERROR else []
        return state, codes


@pytest.mark.parametrize("params", [
    b'{"tcp":true,"time":1,"parallel":Infinity,"extra_data":"' + TOKEN.encode() + b'"}',
    b'{"tcp":true,"time":NaN,"parallel":1,"extra_data":"' + TOKEN.encode() + b'"}',
    b'{"tcp":true,"time":1,"parallel":1e400,"extra_data":"' + TOKEN.encode() + b'"}',
    b'{"tcp":true,"time":1,"parallel":true,"extra_data":"' + TOKEN.encode() + b'"}',
    b'{"tcp":true,"time":1,"len":"big","extra_data":"' + TOKEN.encode() + b'"}',
    b"[" * 5000,
    b'{"tcp":true,"time":1,"parallel":Infinity}',
], ids=["parallel-inf", "time-nan", "parallel-1e400", "parallel-bool", "len-str", "nested", "no-token-inf"])
def test_bad_iperf_parameters_get_server_error(responder: Responder, logs: Logs, params: bytes) -> None:
    state, codes = _params_reply(responder.port, params)
    assert state == proto.SERVER_ERROR and codes
    assert not [e for e in logs.events if e["level"] == "error"]
    assert responder.tests.active() == 0


def test_udp_sized_echo_is_never_larger_than_the_request(responder: Responder) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for size in (9, 10):
            s.sendto(b"NCE1" + struct.pack("!BI", 1, size) + b"x" * (size - 9), ("127.0.0.1", responder.port))
            with pytest.raises(TimeoutError):
                s.recv(64)
        for size in (11, 12, 1400):
            req = b"NCE1" + struct.pack("!BI", 1, size) + b"x" * (size - 9)
            s.sendto(req, ("127.0.0.1", responder.port))
            reply = s.recv(64)
            assert len(reply) <= len(req) and struct.unpack_from("!H", reply, 9)[0] == size


# --- issue 24 item 4: connection churn, threads before --max-clients, phantom waiters ---------

def test_echo_session_survives_connection_churn() -> None:
    """300 churning sources evicted a legitimate echo session after 1 of 40 probes; idle
    unauthenticated connections now go first (bench row: echo session under churn)."""
    from bench.bench_responder_abuse import churn

    found = churn(max_clients=40, sources=120, probes=30)
    assert found["echoed"] == found["probes"], found


def test_hellos_get_in_when_threads_run_out_before_max_clients() -> None:
    """Under RLIMIT_AS threads ran out first and 2 of 4 hellos timed out; now the table is sized to
    the threads and a full table evicts (bench row: threads exhausted first)."""
    from bench.bench_responder_abuse import thread_limit

    found = thread_limit(conns=150)
    assert found["answered"] == found["hellos"], found


def test_a_phantom_waiter_holds_a_freed_slot_at_most_a_second() -> None:
    from bench.bench_responder_abuse import phantom
    from netcheck.responder.limits import HOLD_S

    found = phantom()
    assert found["idle_s"] <= HOLD_S + 1.0, found  # was about 5 s


def test_eviction_order_idle_first_authenticated_last() -> None:
    from netcheck.responder import Responder, ServeConfig
    from netcheck.responder.conn import Conn

    r = Responder(ServeConfig(host="127.0.0.1", port=0, token="t" * 16, max_tests=1))
    pairs = [socket.socketpair() for _ in range(5)]
    try:
        now = time.monotonic()
        auth = Conn(pairs[0][0], "127.0.0.1", since=now - 50, phase="idle", authenticated=True)
        talking = Conn(pairs[1][0], "127.0.0.2", since=now - 40, phase="echo", last_io=now)
        quiet = Conn(pairs[2][0], "127.0.0.3", since=now - 30, phase="echo", last_io=now - 5)
        idle = Conn(pairs[3][0], "127.0.0.4", since=now - 20, phase="idle")
        new = Conn(pairs[4][0], "127.0.0.5", since=now - 1, phase="new")
        order = []
        r._conns = {auth, talking, quiet, idle, new}
        for _ in range(5):
            victim = r._victim()
            assert victim is not None
            order.append(victim)
            victim.evicted = True
        assert order == [new, idle, quiet, talking, auth]
    finally:
        for a, b in pairs:
            a.close()
            b.close()
