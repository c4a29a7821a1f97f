"""Run one stand-in as a process: what the namespace test bed starts inside a namespace.

    python -m netcheck.standins tls --listen IP --port 443 --cert FILE --key FILE
    python -m netcheck.standins dns --listen IP --port 53 --records JSON [--faults JSON]

Each serves until SIGTERM/SIGINT or `--seconds` (default 600) have passed, then stops cleanly.
The responder is not here: it is `python -m netcheck serve`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netcheck.standins", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    tls = sub.add_parser("tls", help="an EKS-like API server: /version, /livez, /healthz, /readyz; others 401")
    tls.add_argument("--cert", type=Path, required=True, help="PEM certificate (chain) file")
    tls.add_argument("--key", type=Path, required=True, help="PEM private key file")
    dns = sub.add_parser("dns", help="the dnspython DNS stand-in")
    dns.add_argument("--records", default="{}", help='JSON: {"name": ["ip", ...]}')
    dns.add_argument("--faults", default="{}", help='JSON: {"name": "nxdomain|servfail|refused|drop|noanswer"}')
    for p in (tls, dns):
        p.add_argument("--listen", default="127.0.0.1")
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--seconds", type=float, default=600.0, help="stop by itself after this long")
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with contextlib.ExitStack() as stack:
        if args.kind == "tls":
            from netcheck.standins.tls import UNAUTHORIZED, api_routes, serve_files

            serve_files(stack, args.listen, args.port, args.cert, args.key, api_routes(), fallback=UNAUTHORIZED)
        else:
            from netcheck.standins.dns import start

            start(stack, json.loads(args.records), json.loads(args.faults), args.listen, args.port)
        done.wait(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
