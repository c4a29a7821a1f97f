"""`netcheck demo`: the whole preflight against stand-ins started on loopback.

The stand-ins play the VPC: a DNS server that answers for the cluster and AWS endpoint
names, a TLS "API server" with a generated cluster CA, AWS endpoints with their own
generated CA, an NTP server and the responder. Everything listens on 127.20.0.0/16 and
unprivileged ports, so the demo needs no root and sends nothing off this machine.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from netcheck.settings import SiteProfile

if TYPE_CHECKING:
    from netcheck.app import Options, Preflight

DEMO_VPC = "127.20.0.0/16"
DEMO_API_IP = "127.20.1.10"
DEMO_REGION = "us-west-2"


def demo_profile(**spec_extra: object) -> dict[str, object]:
    """The demo site profile as a plain mapping (stand-ins fill in ports and the CA)."""
    spec: dict[str, object] = {
        "cluster": {"name": "demo", "region": DEMO_REGION, "endpointAccess": "private",
                    "serviceCidr": "172.20.0.0/16", "controlPlaneIps": [DEMO_API_IP]},
        "credentials": "ssm",
        "vpc": {"cidrs": [DEMO_VPC]},
        "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["10.244.0.0/16"]},
        "node": {"ip": "192.168.50.10"},
        "cni": {"plugin": "cilium"},
        "bandwidth": {"seconds": 3, "streams": 4},
        # On loopback the "VPC" lives on this host: routes toward it are local by construction,
        # so those two checks say nothing here.
        # This host's own settings and firewall are still shown, as advisory (reading nftables needs root).
        "checks": {"skip": ["routing.vpc", "routing.control-plane"], "advisory": ["routing.host", "firewall.local"]},
    }
    for key, value in spec_extra.items():  # nested fields merge, e.g. cluster.endpoint
        base = spec.get(key)
        spec[key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
    return {"apiVersion": "netcheck/v1", "kind": "SiteProfile", "metadata": {"name": "demo-loopback"},
            "spec": spec}


def run_demo(options: Options | None = None) -> Preflight:
    """Start the stand-ins, run the preflight against them, stop them; return what it produced."""
    from netcheck import signals
    from netcheck.app import preflight
    from netcheck.settings import HostSnapshot, Settings

    # Starting and stopping the stand-ins (temporary directories holding TLS private keys) is never cut
    # short by SIGINT/SIGTERM; only the check loop is, and a signal during start-up stops it on entry.
    with signals.deferred(), contextlib.ExitStack() as stack:
        extra, token = start_standins(stack)
        profile = SiteProfile.model_validate(demo_profile(**extra))
        host = HostSnapshot.take()  # after the stand-ins: their trust file is in it, the operator's proxy not
        settings = Settings(profile=profile, source="demo", token=token, environ=host.environ, timesync=host.timesync)
        return preflight(settings, options)


def start_standins(stack: contextlib.ExitStack) -> tuple[dict[str, object], str | None]:
    """Start the loopback stand-ins; return the spec fields that point at them and the token.

    `netcheck.standins.start_all(stack)` returns (spec overrides, responder token); every
    server it starts is registered on `stack`, so leaving the `with` stops them all.
    """
    from netcheck import standins

    return standins.start_all(stack)
