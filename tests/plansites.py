"""Sites that between them plan every check kind netcheck declares (the contract test's fixtures).

One site per CNI plugin and mode, per credential provider, per AWS partition, with and without an
HTTPS proxy, mixed-mode CoreDNS, a VPC export, webhooks, the example profiles and NodeConfigs, and
the demo. Each is planned in both phases by tests/test_catalogue.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netcheck.demo import demo_profile
from netcheck.settings import ConfigError, Overrides, Settings, SiteProfile, build

ROOT = Path(__file__).resolve().parent.parent
PROXY_ENV = {"HTTPS_PROXY": "http://proxy.example.internal:3128", "NO_PROXY": "10.20.0.0/16,.internal"}


def _site(environ: dict[str, str] | None = None, **spec: Any) -> Settings:
    profile = SiteProfile.model_validate(demo_profile(responder="127.0.0.1:7447", peers=["192.168.50.11"], **spec))
    return Settings(profile=profile, source="test", token="t", environ=environ or {},
                    timesync=(("ntp.example.internal",), "/etc/chrony.conf"))


def _examples() -> list[tuple[str, Settings]]:
    sites: list[tuple[str, Settings]] = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        for profile, nodeconfig in ((path, None), (None, path)):
            try:
                sites.append((path.name, build(profile, nodeconfig, Overrides(None, None, None, None, None), None)))
                break
            except ConfigError:
                continue
    return sites


def sites() -> list[tuple[str, Settings]]:
    """(name, settings) for every fixture site."""
    out = _examples()
    out.append(("demo", _site()))
    for plugin, modes in (("cilium", ("vxlan", "geneve", "native", "bgp")), ("calico", ("vxlan", "ipip", "bgp",
                                                                                          "native"))):
        for mode in modes:
            out.append((f"cni-{plugin}-{mode}", _site(cni={"plugin": plugin, "mode": mode})))
        out.append((f"cni-{plugin}-wireguard", _site(cni={"plugin": plugin, "wireguard": True})))
    out.append(("cni-none", _site(cni={"plugin": "none"})))
    out.append(("credentials-iam-ra", _site(credentials="iam-roles-anywhere")))
    for region in ("cn-north-1", "us-gov-west-1", "eu-west-1"):
        out.append((f"partition-{region}", _site(cluster={"region": region})))
    out.append(("proxy", _site(environ=PROXY_ENV)))
    out.append(("mixed-mode-coredns", _site(dns={"vpcCoreDns": ["10.20.5.10"]})))
    out.append(("webhooks-features", _site(webhookPorts=[9443], features={"podIdentity": True, "irsa": True,
                                                                         "cloudwatch": True, "sessionManager": True},
                                           endpoints=[{"host": "registry.example.internal", "port": 5000}])))
    out.append(("public-endpoint", _site(cluster={"endpoint": "https://abc.gr7.us-west-2.eks.amazonaws.com",
                                                  "endpointAccess": "public"})))
    return out
