"""The responder under abuse (issue 12), on loopback: the figures the tests only bound.

1. Bytes one unauthenticated source gets echoed per minute (TCP echo sessions back to back,
   plus UDP mode-0 echo of 8 KB datagrams), against `netcheck serve` with default limits.
2. Time a legitimate client waits under a 300-connection slowloris from 300 other sources
   (127.5.0.N, one byte every 2 s): hello, and a whole 1 s bandwidth test.
3. Responder RSS before, while holding, and after 2,000 connections (20 per source).
4. (issue 24) A legitimate TCP echo session (40 probes, one every 0.2 s) while 300 sources churn
   unauthenticated connections against `--max-clients 100`: probes echoed.
5. (issue 24) The responder under `prlimit --as` so that threads run out before --max-clients:
   300 silent connections from 300 sources, then 4 legitimate hellos: how many are answered.
6. (issue 24) A phantom waiter (told "retry after N s", never back): how long a freed test slot
   stays idle before a newcomer gets it (the slot table itself, timed).

    python bench/bench_responder_abuse.py [--minutes 1]

Everything runs on 127.0.0.0/8; the server is started and ended by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netcheck.net import iperf  # noqa: E402
from netcheck.protocol import echo_request  # noqa: E402
from testbed import free_port  # noqa: E402

TOKEN = "bench-abuse-token"



def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def serve(*extra: str, prefix: tuple[str, ...] = ()) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "netcheck", "serve", "-l", "127.0.0.1", "-p", str(port),
                             "--iperf-port", "0", "--token", TOKEN, *extra], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stderr is not None
    for _ in range(5):
        if json.loads(proc.stderr.readline())["event"] == "listening":
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining the log
    return proc, port


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def hello(port: int, source: str) -> float:
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as s:
        s.sendall(b'{"op":"hello"}\n')
        assert json.loads(s.makefile("rb").readline())["ok"]
    return time.monotonic() - t0


def echo_flood(port: int, source: str, seconds: float) -> dict[str, float]:
    tcp = udp = sessions = refused = 0
    end = time.monotonic() + seconds
    payload = os.urandom(16384)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind((source, 0))
        u.settimeout(0.01)
        dgram = echo_request(0, 1, payload=os.urandom(8000))
        while time.monotonic() < end:
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(source, 0)) as s:
                s.sendall(b'{"op":"echo"}\n')
                f = s.makefile("rb")
                if not json.loads(f.readline()).get("ok"):
                    refused += 1
                    time.sleep(0.05)
                else:
                    sessions += 1
                    stop_at = min(end, time.monotonic() + 1.0)
                    def push(sock: socket.socket = s, until: float = stop_at) -> None:
                        with contextlib.suppress(OSError):
                            while time.monotonic() < until:
                                sock.sendall(payload)
                    threading.Thread(target=push, daemon=True).start()
                    s.settimeout(0.2)
                    while time.monotonic() < stop_at:
                        try:
                            chunk = s.recv(65536)
                        except TimeoutError:
                            continue
                        if not chunk:
                            break
                        tcp += len(chunk)
            for _ in range(20):
                u.sendto(dgram, ("127.0.0.1", port))
            with contextlib.suppress(OSError):
                while True:
                    udp += len(u.recv(65536))
    return {"tcp_bytes": tcp, "udp_bytes": udp, "total_bytes": tcp + udp, "echo_sessions": sessions,
            "echo_refused": refused}


def hold(port: int, n: int, per_source: int, prefix: str, send: bytes = b"{") -> list[socket.socket]:
    socks = []
    for i in range(n):
        src = f"{prefix}.{i // per_source // 250}.{i // per_source % 250 + 1}"
        with contextlib.suppress(OSError):
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
            if send:
                s.sendall(send)
            socks.append(s)
    return socks


def slowloris(extra: tuple[str, ...]) -> dict[str, Any]:
    proc, port = serve(*extra)
    stop_drip = threading.Event()
    socks: list[socket.socket] = []
    try:
        socks = hold(port, 300, 1, "127.5")

        def drip() -> None:
            while not stop_drip.wait(2.0):
                for s in socks:
                    with contextlib.suppress(OSError):
                        s.send(b" ")

        threading.Thread(target=drip, daemon=True).start()
        time.sleep(1.0)
        h = [hello(port, "127.0.0.2") for _ in range(5)]
        t0 = time.monotonic()
        res = iperf.run_client("127.0.0.1", port, seconds=1, token=TOKEN, busy_retries=0)
        test_wait = time.monotonic() - t0 - res.seconds
        alive = 0
        for s in socks:
            with contextlib.suppress(OSError):
                s.settimeout(0)
                try:
                    alive += s.recv(1) != b""
                except BlockingIOError:
                    alive += 1
    finally:
        stop_drip.set()
        for s in socks:
            s.close()
        stop(proc)
    return {"server": " ".join(extra) or "defaults", "hello_max_s": round(max(h), 3),
            "test_setup_wait_s": round(test_wait, 3), "mbps": round(res.mbps, 1), "slowloris_still_open": alive}


def rss(n: int = 2000) -> dict[str, Any]:
    proc, port = serve()
    try:
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        socks = hold(port, n, 20, "127.6", send=b"")
        time.sleep(1.0)
        during = rss_kib(proc.pid)
        held = len(socks)
        for s in socks:
            s.close()
        time.sleep(6.0)  # handshake timeout (5 s) lets every thread finish
        for _ in range(3):
            hello(port, "127.0.0.3")
        after = rss_kib(proc.pid)
    finally:
        stop(proc)
    return {"connections": held, "rss_before_mib": round(before / 1024, 1), "rss_holding_mib": round(during / 1024, 1),
            "rss_after_mib": round(after / 1024, 1)}


def churn(max_clients: int = 100, sources: int = 300, probes: int = 40) -> dict[str, Any]:
    """Issue 24: a legitimate echo session while `sources` churn unauthenticated connections."""
    proc, port = serve("--max-clients", str(max_clients))
    done = threading.Event()

    def churner(i: int) -> None:
        src = f"127.7.{i // 250}.{i % 250 + 1}"
        while not done.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(src, 0)) as s:
                    s.sendall(b'{"op":')  # never a whole request
                    done.wait(0.3)
            except OSError:
                done.wait(0.05)

    workers = [threading.Thread(target=churner, args=(i,), daemon=True) for i in range(sources)]
    echoed = 0
    try:
        for w in workers:
            w.start()
        time.sleep(1.0)
        with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0)) as s:
            s.sendall(b'{"op":"echo"}\n')
            f = s.makefile("rb")
            if json.loads(f.readline()).get("ok"):
                for i in range(probes):
                    probe = f"probe-{i:04d}".encode()
                    try:
                        s.sendall(probe)
                        if f.read(len(probe)) != probe:
                            break
                    except OSError:
                        break
                    echoed += 1
                    time.sleep(0.2)
    finally:
        done.set()
        stop(proc)
    return {"echoed": echoed, "probes": probes, "max_clients": max_clients}


def thread_limit(address_space: str = "700000000", conns: int = 300, hellos: int = 4) -> dict[str, Any]:
    """Issue 24: threads run out before --max-clients (RLIMIT_AS); do legitimate hellos still get in?"""
    proc, port = serve("--max-clients", "1000", prefix=("prlimit", f"--as={address_space}", "--"))
    socks: list[socket.socket] = []
    answered, worst = 0, 0.0
    try:
        socks = hold(port, conns, 1, "127.8", send=b"")
        time.sleep(1.0)
        for i in range(hellos):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10,
                                              source_address=(f"127.0.0.{10 + i}", 0)) as s:
                    t0 = time.monotonic()
                    s.settimeout(10)
                    s.sendall(b'{"op":"hello"}\n')
                    if json.loads(s.makefile("rb").readline()).get("ok"):
                        answered += 1
                    worst = max(worst, time.monotonic() - t0)
            except (OSError, ValueError):
                worst = max(worst, 10.0)
    finally:
        for s in socks:
            s.close()
        stop(proc)
    return {"answered": answered, "hellos": hellos, "held": len(socks), "worst_s": round(worst, 3),
            "address_space": address_space}


def phantom(test_seconds: float = 1.0) -> dict[str, Any]:
    """Issue 24: a freed slot, a phantom waiter due now that never comes: time until a newcomer gets it."""
    from netcheck.responder.limits import BwTest, SlotTable

    table = SlotTable(1)
    first = table.acquire(b"a" * 37, "127.0.3.1", test_seconds)
    assert isinstance(first, BwTest)
    told = table.acquire(b"b" * 37, "127.0.3.2", test_seconds)  # the phantom: told to retry, never back
    assert not isinstance(told, BwTest)
    time.sleep(max(0.0, told.retry_after - 0.9))  # the phantom is due now
    table.release(first)
    t0 = time.monotonic()
    while not isinstance(table.acquire(b"c" * 37, "127.0.3.3", test_seconds), BwTest):
        if time.monotonic() - t0 > 30:
            break
        time.sleep(0.02)
    return {"idle_s": round(time.monotonic() - t0, 2), "retry_after": told.retry_after}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    a = ap.parse_args(argv)
    if not 0 < a.minutes <= 10:
        ap.error("--minutes must be in (0, 10]")
    proc, port = serve()
    try:
        t0 = time.monotonic()
        flood = echo_flood(port, "127.0.2.1", a.minutes * 60)
        flood["seconds"] = round(time.monotonic() - t0, 1)
    finally:
        stop(proc)
    print(f"unauthenticated echo, one source, {flood['seconds']} s: {flood['total_bytes']:,} bytes "
          f"({flood['total_bytes'] / a.minutes / 2**20:.2f} MiB per minute; TCP {flood['tcp_bytes']:,}, "
          f"UDP {flood['udp_bytes']:,}; {flood['echo_sessions']} echo sessions, {flood['echo_refused']} refused)")
    for extra in ((), ("--max-clients", "100")):
        s = slowloris(extra)
        print(f"slowloris 300 conns/300 sources, server {s['server']}: hello max {s['hello_max_s']} s, "
              f"bandwidth test set-up wait {s['test_setup_wait_s']} s ({s['mbps']} Mbit/s), "
              f"slowloris connections still open {s['slowloris_still_open']}")
    r = rss()
    print(f"RSS with {r['connections']} connections: before {r['rss_before_mib']} MiB, holding "
          f"{r['rss_holding_mib']} MiB, after {r['rss_after_mib']} MiB")
    c = churn()
    print(f"echo session under churn (300 sources, --max-clients {c['max_clients']}): {c['echoed']} of "
          f"{c['probes']} probes echoed")
    t = thread_limit()
    print(f"threads exhausted first (prlimit --as={t['address_space']}, {t['held']} silent connections held): "
          f"{t['answered']} of {t['hellos']} hellos answered, slowest {t['worst_s']} s")
    ph = phantom()
    print(f"phantom waiter (told retry after {ph['retry_after']} s, never back): freed slot idle {ph['idle_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
