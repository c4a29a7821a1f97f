"""Which proxy, if any, a connection to a host would use, from HTTPS_PROXY / NO_PROXY.

Like curl and Go's httpproxy: NO_PROXY entries are host names (a leading dot or '*.'
matches subdomains; a bare name matches itself and its subdomains), IP addresses,
CIDR blocks, optional ':port', or '*'. Upper- and lower-case variables are read;
lower case wins, as in curl. Pure: the environment is passed in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name.lower()) or env.get(name.upper()) or ""


def no_proxy_entries(env: Mapping[str, str]) -> list[str]:
    return [e.strip() for e in _get(env, "NO_PROXY").split(",") if e.strip()]


def bypasses(host: str, port: int, entries: list[str]) -> bool:
    """True when NO_PROXY `entries` exempt host:port from the proxy."""
    return no_proxy_match(host, port, entries) is not None


def no_proxy_match(host: str, port: int, entries: list[str]) -> str | None:
    """The first NO_PROXY entry (as written) that exempts host:port from the proxy; None when none does."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for raw in entries:
        entry = raw.lower()
        if entry == "*":
            return raw
        e_port = None
        if entry.count(":") == 1 and not entry.startswith("["):
            entry, p = entry.split(":")
            e_port = int(p) if p.isdigit() else None
        if e_port is not None and e_port != port:
            continue
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return raw
            except ValueError:
                pass
            continue
        name = entry.removeprefix("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return raw
    return None


def configured_proxy(env: Mapping[str, str], scheme: str = "https") -> str | None:
    """The proxy URL set for `scheme` (or ALL_PROXY), ignoring NO_PROXY; None when none is set."""
    return _get(env, f"{scheme}_PROXY") or _get(env, "ALL_PROXY") or None


def redact(url: str) -> str:
    """A proxy URL without its user:password part, for reports."""
    scheme, sep, rest = url.rpartition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def proxy_for(host: str, port: int, env: Mapping[str, str], scheme: str = "https") -> str | None:
    """The proxy URL a client would use for scheme://host:port, or None for a direct connection."""
    proxy = configured_proxy(env, scheme)
    if not proxy:
        return None
    return None if bypasses(host, port, no_proxy_entries(env)) else proxy
