"""Hypothesis fuzz of the responder's JSON control protocol and the iperf3 parameter exchange.

One responder for the whole module on loopback; each example opens a connection, sends
what hypothesis made, reads whatever comes back (bounded) and closes. Afterwards: no
internal error was logged, and the responder still answers hello and runs a real test.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcheck import protocol as proto
from netcheck.net import iperf
from netcheck.net import iperfwire as wire
from netcheck.responder import Responder, ServeConfig
from tests.test_responder import TOKEN, Logs, request

LOGS = Logs()
OPS = st.sampled_from(["hello", "echo", "connect-back", "nope", "", "HELLO"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                             max_size=4), max_leaves=12)
PARAM_KEYS = ["tcp", "udp", "sctp", "omit", "time", "num", "blockcount", "parallel", "reverse", "bidirectional",
              "len", "pacing_timer", "client_version", "extra_data", "window", "MSS", "nodelay", "title"]


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Responder]:
    # connect-back dials only the requester (127.0.0.1) with a short timeout; rates high enough for the fuzzer
    r = Responder(ServeConfig(host="127.0.0.1", port=0, iperf_ports=(), token=TOKEN, max_test_seconds=2,
                              handshake_timeout=1.0, idle_timeout=0.5, requests_per_second=10000,
                              connect_back_max_timeout=0.2, max_tests=2), LOGS)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def _exchange(port: int, data: bytes, read: int = 4096) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        with contextlib.suppress(OSError):
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        out = b""
        with contextlib.suppress(OSError):
            while len(out) < read:
                chunk = s.recv(read)
                if not chunk:
                    break
                out += chunk
        return out


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


control_lines = st.one_of(
    st.builds(lambda op, extra: _dump({"v": 1, "op": op, **extra}) + b"\n", OPS,
              st.dictionaries(st.sampled_from(["v", "token", "port", "timeout", "address", "x"]), VALUES, max_size=4)),
    st.builds(lambda b: b"{" + b, st.binary(max_size=300)),
    st.builds(lambda d: b'{"op":"hello","n":' + b"[" * d + b"\n", st.integers(min_value=0, max_value=4000)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(line=control_lines, more=st.lists(control_lines, max_size=2))
def test_fuzz_control_protocol(fuzzed: Responder, line: bytes, more: list[bytes]) -> None:
    out = _exchange(fuzzed.port, line + b"".join(more))
    first = out.split(b"\n", 1)[0]
    if first:
        assert isinstance(json.loads(first), dict)  # every answer is one JSON object per line


param_objects = st.dictionaries(st.sampled_from(PARAM_KEYS), VALUES, max_size=8).map(
    lambda d: {**d, "extra_data": TOKEN} if d.get("extra_data") == 0 else d)
param_bodies = st.one_of(
    st.builds(_dump, param_objects),
    st.builds(lambda d: _dump({"tcp": True, "extra_data": TOKEN, **d}), param_objects),
    st.binary(max_size=200),
    st.builds(lambda d: b"[" * d, st.integers(min_value=1, max_value=9000)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=param_bodies, declared=st.one_of(st.none(), st.integers(min_value=0, max_value=2**32 - 1)))
def test_fuzz_iperf_parameter_exchange(fuzzed: Responder, body: bytes, declared: int | None) -> None:
    length = len(body) if declared is None else declared
    out = _exchange(fuzzed.port, wire.make_cookie() + struct.pack("!I", length) + body, read=16)
    assert out[:1] == bytes([proto.PARAM_EXCHANGE])
    if len(out) > 1:  # refused with SERVER_ERROR, told busy, or asked for streams that never come
        assert struct.unpack("b", out[1:2])[0] in (proto.SERVER_ERROR, proto.ACCESS_DENIED, proto.CREATE_STREAMS)


def test_responder_still_serves_after_the_fuzz(fuzzed: Responder) -> None:
    assert request(fuzzed.port, {"op": "hello"})["ok"] is True
    res = None
    for _ in range(20):  # a fuzzed test may still hold this source's slot for a moment
        try:
            res = iperf.run_client("127.0.0.1", fuzzed.port, seconds=1, token=TOKEN, busy_retries=0)
            break
        except iperf.ServerBusy:
            import time

            time.sleep(0.5)
    assert res is not None and res.bytes_received > 0
    errors = [e for e in LOGS.events if e["level"] == "error"]
    assert not errors, errors[:3]
