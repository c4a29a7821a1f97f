"""The shared token: bulk data (iperf3) and connect-back need it; hello shows more with it."""

from __future__ import annotations

import hmac

from netcheck.responder.conn import ServeConfig


def authorized(cfg: ServeConfig, token: object) -> bool:
    """True when no token is required, or `token` is the configured one (compared in constant time)."""
    if cfg.no_auth:
        return True
    return isinstance(token, str) and cfg.token is not None and \
        hmac.compare_digest(token.encode("utf-8", "replace"), cfg.token.encode())
