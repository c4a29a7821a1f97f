"""A delay line without netem: a TUN device in the router namespace that holds each packet D ms.

Policy routing on the router sends everything that arrives on the chosen interfaces into
the TUN device; the forwarder reads each packet and writes it back D ms later, when it
is routed normally (it now arrives on the TUN device, so the rule no longer matches).
Every protocol sees the delay. Two threads, a bounded queue, a clean stop.

The device takes TCP segmentation offload (IFF_VNET_HDR + TUNSETOFFLOAD): a TCP sender's
64 KiB GSO packets cross veth whole, so the forwarder handles one read and one write per
~44 segments and the virtio-net header goes back out unchanged. Without it this Python
line carried about 700 Mbit/s of upload with thousands of drops at its 500-packet queue;
with it, 1.13 Gbit/s at 50 ms with no retransmit (the 4 MiB tcp_wmem of two streams is
then the limit, as it is for iperf3).

    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        add_delay(lab, router, 50)            # node → VPC packets wait 50 ms

Run standalone (what add_delay starts inside the router namespace):
    python -m testbed.delay --dev dly0 --ms 50

Also here, for the path-quality tests: random loss, an MTU-limited hop, a PMTU black
hole, `serve_echo` (the real responder: TCP accept, UDP echo modes 0/1) and `in_netns`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import os
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from netcheck.protocol import RESPONDER_PORT
from testbed.lab import NS, Lab

TUNSETIFF, TUNSETOFFLOAD = 0x400454CA, 0x400454D0
IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x0001, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
READ_SIZE = 1 << 18  # a virtio-net header plus one GSO packet (up to 64 KiB, more with BIG TCP)
MAX_QUEUED = 20000  # packets held at once; more are dropped (and counted)
TABLE = 100
REPO = Path(__file__).resolve().parents[1]


class DelayLine:
    """Reads packets from a TUN device and writes each back `delay_ms` later, in order."""

    def __init__(self, dev: str, delay_ms: float, max_queued: int = MAX_QUEUED) -> None:
        self.dev, self.delay = dev, delay_ms / 1000.0
        self.max_queued = max_queued
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.dropped = self.forwarded = 0
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
        fcntl.ioctl(self.fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
        self.threads = [threading.Thread(target=self._reader, name="delay-reader", daemon=True),
                        threading.Thread(target=self._writer, name="delay-writer", daemon=True)]

    def start(self) -> DelayLine:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
        for t in self.threads:
            t.join(timeout=2)
        os.close(self.fd)

    def _reader(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self.stopping.is_set():
            if not poller.poll(100):
                continue
            try:
                pkt = os.read(self.fd, READ_SIZE)
            except OSError:
                continue
            due = time.monotonic() + self.delay
            with self.cond:
                if len(self.queue) >= self.max_queued:
                    self.dropped += 1
                    continue
                self.queue.append((due, pkt))
                self.cond.notify()

    def _writer(self) -> None:
        while not self.stopping.is_set():
            with self.cond:
                if not self.queue:
                    self.cond.wait(0.1)
                    continue
                due, pkt = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.cond.wait(wait)
                    continue
                self.queue.popleft()
            try:
                os.write(self.fd, pkt)
                self.forwarded += 1
            except OSError:
                self.dropped += 1


def add_delay(lab: Lab, router: NS, delay_ms: float, in_ifaces: tuple[str, ...] = (),
              dev: str = "dly0", timeout: float = 5.0) -> None:
    """Delay every packet the router receives on `in_ifaces` (default: its node-side link) by delay_ms.

    The forwarder runs as a process in the router namespace, ended by the lab at close().
    """
    if not in_ifaces:
        in_ifaces = tuple(i for i, a in router.addrs.items() if a.startswith("192.168.50."))
    lab.run(router, ["ip", "tuntap", "add", "dev", dev, "mode", "tun"])
    lab.run(router, ["ip", "link", "set", dev, "up"])
    for key in ("all", "default", dev, *in_ifaces):
        lab.sysctl(router, f"net.ipv4.conf.{key}.rp_filter", "0")
    lab.run(router, ["ip", "route", "add", "default", "dev", dev, "table", str(TABLE)])
    for i, ifname in enumerate(in_ifaces):
        lab.run(router, ["ip", "rule", "add", "iif", ifname, "lookup", str(TABLE), "priority", str(100 + i)])
    lab.popen(router, [sys.executable, "-m", "testbed.delay", "--dev", dev, "--ms", str(delay_ms)],
              cwd=str(REPO))
    end = time.monotonic() + timeout
    while time.monotonic() < end:  # carrier comes up once the forwarder has attached
        out = lab.run(router, ["ip", "-o", "link", "show", "dev", dev], check=False).stdout
        if "NO-CARRIER" not in out and "LOWER_UP" in out:
            return
        time.sleep(0.05)
    raise TimeoutError(f"delay line on {dev} in {router.name} did not start within {timeout:g} s")


def add_loss(lab: Lab, router: NS, pct: int) -> None:
    """Drop pct % of forwarded packets at random, in each direction (nft numgen)."""
    lab.nft(router, "table inet loss {\n chain filt {\n type filter hook forward priority 0;\n"
                    f" numgen random mod 100 < {int(pct)} drop\n }}\n}}\n")


def vpc_side(router: NS) -> str:
    """The router's interface toward the VPC (10.20.0.0/16) in a Lab.hybrid() path."""
    return next(i for i, a in router.addrs.items() if a.startswith("10.20."))


def limit_mtu(lab: Lab, router: NS, mtu: int) -> None:
    """The router forwards at most `mtu` bytes toward the VPC (route `mtu lock`), answering ICMP 3/4."""
    lab.run(router, ["ip", "route", "replace", "10.20.0.0/16", "dev", vpc_side(router), "src", "10.20.0.1",
                     "mtu", "lock", str(mtu)])


def block_frag_needed(lab: Lab, router: NS) -> None:
    """Make the router a PMTU black hole: drop the ICMP 3/4 it generates (output hook)."""
    lab.nft(router, "table inet pmtu {\n chain out {\n type filter hook output priority 0;\n"
                    " icmp type destination-unreachable icmp code frag-needed drop\n }\n}\n")


def flush_pmtu(lab: Lab, *namespaces: NS) -> None:
    """Forget cached PMTU exceptions (they last 600 s per namespace)."""
    for ns in namespaces:
        lab.run(ns, ["ip", "route", "flush", "cache"])


def serve_echo(lab: Lab, ns: NS, tcp_ports: tuple[int, ...] = (443,), udp_port: int | None = RESPONDER_PORT) -> None:
    """The real responder (`netcheck serve --no-auth`) in `ns`: TCP on `tcp_ports`, UDP echo on `udp_port`.

    With udp_port None nothing answers UDP on the responder port (it listens on an ephemeral one).
    """
    args = [sys.executable, "-m", "netcheck", "serve", "--no-auth", "--listen", "0.0.0.0", "--iperf-port", "0",
            "--port", str(udp_port or 0)]
    for p in tcp_ports:
        args += ["--extra-tcp", str(p)]
    lab.popen(ns, args, cwd=str(REPO))
    for p in tcp_ports:
        lab.wait_port(ns, "0.0.0.0", p)
    if udp_port:
        lab.wait_port(ns, "0.0.0.0", udp_port, "udp")


# nobody/nogroup with no capability but CAP_DAC_READ_SEARCH, which only lets it read this
# Python install (under /root here); no CAP_NET_RAW, so the network sees an ordinary user.
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


@contextlib.contextmanager
def in_netns(ns: NS) -> Iterator[None]:
    """Run the body's socket calls inside `ns` (setns for this thread; restored afterwards)."""
    from pyroute2 import netns

    netns.pushns(ns.name)
    try:
        yield
    finally:
        netns.popns()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TUN delay line (run inside a lab namespace)")
    parser.add_argument("--dev", default="dly0")
    parser.add_argument("--ms", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=3600, help="stop by itself after this long")
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    line = DelayLine(args.dev, args.ms).start()
    done.wait(args.seconds)
    line.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
