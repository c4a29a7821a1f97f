"""Loopback stand-ins for the VPC side, used by `netcheck demo` and by tests.

start_all(stack) starts each stand-in, registers its shutdown on `stack`, and returns
(spec overrides pointing at them, responder token or None). Each stand-in lives in its
own module here (dns, tls, ntp, ...), exposing `start(stack, ...)`.
"""

from __future__ import annotations

import contextlib


def start_all(stack: contextlib.ExitStack) -> tuple[dict[str, object], str | None]:
    spec: dict[str, object] = {}
    return spec, None
