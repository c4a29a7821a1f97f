"""A Lab builds namespaces and links for one test and tears everything down, even on failure.

Names carry a prefix plus the pid and a counter, so two runs never collide. Every
process started in the lab is ended by its PID at teardown.

    with Lab() as lab:
        node, router, vpc = lab.hybrid()        # the standard three-namespace path
        lab.nft(router, "table inet f {\n chain forward {\n type filter hook forward priority 0;\n tcp dport 443 drop\n }\n}\n")
        lab.run(node, ["ping", "-c1", vpc.ip])
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

_COUNTER = itertools.count()
NETNS_ETC = Path("/etc/netns")


@dataclass
class NS:
    """One namespace: its name and the addresses the lab gave it."""

    name: str
    ip: str = ""  # the main address (first assigned)
    addrs: dict[str, str] = field(default_factory=dict)  # ifname → address/prefix


@dataclass
class WanPath:
    """Lab.wan_path(): the node, an optional LAN router, the site edge, the WAN end and the VPC."""

    node: NS
    lan: NS | None
    edge: NS
    wan: NS
    vpc: NS

    def iface_from(self, router: NS, peer_prefix: str) -> str:
        """The router's interface whose address starts with `peer_prefix` (e.g. '169.254.')."""
        return next(i for i, a in router.addrs.items() if a.startswith(peer_prefix))


def sh(cmd: Sequence[str], check: bool = True, timeout: float = 30, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), check=check, text=True, capture_output=True, timeout=timeout, **kw)  # type: ignore[call-overload, no-any-return]


class Lab:
    """Namespaces, links and processes for one test; `close()` removes all of them."""

    def __init__(self, prefix: str = "nc") -> None:
        self.tag = f"{prefix}{os.getpid()}x{next(_COUNTER)}"
        self.namespaces: list[NS] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self._etc_dirs: list[Path] = []
        self._veth = itertools.count()

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> Lab:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    p.terminate()
        deadline = time.monotonic() + 3
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=2)
        self.procs.clear()
        for ns in reversed(self.namespaces):
            sh(["ip", "netns", "del", ns.name], check=False)
        self.namespaces.clear()
        for d in self._etc_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._etc_dirs.clear()

    # -- building -------------------------------------------------------------------------
    def ns(self, role: str) -> NS:
        """A new namespace with loopback up, forwarding off, ICMP sockets allowed for all."""
        ns = NS(f"{self.tag}{role}")
        sh(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        self.run(ns, ["ip", "link", "set", "lo", "up"])
        self.sysctl(ns, "net.ipv4.ping_group_range", "0 2147483647")
        return ns

    def link(self, a: NS, a_addr: str, b: NS, b_addr: str, mtu: int = 1500) -> tuple[str, str]:
        """A veth pair between a and b with the given address/prefix on each end; returns the ifnames."""
        n = next(self._veth)
        ia, ib = f"v{n}{a.name[-3:]}"[-15:], f"v{n}{b.name[-3:]}p"[-15:]
        tmp_a, tmp_b = f"t{self.tag[-8:]}a{n}"[-15:], f"t{self.tag[-8:]}b{n}"[-15:]
        sh(["ip", "link", "add", tmp_a, "mtu", str(mtu), "type", "veth", "peer", "name", tmp_b, "mtu", str(mtu)])
        sh(["ip", "link", "set", tmp_a, "netns", a.name])
        sh(["ip", "link", "set", tmp_b, "netns", b.name])
        for ns, tmp, name, addr in ((a, tmp_a, ia, a_addr), (b, tmp_b, ib, b_addr)):
            self.run(ns, ["ip", "link", "set", tmp, "name", name])
            if addr:
                self.run(ns, ["ip", "addr", "add", addr, "dev", name])
                ns.addrs[name] = addr
                if not ns.ip:
                    ns.ip = addr.split("/")[0]
            self.run(ns, ["ip", "link", "set", name, "up"])
        return ia, ib

    def hybrid(self, mtu: int = 1500) -> tuple[NS, NS, NS]:
        """node 192.168.50.10/24 — router (192.168.50.1 | 10.20.0.1) — vpc 10.20.1.10/16.

        The VPC namespace also holds 10.20.1.11 and 10.20.1.12 for extra endpoints; both
        sides route everything through the router, which forwards.
        """
        node, router, vpc = self.ns("node"), self.ns("rtr"), self.ns("vpc")
        self.link(node, "192.168.50.10/24", router, "192.168.50.1/24", mtu)
        _, vif = self.link(router, "10.20.0.1/16", vpc, "10.20.1.10/16", mtu)
        self.run(vpc, ["ip", "addr", "add", "10.20.1.11/16", "dev", vif])
        self.run(vpc, ["ip", "addr", "add", "10.20.1.12/16", "dev", vif])
        self.sysctl(router, "net.ipv4.ip_forward", "1")
        self.run(node, ["ip", "route", "add", "default", "via", "192.168.50.1"])
        self.run(vpc, ["ip", "route", "add", "default", "via", "10.20.0.1"])
        return node, router, vpc

    def wan_path(self, lan_router: bool = False) -> WanPath:
        """A site behind two routers, the site edge and the WAN (VPN/DX) end, in front of the VPC.

            node 192.168.50.10/24 — [lan 192.168.50.1 | 192.168.60.1/24 —]
            edge 192.168.x.1/2 | 169.254.100.1/30 — wan 169.254.100.2 | 10.20.0.1/16 — vpc 10.20.1.10/16

        The link between edge and wan is a tunnel's inside network (169.254.100.0/30, as AWS
        VPN tunnels use); the VPC also holds 10.20.1.11 and .12. With `lan_router` an
        on-prem core router sits between the node and the edge, so the LAN has two hops.
        Delay or loss on a router's forwarding shows up on the link *after* that router.
        """
        node, vpc = self.ns("node"), self.ns("vpc")
        lan = self.ns("lan") if lan_router else None
        edge, wan = self.ns("edge"), self.ns("wan")
        if lan is not None:
            self.link(node, "192.168.50.10/24", lan, "192.168.50.1/24")
            self.link(lan, "192.168.60.1/24", edge, "192.168.60.2/24")
            self.run(lan, ["ip", "route", "add", "default", "via", "192.168.60.2"])
            self.run(edge, ["ip", "route", "add", "192.168.50.0/24", "via", "192.168.60.1"])
        else:
            self.link(node, "192.168.50.10/24", edge, "192.168.50.1/24")
        self.link(edge, "169.254.100.1/30", wan, "169.254.100.2/30")
        _, vif = self.link(wan, "10.20.0.1/16", vpc, "10.20.1.10/16")
        self.run(vpc, ["ip", "addr", "add", "10.20.1.11/16", "dev", vif])
        self.run(vpc, ["ip", "addr", "add", "10.20.1.12/16", "dev", vif])
        for r in (x for x in (lan, edge, wan) if x is not None):
            self.sysctl(r, "net.ipv4.ip_forward", "1")
        self.run(edge, ["ip", "route", "add", "10.20.0.0/16", "via", "169.254.100.2"])
        self.run(wan, ["ip", "route", "add", "default", "via", "169.254.100.1"])
        self.run(node, ["ip", "route", "add", "default", "via", "192.168.50.1"])
        self.run(vpc, ["ip", "route", "add", "default", "via", "10.20.0.1"])
        return WanPath(node, lan, edge, wan, vpc)

    # -- running --------------------------------------------------------------------------
    def run(self, ns: NS, cmd: Sequence[str], check: bool = True, timeout: float = 30,
            **kw: object) -> subprocess.CompletedProcess[str]:
        return sh(["ip", "netns", "exec", ns.name, *cmd], check=check, timeout=timeout, **kw)

    def popen(self, ns: NS, cmd: Sequence[str], **kw: object) -> subprocess.Popen[bytes]:
        """Start a process in `ns`, in its own process group; ended by PID at close()."""
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", ns.name, *cmd], start_new_session=True, **kw)  # type: ignore[call-overload]
        self.procs.append(p)
        return p  # type: ignore[no-any-return]

    def sysctl(self, ns: NS, key: str, value: str) -> None:
        self.run(ns, ["sysctl", "-q", "-w", f"{key}={value}"])

    def nft(self, ns: NS, ruleset: str) -> None:
        """Load an nftables ruleset into `ns` (nft -f -)."""
        self.run(ns, ["nft", "-f", "-"], input=ruleset)

    def resolv(self, ns: NS, servers: Sequence[str]) -> None:
        """Per-namespace /etc/resolv.conf, applied by `ip netns exec` (not by setns)."""
        d = NETNS_ETC / ns.name
        d.mkdir(parents=True, exist_ok=True)
        self._etc_dirs.append(d)
        (d / "resolv.conf").write_text("".join(f"nameserver {s}\n" for s in servers) + "options timeout:1 attempts:1\n")

    def wait_port(self, ns: NS, ip: str, port: int, proto: str = "tcp", timeout: float = 5) -> None:
        """Wait until something listens on ip:port inside ns (ss), or raise."""
        flag = "-ltnH" if proto == "tcp" else "-lunH"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = self.run(ns, ["ss", flag], check=False).stdout
            if f"{ip}:{port} " in out or f"*:{port} " in out or f"0.0.0.0:{port} " in out:
                return
            time.sleep(0.05)
        raise TimeoutError(f"nothing listens on {ip}:{port}/{proto} in {ns.name}")
