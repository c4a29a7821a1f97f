"""Loopback stand-ins for the VPC side, used by `netcheck demo` and by tests.

start_all(stack) starts each stand-in, registers its shutdown on `stack`, and returns
(spec overrides pointing at them, responder token). Each stand-in lives in its own
module here (dns, tls, ntp, proxy, responder) and exposes `start(stack, ...)`.

Names live under `demo.internal` and resolve only through the demo's own DNS server,
so nothing the demo does can reach a real resolver or a real AWS endpoint.
"""

from __future__ import annotations

import contextlib

DEMO_DOMAIN = "demo.internal"
API_IP = "127.20.1.10"
ENDPOINT_IP = "127.20.2.10"
DNS_IP = "127.20.0.53"
NTP_IP = "127.20.0.123"


def aws_names(region: str) -> list[str]:
    """Every AWS endpoint name the catalog can ask for in the demo domain (for the certificate)."""
    from netcheck.settings import Settings, SiteProfile
    from probes.endpoints import aws_targets

    profile = SiteProfile.model_validate({"spec": {
        "cluster": {"region": region}, "aws": {"domain": DEMO_DOMAIN}, "credentials": "ssm",
        "features": {"podIdentity": True, "irsa": True, "cloudwatch": True, "sessionManager": True}}})
    names = {t.host for t in aws_targets(Settings(profile, "demo"))}
    names |= {f"rolesanywhere.{region}.{DEMO_DOMAIN}"}
    return sorted(names)


def start_all(stack: contextlib.ExitStack, region: str = "us-west-2") -> tuple[dict[str, object], str | None]:
    from netcheck.standins import dns, ntp, responder, tls
    from netcheck.standins import proxy as px

    px.clear_proxy_env(stack)  # the demo must never go through the operator's real proxy
    api_host = f"demo.gr7.{region}.eks.{DEMO_DOMAIN}"
    demo_tls = tls.start(stack, API_IP, api_host, ENDPOINT_IP, aws_names(region))
    records = {api_host: [API_IP], f"*.{DEMO_DOMAIN}": [ENDPOINT_IP]}
    dns_server = dns.start(stack, records, host=DNS_IP)
    clock = ntp.start(stack, NTP_IP)
    responder_addr, token = responder.start(stack, API_IP)
    spec: dict[str, object] = {
        "cluster": demo_tls.cluster_fields,
        "aws": {"domain": DEMO_DOMAIN, **demo_tls.aws_fields},
        "dns": {"servers": [dns_server.address]},
        "ntp": {"servers": [clock.address]},
        "responder": responder_addr,
    }
    return spec, token
