"""A whole working site behind a lossy router, for the UDP-retry tests and bench (issue 16).

node — router (nft `numgen random mod 100 < N drop`, each way) — VPC holding everything a full
run talks to: the resolver (dnsmasq answering every AWS name of the lab region), the API
server, `netcheck serve` (responder on API_IP, a CNI peer on OTHER_IP echoing UDP 8472 and
accepting TCP 4240) and an SNTP server on RESOLVER:123. Every service is up: whatever a run
finds wrong here is the loss.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netcheck.protocol import RESPONDER_PORT
from testbed import services
from testbed.delay import add_loss
from testbed.lab import NETNS_ETC, Lab
from testbed.services import API_HOST, API_IP, MAX_LIFETIME_S, OTHER_IP, REPO, RESOLVER, Site

REGION = "us-west-2"
NTP_PORT = 123

_NTP = f"""
import contextlib, sys, time
from netcheck.standins.ntp import start
with contextlib.ExitStack() as stack:
    start(stack, sys.argv[1], int(sys.argv[2]))
    end = time.monotonic() + {MAX_LIFETIME_S}
    while time.monotonic() < end:
        time.sleep(0.5)
"""


def resolver(site: Site) -> None:
    """dnsmasq on RESOLVER:53: the API name and every name under amazonaws.com / api.aws → API_IP."""
    cmd = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
           "--bind-interfaces", f"--listen-address={RESOLVER}", "--port=53", "--pid-file", "--user=root",
           "--cache-size=0", f"--host-record={API_HOST},{API_IP}",
           f"--address=/amazonaws.com/{API_IP}", f"--address=/api.aws/{API_IP}"]
    proc = site.lab.popen(site.vpc, cmd, stderr=subprocess.PIPE)
    services._ready(site.lab, site.vpc, proc, RESOLVER, 53, "udp")


def ntp_server(site: Site, ip: str = RESOLVER, port: int = NTP_PORT) -> None:
    """The SNTP stand-in (netcheck.standins.ntp) on ip:port in the VPC."""
    proc = services._python(site.lab, site.vpc, _NTP, ip, str(port))
    services._ready(site.lab, site.vpc, proc, ip, port, "udp")


def cni_peer(site: Site, ip: str = OTHER_IP) -> None:
    """`netcheck serve` on ip:RESPONDER_PORT with the cilium ports: UDP 8472 echo and TCP 4240."""
    proc = site.lab.popen(site.vpc, [sys.executable, "-m", "netcheck", "serve", "--listen", ip, "--port", str(RESPONDER_PORT),
                                     "--iperf-port", "0", "--extra-udp", "8472", "--extra-tcp", "4240",
                                     "--no-auth"], cwd=str(REPO), stderr=subprocess.PIPE)
    services._ready(site.lab, site.vpc, proc, ip, RESPONDER_PORT)
    services._ready(site.lab, site.vpc, proc, ip, 8472, "udp")


def node_resolv_conf(site: Site, options: str = "") -> None:
    """The node's /etc/resolv.conf (bind-mounted by `ip netns exec`): RESOLVER, and `options` if given."""
    text = f"nameserver {RESOLVER}\n" + (f"options {options}\n" if options else "")
    (NETNS_ETC / site.node.name / "resolv.conf").write_text(text)


def build(lab: Lab, workdir: Path, loss_pct: int = 5, resolv_options: str = "") -> tuple[Site, Path]:
    """The working site with `loss_pct` % random loss each way on the router; (site, profile path).

    The node's resolv.conf has no options line unless `resolv_options` gives one: glibc's defaults.
    """
    site = Site.build(lab, workdir)
    node_resolv_conf(site, resolv_options)
    resolver(site)
    site.api_server()
    lab.run(site.node, ["ip", "route", "add", "10.20.0.0/16", "via", "192.168.50.1"])
    lab.sysctl(site.node, "net.ipv4.ip_forward", "1")
    site.responder()
    cni_peer(site)
    ntp_server(site)
    if loss_pct:
        add_loss(lab, site.router, loss_pct)
    profile = site.profile(cluster={"name": "lab", "region": REGION, "endpoint": f"https://{API_HOST}",
                                    "certificateAuthority": site.ca.b64, "serviceCidr": "172.20.0.0/16",
                                    "endpointAccess": "private", "controlPlaneIps": [API_IP]},
                           credentials="ssm", responder=f"{API_IP}:{RESPONDER_PORT}", peers=[OTHER_IP],
                           ntp={"servers": [f"{RESOLVER}:{NTP_PORT}"]},
                           bandwidth={"server": f"{API_IP}:{RESPONDER_PORT}", "seconds": 2}, dns={})
    return site, profile
