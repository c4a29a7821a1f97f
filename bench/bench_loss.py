"""Full `netcheck run`s on a working site behind a router that drops N % of packets each way (issue 16).

Every service is up (testbed/lossy.py), so a dns, clock, cni or mtu FAIL is loss blamed on
a service; latency FAILs on loss are expected. Prints one line per run and a tally. Needs root.
`--worst dns-filtered` (UDP and TCP 53 dropped on the router) and `--worst resolver-dark`
(everything to the resolver's host dropped) time a full default run whose every lookup gets no
answer, to show the retries still fit the 60 s deadline.

    sudo python bench/bench_loss.py [--runs 10] [--loss 5] [--worst dns-filtered|resolver-dark --loss 0]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testbed import lossy
from testbed.lab import Lab
from testbed.services import RESOLVER

WORST = {"dns-filtered": (f"ip daddr {RESOLVER} udp dport 53 drop", f"ip daddr {RESOLVER} tcp dport 53 drop"),
         "resolver-dark": (f"ip daddr {RESOLVER} drop",)}

WATCHED = ("dns", "clock", "cni", "mtu")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--loss", type=int, default=5)
    parser.add_argument("--deadline", type=float, default=60)
    parser.add_argument("--worst", choices=sorted(WORST), help="drop DNS on the router as well")
    args = parser.parse_args()
    bad_runs = 0
    walls: list[float] = []
    notes: collections.Counter[str] = collections.Counter()
    with Lab("ncl") as lab, tempfile.TemporaryDirectory() as tmp:
        site, profile = lossy.build(lab, Path(tmp), args.loss)
        if args.worst:
            site.router_rules(*WORST[args.worst])
        for i in range(1, args.runs + 1):
            out, wall = site.netcheck("run", "-c", str(profile), "--format", "json", "--deadline",
                                      str(args.deadline), timeout=args.deadline + 60)
            walls.append(wall)
            try:
                doc = json.loads(out.stdout)
            except ValueError:
                print(f"run {i}: no report (exit {out.returncode}): {out.stderr.strip()[-300:]}")
                bad_runs += 1
                continue
            by = {c["id"]: c for c in doc["checks"]}
            fails = sorted(k for k, c in by.items() if c["status"] == "FAIL")
            errors = sorted(k for k, c in by.items() if c["status"] == "ERROR")
            watched = [k for k in fails + errors if k.split(".")[0] in WATCHED]
            warns = sorted(k for k, c in by.items() if c["status"] == "WARN" and k.split(".")[0] in WATCHED)
            retried = sorted(k for k, c in by.items() if k.split(".")[0] in WATCHED and c["status"] in ("PASS", "WARN")
                             and ((c.get("evidence") or {}).get("lostQueries") or (c.get("evidence") or {}).get("lost")))
            for k in retried:
                notes[k.split(".")[0]] += 1
            bad_runs += bool(watched)
            slowest = max(doc["checks"], key=lambda c: (c.get("evidence") or {}).get("durationSeconds") or 0)
            latency = {k: c["status"] for k, c in by.items() if k.startswith("latency.")}
            for status in latency.values():
                notes["latency " + status] += 1
            print(f"run {i}: {wall:5.1f} s (slowest check {slowest['id']}), {doc['verdict']}, latency {latency}, "
                  f"fail {fails}, error {errors}, watched warn {warns}, answered after loss: {retried}")
            for k in watched + warns:
                print(f"    {k}: {by[k]['message'][:300]}")
    print(f"\n{args.runs - bad_runs}/{args.runs} runs without a dns/clock/cni/mtu FAIL or ERROR at {args.loss} % loss "
          f"each way; wall per run min {min(walls):.1f} s, median {sorted(walls)[len(walls) // 2]:.1f} s, "
          f"max {max(walls):.1f} s; tally (checks answered only after loss, by area; latency statuses): {dict(notes)}")
    return 0 if bad_runs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
