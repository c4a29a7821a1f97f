"""Peers for a Lab namespace: dnsmasq, the DNS and TLS stand-ins (`python -m netcheck.standins`), a TCP listener.

Each helper starts a process inside a namespace with `lab.popen` (so the Lab ends it by
PID at teardown) and waits until it listens. Certificates come from `make_ca`/`issue`
(cryptography), so a test can hand the server a CA other than the cluster's. `Site` puts
them together: the hybrid path with an EKS-like API endpoint, for tests and bench/.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from netcheck.protocol import RESPONDER_PORT
from netcheck.standins import tls as tls_standin
from testbed.lab import NS, Lab

REPO = Path(__file__).resolve().parents[1]
MAX_LIFETIME_S = 600  # every helper process ends on its own after this, even if teardown is skipped


# --- certificates -------------------------------------------------------------------------

@dataclass(frozen=True)
class CA:
    """A self-signed CA: its name (the issuer a TLS check should report), cert and key."""

    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def b64(self) -> str:
        """The form kubeconfig and NodeConfig carry (certificateAuthority: base64 of the PEM)."""
        return base64.b64encode(self.pem.encode()).decode()


def make_ca(name: str) -> CA:
    """A fresh CA (the stand-ins' generator), named so a TLS check can report it as the issuer."""
    authority = tls_standin.make_ca(name, name)
    return CA(name, authority.cert, authority.key)


def issue(ca: CA, names: Sequence[str], ips: Sequence[str] = ()) -> tuple[str, str]:
    """(cert PEM, key PEM) of a server certificate for `names` and `ips`, signed by `ca`."""
    cert, key = tls_standin.issue(tls_standin.Authority(ca.cert, ca.key), [*names, *ips])
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


# --- processes ----------------------------------------------------------------------------

def _python(lab: Lab, ns: NS, code: str, *args: str) -> subprocess.Popen[bytes]:
    """`python -c code args...` inside ns, importing this checkout; stderr kept for failures."""
    return lab.popen(ns, [sys.executable, "-c", code, *args], cwd=str(REPO), stderr=subprocess.PIPE)


def _standin(lab: Lab, ns: NS, kind: str, *args: str) -> subprocess.Popen[bytes]:
    """`python -m netcheck.standins KIND args...` inside ns (the real stand-in, not a copy of it)."""
    return lab.popen(ns, [sys.executable, "-m", "netcheck.standins", kind, *args, "--seconds", str(MAX_LIFETIME_S)],
                     cwd=str(REPO), stderr=subprocess.PIPE)


def _ready(lab: Lab, ns: NS, proc: subprocess.Popen[bytes], ip: str, port: int, proto: str = "tcp") -> None:
    try:
        lab.wait_port(ns, ip, port, proto, timeout=10)
    except TimeoutError:
        err = b""
        if proc.poll() is not None and proc.stderr is not None:
            err = proc.stderr.read()
        raise RuntimeError(f"peer in {ns.name} did not start on {ip}:{port}/{proto}: {err.decode(errors='replace')}") \
            from None


def dnsmasq(lab: Lab, ns: NS, ip: str, records: Mapping[str, str | Sequence[str]], *,
            nxdomain: Sequence[str] = (), forward: Mapping[str, str] | None = None,
            port: int = 53) -> subprocess.Popen[bytes]:
    """dnsmasq on ip:port answering exactly `records` (name → address(es)).

    `nxdomain` names (and their subdomains) get NXDOMAIN; `forward` sends a name to another
    server ("ip" or "ip#port": a black-holed one makes the client time out). Any other name
    is REFUSED, because dnsmasq has no upstream here. dnsmasq cannot produce SERVFAIL on
    demand: use `dns_standin` with a "servfail" fault for that.
    """
    cmd = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
           "--bind-interfaces", f"--listen-address={ip}", f"--port={port}", "--pid-file", "--user=root",
           "--cache-size=0"]
    for name, addrs in records.items():
        for a in [addrs] if isinstance(addrs, str) else addrs:
            cmd.append(f"--host-record={name},{a}")
    cmd += [f"--address=/{n}/" for n in nxdomain]
    cmd += [f"--server=/{n}/{target}" for n, target in (forward or {}).items()]
    proc = lab.popen(ns, cmd, stderr=subprocess.PIPE)
    _ready(lab, ns, proc, ip, port, "udp")
    return proc


def dns_standin(lab: Lab, ns: NS, ip: str, records: Mapping[str, Sequence[str]],
                faults: Mapping[str, str] | None = None, port: int = 53) -> subprocess.Popen[bytes]:
    """The dnspython stand-in (netcheck.standins.dns) in ns; faults: name → nxdomain|servfail|refused|drop|noanswer."""
    proc = _standin(lab, ns, "dns", "--listen", ip, "--port", str(port),
                    "--records", json.dumps({k: list(v) for k, v in records.items()}),
                    "--faults", json.dumps(dict(faults or {})))
    _ready(lab, ns, proc, ip, port, "udp")
    return proc


def tls_server(lab: Lab, ns: NS, ip: str, port: int, ca: CA, names: Sequence[str], workdir: Path,
               ips: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """A TLS server on ip:port whose certificate for `names` (and `ips`) is signed by `ca`.

    Like an EKS API server to an anonymous client: /version (JSON), /livez, /healthz and
    /readyz answer 200, anything else 401.
    """
    cert, key = issue(ca, names, ips)
    cert_file, key_file = workdir / f"tls-{ip}-{port}.crt", workdir / f"tls-{ip}-{port}.key"
    cert_file.write_text(cert)
    key_file.write_text(key)
    key_file.chmod(0o600)
    proc = _standin(lab, ns, "tls", "--listen", ip, "--port", str(port), "--cert", str(cert_file),
                    "--key", str(key_file))
    _ready(lab, ns, proc, ip, port)
    return proc


_TCP_LISTENER = f"""
import socket, sys, time
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
srv.settimeout(0.5)
end = time.monotonic() + {MAX_LIFETIME_S}
while time.monotonic() < end:
    try:
        conn, _ = srv.accept()
    except TimeoutError:
        continue
    conn.close()
"""


def tcp_listener(lab: Lab, ns: NS, ip: str, port: int) -> subprocess.Popen[bytes]:
    """A plain TCP listener that accepts and closes each connection."""
    proc = _python(lab, ns, _TCP_LISTENER, ip, str(port))
    _ready(lab, ns, proc, ip, port)
    return proc


# --- a whole site: node — router — VPC with DNS and an API endpoint -------------------------

API_HOST = "ab12cd34ef56.gr7.us-west-2.eks.amazonaws.com"  # lab DNS
API_IP, OTHER_IP, RESOLVER = "10.20.1.10", "10.20.1.11", "10.20.1.12"


@dataclass
class Site:
    """Lab.hybrid() plus the cluster's CA; the node resolves through RESOLVER in the VPC."""

    lab: Lab
    node: NS
    router: NS
    vpc: NS
    ca: CA
    workdir: Path

    @classmethod
    def build(cls, lab: Lab, workdir: Path) -> Site:
        node, router, vpc = lab.hybrid()
        lab.resolv(node, [RESOLVER])
        return cls(lab, node, router, vpc, make_ca("Lab Cluster CA"), workdir)

    def profile(self, **spec: Any) -> Path:
        """A site profile for the lab cluster; `spec` keys replace top-level spec entries."""
        base: dict[str, Any] = {
            "cluster": {"name": "lab", "endpoint": f"https://{API_HOST}",  # lab DNS
                        "certificateAuthority": self.ca.b64, "serviceCidr": "172.20.0.0/16",
                        "endpointAccess": "private", "controlPlaneIps": [API_IP]},
            "vpc": {"cidrs": ["10.20.0.0/16"]},
            "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["192.168.64.0/18"]},
            "features": {"install": False},
            "dns": {"timeout": 2},
        }
        base.update(spec)
        path = self.workdir / f"site-{len(list(self.workdir.glob('site-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "netcheck/v1", "kind": "SiteProfile",
                                        "metadata": {"name": "lab-hybrid"}, "spec": base}))
        return path

    def dns(self, records: Mapping[str, str] | None = None, nxdomain: Sequence[str] = ()) -> None:
        """The site resolver (think Route 53 inbound endpoint) in the VPC."""
        dnsmasq(self.lab, self.vpc, RESOLVER, records if records is not None else {API_HOST: API_IP},
                nxdomain=nxdomain)

    def api_server(self, ca: CA | None = None) -> None:
        """An EKS-like API server on API_IP:443 whose certificate names API_HOST and API_IP."""
        tls_server(self.lab, self.vpc, API_IP, 443, ca or self.ca, [API_HOST], self.workdir, ips=[API_IP])

    def healthy(self) -> None:
        """DNS and the API server up; the node routes the VPC explicitly and forwards (as a CNI needs)."""
        self.dns()
        self.api_server()
        self.lab.run(self.node, ["ip", "route", "add", "10.20.0.0/16", "via", "192.168.50.1"])
        self.lab.sysctl(self.node, "net.ipv4.ip_forward", "1")

    def responder(self, ip: str = API_IP, port: int = RESPONDER_PORT) -> None:
        """`netcheck serve` in the VPC (no token: the lab is a closed network)."""
        proc = self.lab.popen(self.vpc, [sys.executable, "-m", "netcheck", "serve", "--listen", ip, "--port",
                                         str(port), "--no-auth"], cwd=str(REPO), stderr=subprocess.PIPE)
        _ready(self.lab, self.vpc, proc, ip, port)

    def router_rules(self, *rules: str) -> None:
        """nftables rules in the router's forward hook (e.g. 'tcp dport 443 drop')."""
        body = "".join(f"    {r};\n" for r in rules)
        self.lab.nft(self.router, "table inet lab {\n  chain lab_forward {\n"
                                  "    type filter hook forward priority 0;\n"
                                  f"{body}  }}\n}}\n")

    def netcheck(self, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
        """`python -m netcheck ARGS` in the node namespace; (completed process, wall seconds)."""
        t0 = time.monotonic()
        out = self.lab.run(self.node, [sys.executable, "-m", "netcheck", *args], check=False, cwd=str(REPO),
                           timeout=timeout)
        return out, time.monotonic() - t0
