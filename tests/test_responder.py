"""The responder (`netcheck serve`) on loopback: protocol, token, connect-back rules, robustness.

Every server here binds a random free port on 127.0.0.0/8; iperf3 binaries are started
by PID and stopped in `finally`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
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
from testbed import free_port

TOKEN = "s3cret-token"
ROOT = Path(__file__).resolve().parents[1]


class Logs:
    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self.lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: object) -> None:
        with self.lock:
            self.events.append({"event": event, "level": level, **fields})

    def names(self) -> list[object]:
        with self.lock:
            return [e["event"] for e in self.events]


@pytest.fixture
def logs() -> Logs:
    return Logs()


@pytest.fixture
def responder(logs: Logs) -> Iterator[Responder]:
    r = Responder(ServeConfig(host="127.0.0.1", port=0, iperf_ports=(), token=TOKEN, max_test_seconds=10,
                              handshake_timeout=2.0), logs)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def request(port: int, obj: dict[str, object], source: str | None = None, host: str = "127.0.0.1") -> dict[str, object]:
    with socket.create_connection((host, port), timeout=10, source_address=(source, 0) if source else None) as s:
        s.sendall(json.dumps(obj).encode() + b"\n")
        reply = s.makefile("rb").readline()
    out: dict[str, object] = json.loads(reply)
    return out



# -- JSON control ---------------------------------------------------------------------

def test_hello_reports_features_and_client_address(responder: Responder) -> None:
    reply = request(responder.port, {"v": 1, "op": "hello", "token": TOKEN}, source="127.0.0.7")
    assert reply["ok"] is True and reply["clientAddr"] == "127.0.0.7"
    assert {"echo", "udp-echo", "iperf3", "connect-back"} <= set(reply["features"])  # type: ignore[arg-type]
    assert reply["udpPorts"] == [responder.port] and reply["version"]


@pytest.mark.parametrize("token", [None, "wrong", 12345])
def test_hello_without_the_token_tells_only_what_a_client_needs(responder: Responder, token: object) -> None:
    """Before the token: protocol version, the address seen, whether a token is needed; no software
    version, feature list, ports or capacity (issue 24 item 8)."""
    msg: dict[str, object] = {"v": 1, "op": "hello", **({"token": token} if token is not None else {})}
    reply = request(responder.port, msg, source="127.0.0.7")
    assert reply == {"ok": True, "v": 1, "clientAddr": "127.0.0.7", "auth": True}


def test_tcp_echo_returns_every_byte(responder: Responder) -> None:
    with socket.create_connection(("127.0.0.1", responder.port), timeout=10) as s:
        s.sendall(b'{"v":1,"op":"echo"}\n')
        f = s.makefile("rb")
        assert json.loads(f.readline()) == {"ok": True}
        payload = os.urandom(60_000)  # under the 64 KiB per-connection cap
        threading.Thread(target=s.sendall, args=(payload,), daemon=True).start()
        got = f.read(len(payload))
    assert got == payload


@pytest.mark.parametrize(("line", "error"), [
    (b'{"v":1,"op":"nope"}\n', "unknown op"),
    (b'{"v":1}\n', "bad request: missing op"),
    (b'{not json\n', "bad request"),
    (b'{"v":2,"op":"hello"}\n', "bad request"),
    (b"{" + b"x" * 5000 + b"\n", "bad request"),
])
def test_bad_requests_get_a_clear_error(responder: Responder, line: bytes, error: str) -> None:
    with socket.create_connection(("127.0.0.1", responder.port), timeout=10) as s:
        s.sendall(line)
        reply = json.loads(s.makefile("rb").readline())
    assert reply["ok"] is False and str(reply["error"]).startswith(error)


def test_requests_are_rate_limited_per_source(responder: Responder) -> None:
    errors = [request(responder.port, {"op": "hello"}, source="127.0.0.9").get("error") for _ in range(60)]
    assert "rate limited" in errors
    assert request(responder.port, {"op": "hello"}, source="127.0.0.10")["ok"] is True  # other sources unaffected


# -- connect-back ---------------------------------------------------------------------

def test_connect_back_dials_the_requester(responder: Responder) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.5", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        reply = request(responder.port, {"v": 1, "op": "connect-back", "token": TOKEN, "port": port, "timeout": 3},
                        source="127.0.0.5")
    assert reply["ok"] is True and reply["outcome"] == "connected"
    assert reply["target"] == f"127.0.0.5:{port}" and reply["source"]


def test_connect_back_reports_refused_port(responder: Responder) -> None:
    port = free_port("127.0.0.5")
    reply = request(responder.port, {"op": "connect-back", "token": TOKEN, "port": port}, source="127.0.0.5")
    assert reply["ok"] is True and reply["outcome"] == "refused"


@pytest.mark.parametrize("token", [None, "", "wrong", 12345])
def test_connect_back_needs_the_token(responder: Responder, token: object, logs: Logs) -> None:
    req: dict[str, object] = {"op": "connect-back", "port": 22}
    if token is not None:
        req["token"] = token
    assert request(responder.port, req) == {"ok": False, "error": "unauthorized"}
    assert "unauthorized" in logs.names()


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::ffff:127.0.0.1"])
def test_connect_back_refuses_any_other_address(responder: Responder, address: str) -> None:
    reply = request(responder.port, {"op": "connect-back", "token": TOKEN, "port": 22, "address": address},
                    source="127.0.0.6")
    assert reply == {"ok": False, "error": "connect-back only to the requesting address"}


def test_connect_back_validates_port(responder: Responder) -> None:
    reply = request(responder.port, {"op": "connect-back", "token": TOKEN, "port": 70000})
    assert reply["ok"] is False and str(reply["error"]).startswith("bad request")


# -- UDP ------------------------------------------------------------------------------

def test_udp_echo_modes(responder: Responder) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        dgram = b"NCE1" + struct.pack("!BI", 0, 7) + b"x" * 100
        s.sendto(dgram, ("127.0.0.1", responder.port))
        assert s.recv(2048) == dgram
        big = b"NCE1" + struct.pack("!BI", 1, 8) + b"y" * 1400
        s.sendto(big, ("127.0.0.1", responder.port))
        assert s.recv(2048) == big[:9] + struct.pack("!H", len(big))
        s.sendto(b"junk datagram", ("127.0.0.1", responder.port))
        s.sendto(b"NCE1" + struct.pack("!BI", 9, 1), ("127.0.0.1", responder.port))  # unknown mode
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(2048)


# -- iperf3 ---------------------------------------------------------------------------

def test_netcheck_client_both_directions(responder: Responder) -> None:
    up = iperf.run_client("127.0.0.1", responder.port, seconds=1, streams=2, token=TOKEN)
    down = iperf.run_client("127.0.0.1", responder.port, seconds=1, streams=2, reverse=True, token=TOKEN)
    for r in (up, down):
        assert r.bytes_received > 0 and r.mbps > 100 and r.streams == 2
    assert up.retransmits is not None and down.retransmits is not None


@pytest.mark.parametrize("token", [None, "wrong"])
def test_bandwidth_refused_without_the_token(responder: Responder, token: str | None) -> None:
    with pytest.raises(iperf.IperfError) as info:
        iperf.run_client("127.0.0.1", responder.port, seconds=1, token=token)
    assert info.value.kind == "unauthorized"
    assert "authorization" in str(info.value)


def _iperf3(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iperf3", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("extra", [[], ["-R"], ["-P", "3"], ["-R", "-P", "2"]])
def test_stock_iperf3_client_against_responder(responder: Responder, extra: list[str]) -> None:
    out = _iperf3("-c", "127.0.0.1", "-p", str(responder.port), "-t", "1", "-J", "--extra-data", TOKEN, *extra)
    assert out.returncode == 0, out.stdout[-500:] + out.stderr
    end = json.loads(out.stdout)["end"]
    assert end["sum_received"]["bytes"] > 0 and end["sum_sent"]["bytes"] >= end["sum_received"]["bytes"] * 0.9


def test_stock_iperf3_client_without_token_is_refused(responder: Responder) -> None:
    out = _iperf3("-c", "127.0.0.1", "-p", str(responder.port), "-t", "1")
    assert out.returncode == 1 and "authorization failed" in out.stderr + out.stdout


def test_second_test_gets_server_busy(responder: Responder) -> None:
    first = subprocess.Popen(["iperf3", "-c", "127.0.0.1", "-p", str(responder.port), "-t", "3",
                              "--extra-data", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while responder.tests.active() == 0 and time.monotonic() < end:
            time.sleep(0.05)
        with pytest.raises(iperf.ServerBusy) as info:  # one test per source; no time to wait for it
            iperf.run_client("127.0.0.1", responder.port, seconds=1, token=TOKEN, deadline=time.monotonic() + 2)
        assert "busy" in str(info.value) and "retry after" in str(info.value)
        assert info.value.retry_after is not None and 1 <= info.value.retry_after <= 5
    finally:
        first.wait(timeout=20)
    assert first.returncode == 0


def test_survives_junk_and_a_client_that_vanishes_mid_test(responder: Responder, logs: Logs) -> None:
    port = responder.port
    junk: list[socket.socket] = []
    payloads = [b"", b"\x00" * 37, b"GET / HTTP/1.1\r\n\r\n", os.urandom(64), b"{" * 10, b'{"op":"hello"',
                b"abcdefghijklmnopqrstuvwxyz234567abcd", b"{\"op\":\"echo\"}\n" + os.urandom(10)]
    try:
        for i in range(100):  # held open concurrently, from many source addresses
            s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(f"127.0.1.{i + 1}", 0))
            with contextlib.suppress(OSError):
                s.sendall(payloads[i % len(payloads)])
            junk.append(s)
        # A stock client killed hard in the middle of a download test.
        victim = subprocess.Popen(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "10", "-R", "-P", "2",
                                   "--extra-data", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until(lambda: responder.tests.active() > 0, "the stock client's test never started")
        victim.kill()
        victim.wait(timeout=10)
        assert request(port, {"op": "hello"}, source="127.0.0.3")["ok"] is True
        res = _retry_busy(lambda: iperf.run_client("127.0.0.1", port, seconds=1, streams=2, token=TOKEN))
        assert res.bytes_received > 0
    finally:
        for s in junk:
            s.close()
    # killed before all its streams connected, the test is given up only after the handshake timeout
    _wait_until(lambda: "iperf-aborted" in logs.names(), "the killed client's test was never logged as aborted")
    assert not [e for e in logs.events if e["level"] == "error"]


def test_client_that_drops_control_after_streams_open(responder: Responder, logs: Logs) -> None:
    cookie = wire.make_cookie()
    ctrl = socket.create_connection(("127.0.0.1", responder.port), timeout=10)
    ctrl.sendall(cookie)
    assert wire.recv_state(ctrl) == proto.PARAM_EXCHANGE
    wire.send_json(ctrl, {"tcp": True, "time": 5, "parallel": 1, "extra_data": TOKEN})
    assert wire.recv_state(ctrl) == proto.CREATE_STREAMS
    data = socket.create_connection(("127.0.0.1", responder.port), timeout=10)
    data.sendall(cookie + b"z" * 100_000)
    assert wire.recv_state(ctrl) == proto.TEST_START
    ctrl.close()
    data.close()
    res = _retry_busy(lambda: iperf.run_client("127.0.0.1", responder.port, seconds=1, token=TOKEN))
    assert res.bytes_received > 0


def _wait_until(cond: object, what: str, timeout: float = 30) -> None:
    """Poll `cond` (bounded) instead of sleeping for a guessed time."""
    assert callable(cond)
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, what
        time.sleep(0.02)


def _retry_busy(fn: object, tries: int = 20) -> iperf.IperfResult:
    assert callable(fn)
    for _ in range(tries):
        try:
            out = fn()
            assert isinstance(out, iperf.IperfResult)
            return out
        except iperf.ServerBusy:
            time.sleep(0.5)
    raise AssertionError("the responder stayed busy")


def test_connection_limit_rejects_extra_connections(logs: Logs) -> None:
    r = Responder(ServeConfig(host="127.0.0.1", port=0, iperf_ports=(), token=TOKEN, max_clients=5,
                              max_per_source=3, handshake_timeout=3), logs)
    r.start()
    held = []
    try:
        for _ in range(3):
            held.append(socket.create_connection(("127.0.0.1", r.port), timeout=5))
        _wait_until(lambda: r.connection_count() >= 3, "the responder never counted the held connections")
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as extra:
            extra.settimeout(5)
            assert extra.recv(10) == b""  # closed at once
        assert request(r.port, {"op": "hello"}, source="127.0.0.4")["ok"] is True
    finally:
        for s in held:
            s.close()
        r.stop()
    assert "connection-rejected" in logs.names()


def test_token_is_required_unless_no_auth() -> None:
    with pytest.raises(ValueError):
        Responder(ServeConfig(host="127.0.0.1", port=0))
    r = Responder(ServeConfig(host="127.0.0.1", port=0, iperf_ports=(), no_auth=True), Logs())
    r.start()
    try:
        assert iperf.run_client("127.0.0.1", r.port, seconds=1).bytes_received > 0
    finally:
        r.stop()


def test_a_client_gone_before_its_streams_start_is_logged_as_an_aborted_test(responder: Responder,
                                                                            logs: Logs) -> None:
    """The control connection is reset after CREATE_STREAMS, then the stream connects: the responder's
    TEST_START fails, and the test is logged as aborted (an operator's warning), not as a debug line."""
    cookie = wire.make_cookie()
    with socket.create_connection(("127.0.0.1", responder.port), timeout=10) as ctrl:
        ctrl.sendall(cookie)
        assert wire.recv_state(ctrl) == proto.PARAM_EXCHANGE
        wire.send_json(ctrl, {"tcp": True, "omit": 0, "time": 2, "num": 0, "blockcount": 0, "parallel": 1,
                              "len": 131072, "client_version": "3.12", "extra_data": TOKEN})
        assert wire.recv_state(ctrl) == proto.CREATE_STREAMS
        ctrl.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with socket.create_connection(("127.0.0.1", responder.port), timeout=10) as stream:  # after the reset
        stream.sendall(cookie)
        _wait_until(lambda: "iperf-aborted" in logs.names(), "the vanished client's test was not logged as aborted")
    assert "iperf-start" not in logs.names()


def test_stop_right_after_start_ends_every_thread_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """stop() may close the listeners before the accept and UDP threads register them: they end, no traceback."""
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    for _ in range(30):  # the race needs stop() to win; over 30 rounds it does on this machine
        r = Responder(ServeConfig(host="127.0.0.1", port=0, iperf_ports=(), no_auth=True), Logs())
        r.start()
        r.stop(timeout=5)
        assert not any(t.is_alive() for t in r._threads)
    assert raised == []


# -- the command ----------------------------------------------------------------------

def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "netcheck", "serve", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def test_serve_command_logs_json_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)  # a group- or world-readable token file gets a WARNING line first
    proc = _serve("-l", "127.0.0.1", "-p", str(port), "--iperf-port", "0", "--token-file", str(token_file))
    try:
        assert proc.stderr is not None
        first = json.loads(proc.stderr.readline())
        assert first["event"] == "listening" and first["port"] == port
        assert iperf.run_client("127.0.0.1", port, seconds=1, token=TOKEN).bytes_received > 0
        # Read the rest raw (no TextIOWrapper buffer that communicate() would bypass): the server logs
        # iperf-done after the client has its results, so wait for that line before signalling.
        fd, raw, end = proc.stderr.fileno(), b"", time.monotonic() + 15
        while b'"iperf-done"' not in raw and time.monotonic() < end:
            if select.select([fd], [], [], 0.5)[0]:
                raw += os.read(fd, 65536)
        proc.send_signal(signal.SIGTERM)
        while time.monotonic() < end + 15:
            if select.select([fd], [], [], 0.5)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                raw += chunk
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    events = [json.loads(line)["event"] for line in raw.decode().splitlines() if line.strip()]
    assert "iperf-done" in events and events[-1] == "stopped"


@pytest.mark.parametrize(("args", "env", "message"), [
    ([], {}, "a shared token is required"),
    (["--token-file", "/nonexistent/token"], {}, "cannot read"),
    (["--token", "a", "--token-file", "/etc/hostname"], {}, "give the token once"),
])
def test_serve_command_bad_input(args: list[str], env: dict[str, str], message: str) -> None:
    proc = _serve("-l", "127.0.0.1", "-p", str(free_port()), "--iperf-port", "0", *args,
                  env={"NETCHECK_TOKEN": "", **env})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and message in err and "Traceback" not in err


def test_echo_data_sent_right_after_the_request_is_echoed(responder: Responder) -> None:
    with socket.create_connection(("127.0.0.1", responder.port), timeout=10) as s:
        s.sendall(b'{"v":1,"op":"echo"}\nping-1234')
        f = s.makefile("rb")
        assert json.loads(f.readline()) == {"ok": True}
        assert f.read(9) == b"ping-1234"


def test_two_requests_on_one_connection(responder: Responder) -> None:
    with socket.create_connection(("127.0.0.1", responder.port), timeout=10) as s:
        s.sendall(b'{"op":"hello"}\n{"op":"nope"}\n')
        f = s.makefile("rb")
        assert json.loads(f.readline())["ok"] is True
        assert json.loads(f.readline()) == {"ok": False, "error": "unknown op"}


def test_stop_during_a_test_tells_the_client(logs: Logs) -> None:
    r = Responder(ServeConfig(host="127.0.0.1", port=0, iperf_ports=(), token=TOKEN), logs)
    r.start()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            iperf.run_client("127.0.0.1", r.port, seconds=8, reverse=True, token=TOKEN)
        except iperf.IperfError as exc:
            errors.append(exc)

    t = threading.Thread(target=client)
    t.start()
    _wait_until(lambda: r.tests.active() > 0, "the download test never started")
    t0 = time.monotonic()
    r.stop()
    t.join(timeout=15)
    assert time.monotonic() - t0 < 8 and not t.is_alive()
    assert errors and isinstance(errors[0], iperf.IperfError)
    assert errors[0].kind in ("server-terminated", "closed")
    assert "stopped" in logs.names()


def test_netcheck_client_bidir(responder: Responder, logs: Logs) -> None:
    up, down = iperf.run_bidir("127.0.0.1", responder.port, seconds=1, streams=2, token=TOKEN)
    for r in (up, down):
        assert r.mode == "bidirectional" and r.bytes_received > 0 and r.mbps > 100 and not r.warnings, r
        assert r.retransmits is not None
    # the server logs the test after the client has its results: wait for the line
    _wait_until(lambda: any(e["event"] == "iperf-done" for e in logs.events), "the bidir test was never logged")
    done = [e for e in logs.events if e["event"] == "iperf-done"]
    assert done[-1]["bidir"] is True


@pytest.mark.parametrize("extra", [[], ["-P", "2"]])
def test_stock_iperf3_bidir_client_against_responder(responder: Responder, extra: list[str]) -> None:
    out = _iperf3("-c", "127.0.0.1", "-p", str(responder.port), "-t", "1", "-J", "--bidir", "--extra-data", TOKEN,
                  *extra)
    assert out.returncode == 0, out.stdout[-500:] + out.stderr
    end = json.loads(out.stdout)["end"]
    assert end["sum_received"]["bytes"] > 0 and end["sum_received_bidir_reverse"]["bytes"] > 0


def test_bidir_and_reverse_together_are_refused() -> None:
    from netcheck.responder.iperf import check_params

    cfg = ServeConfig(host="127.0.0.1", port=0, token=TOKEN)
    assert check_params({"tcp": True, "time": 1, "bidirectional": True}, cfg).bidir  # type: ignore[union-attr]
    refused = check_params({"tcp": True, "time": 1, "bidirectional": True, "reverse": True}, cfg)
    assert isinstance(refused, tuple) and "bidirectional" in refused[1]


def test_server_without_bidir_gets_one_direction_at_a_time(responder: Responder,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that refuses --bidir (as netcheck serve did before it had it): each check measures alone."""
    from netcheck.net import Net
    from netcheck.responder import iperf as server_side

    real = server_side.check_params

    def no_bidir(params: dict[str, object], cfg: ServeConfig) -> object:
        if "bidirectional" in params:
            return 1000, "bidirectional tests are not supported"
        return real(params, cfg)  # type: ignore[arg-type]

    monkeypatch.setattr(server_side, "check_params", no_bidir)
    _each_direction_measured_alone(responder.port, Net, "did not run a bidirectional test")


def test_a_bidir_test_that_stalls_is_measured_one_direction_at_a_time(responder: Responder) -> None:
    """A bidir test that reached the server but stalled (seen on a shallow 50 Mbit/s queue under load): each
    direction is measured alone against the real responder instead of reporting the server unreachable."""
    from netcheck.net import Net

    class Stalling(Net):  # the stall cannot be produced on demand; the sequential tests below are real
        def throughput_bidir(self, *args: object, **kwargs: object) -> tuple[iperf.IperfResult, iperf.IperfResult]:
            raise iperf.IperfError("stalled", "no TEST_END from the server while running the test")

    _each_direction_measured_alone(responder.port, Stalling, "did not complete")


def _each_direction_measured_alone(port: int, net: type, note: str) -> None:
    """Both checks of one responder (one Pair): each measured alone, PASS, the reason in modeNote."""
    from netcheck.model import Status
    from netcheck.settings import Thresholds
    from probes import bandwidth

    pair = bandwidth.Pair()
    for reverse in (False, True):
        spec = bandwidth.Spec("127.0.0.1", port, reverse, 1, 2, TOKEN, pair=pair)
        ev = bandwidth.collect(spec, net(deadline=time.monotonic() + 30))
        assert ev.result is not None and ev.result.mode == "sequential" and ev.result.reverse is reverse, ev
        assert ev.mode_note is not None and note in ev.mode_note
        out = bandwidth.evaluate(spec, ev, Thresholds(bandwidth_mbps=1))
        assert out.status is Status.PASS and note in out.evidence["modeNote"]
