"""IP-in-IP (IP protocol 4) toward a peer: is protocol 4 let through, and does the peer take it?

IP-in-IP has no port. We send an outer IPv4 packet with protocol 4 whose inner packet is an
ICMP echo request from this host to the peer itself. A peer that decapsulates (a `tunl0` up,
as Calico sets it) answers the inner echo with a plain echo reply; a peer with no IP-in-IP
endpoint answers with ICMP protocol or port unreachable, which still proves protocol 4 crossed
the path. A plain ping of the peer tells "protocol 4 is filtered" (ping answered, protocol 4
silent) from "the peer answers nothing". Needs CAP_NET_RAW (raw sockets).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from netcheck.net.icmp import inet_checksum

IpipOutcome = Literal["connected", "refused", "timeout", "unreachable"]
PAYLOAD = b"netcheck-ipip-probe"
ICMP_CODES = {0: "net-unreachable", 1: "host-unreachable", 2: "protocol-unreachable", 3: "port-unreachable",
              9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}


class RawUnavailable(Exception):
    """No raw sockets here (CAP_NET_RAW missing)."""


@dataclass(frozen=True)
class IpipProbe:
    ip: str
    outcome: IpipOutcome  # connected: decapsulated echo came back; refused: ICMP error from the peer
    reason: str
    offender: str | None = None  # who sent the ICMP error
    seconds: float = 0.0
    sent: int = 0
    received: int = 0
    peer_pings: bool | None = None  # does the peer answer a plain ping? (asked only after silence)

    def to_evidence(self) -> dict[str, Any]:
        return {"proto": "ipip", **asdict(self)}


def _echo(ident: int, seq: int) -> bytes:
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, inet_checksum(head + PAYLOAD), ident, seq) + PAYLOAD


def inner_packet(src: str, dst: str, ident: int, seq: int) -> bytes:
    """An IPv4 ICMP echo request src → dst, the payload of the outer protocol-4 packet."""
    icmp = _echo(ident, seq)
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), ident, 0, 64, 1, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    head = head[:10] + struct.pack("!H", inet_checksum(head)) + head[12:]
    return head + icmp


def _source_for(ip: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((ip, 9))
        return str(s.getsockname()[0])


def _read(icmp: socket.socket, ip: str, ident: int, until: float) -> tuple[str, str, str | None] | None:
    """('reply'|'error', detail, sender) for our probe, or None at `until`."""
    while (left := until - time.monotonic()) > 0:
        ready, _, _ = select.select([icmp], [], [], left)
        if not ready:
            return None
        data, (sender, _) = icmp.recvfrom(2048)
        ihl = (data[0] & 0x0F) * 4
        kind, code = data[ihl], data[ihl + 1]
        if kind == 0 and sender == ip and struct.unpack("!H", data[ihl + 4:ihl + 6])[0] == ident:
            return "reply", "echo reply", sender
        if kind in (3, 11) and len(data) >= ihl + 8 + 20:
            orig = data[ihl + 8:]
            if orig[9] == 4 and socket.inet_ntoa(orig[16:20]) == ip:
                what = ICMP_CODES.get(code, f"code {code}") if kind == 3 else "time-exceeded"
                return "error", what, sender
    return None


def ipip_echo(ip: str, count: int = 3, timeout: float = 3.0) -> IpipProbe:
    """Send up to `count` IP-in-IP wrapped echoes to `ip`, within `timeout` seconds in all."""
    try:
        icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        tunnel = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
    except PermissionError as exc:
        raise RawUnavailable(f"raw sockets need CAP_NET_RAW ({exc.strerror})") from None
    start = time.monotonic()
    ident = (os.getpid() ^ int(start * 1000)) & 0xFFFF
    sent = 0
    try:
        try:
            src = _source_for(ip)
        except OSError as exc:
            return IpipProbe(ip, "unreachable", f"no route ({exc.strerror})")
        per = timeout / max(1, count)
        for seq in range(1, count + 1):
            try:
                tunnel.sendto(inner_packet(src, ip, ident, seq), (ip, 0))
                sent += 1
            except OSError as exc:
                return IpipProbe(ip, "unreachable", exc.strerror or str(exc), None, time.monotonic() - start, sent)
            got = _read(icmp, ip, ident, min(start + timeout, time.monotonic() + per))
            took = time.monotonic() - start
            if got is not None and got[0] == "reply":
                return IpipProbe(ip, "connected", "decapsulated echo answered", ip, took, sent, 1)
            if got is not None:
                outcome: IpipOutcome = "refused" if got[2] == ip else "unreachable"
                return IpipProbe(ip, outcome, got[1], got[2], took, sent)
        # Silence: does the peer answer anything at all?
        ping_id = (ident + 1) & 0xFFFF
        icmp.sendto(_echo(ping_id, 1), (ip, 0))
        pings = _read(icmp, ip, ping_id, time.monotonic() + min(1.0, per)) is not None
        return IpipProbe(ip, "timeout", "no answer to IP protocol 4", None, time.monotonic() - start, sent, 0, pings)
    finally:
        icmp.close()
        tunnel.close()
