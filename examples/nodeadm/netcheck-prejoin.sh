#!/usr/bin/env bash
# Pre-join hook for EKS Hybrid Nodes: run netcheck before `nodeadm init` and stop the join on NO-GO.
#
#   netcheck-prejoin.sh                         # check only; exit code tells the pipeline what to do
#   netcheck-prejoin.sh -- nodeadm init -c file:///etc/eks/nodeConfig.yaml   # check, then join on GO
#
# Writes the JSON report to $NETCHECK_REPORT_DIR and a plain summary to stderr (console / journal).
# Exit codes: 0 GO (joined, if a command was given), 3 NO-GO, 4 INCONCLUSIVE (unless
# NETCHECK_ON_INCONCLUSIVE=continue; also without a site profile unless NETCHECK_WITHOUT_PROFILE=continue),
# 1 internal error, 2 bad configuration, 124 netcheck overran its deadline. Any other code is the join
# command's own.
set -uo pipefail

NODECONFIG="${NETCHECK_NODECONFIG:-/etc/eks/nodeConfig.yaml}"
PROFILE="${NETCHECK_CONFIG:-}"                    # optional site profile (thresholds, responder, peers)
REPORT_DIR="${NETCHECK_REPORT_DIR:-/var/log/netcheck}"
DEADLINE="${NETCHECK_DEADLINE:-45}"               # seconds; a boot pipeline must not wait long
ON_INCONCLUSIVE="${NETCHECK_ON_INCONCLUSIVE:-stop}"  # stop | continue
WITHOUT_PROFILE="${NETCHECK_WITHOUT_PROFILE:-stop}"  # stop | continue: join-checks without the site's CIDRs
NETCHECK="${NETCHECK_BIN:-netcheck}"
export NO_COLOR=1 TERM=dumb                       # plain output: there is no TTY in a boot pipeline

log() { printf 'netcheck-prejoin: %s\n' "$*" >&2; }

if [ "${1:-}" = "--" ]; then shift; fi
if ! command -v "$NETCHECK" >/dev/null 2>&1; then
  log "netcheck not found (NETCHECK_BIN=$NETCHECK): install it with 'pipx install netcheck', or copy the"
  log "single file netcheck.pyz to /usr/local/bin/netcheck (or set NETCHECK_BIN). Stopping the join."
  exit 1
fi
if [ ! -r "$NODECONFIG" ]; then
  log "NodeConfig $NODECONFIG is not readable (set NETCHECK_NODECONFIG). Stopping the join."
  exit 2
fi
if ! mkdir -p "$REPORT_DIR" 2>/dev/null; then
  REPORT_DIR="$(mktemp -d)"
  log "cannot write the report directory; using $REPORT_DIR"
fi
report="$REPORT_DIR/prejoin-$(date -u +%Y%m%dT%H%M%SZ).json"

no_profile=0
if [ -z "$PROFILE" ]; then
  no_profile=1
  log "WARNING: no site profile (NETCHECK_CONFIG is unset). Without it netcheck does not know the VPC, remote"
  log "WARNING: node and pod CIDRs, so every cidr.* check SKIPs and overlaps or a node IP outside the node"
  log "WARNING: network go unnoticed. Set NETCHECK_CONFIG=/etc/netcheck/site.yaml (netcheck init writes one)."
  if [ "$WITHOUT_PROFILE" != continue ]; then
    log "WARNING: the verdict will be INCONCLUSIVE at best (NETCHECK_WITHOUT_PROFILE=continue judges without it)."
  fi
fi

# --phase pre-join: judge the host as nodeadm init will leave it, even after an earlier, failed init.
args=(run --nodeconfig "$NODECONFIG" --phase pre-join --format json -o "$report" --deadline "$DEADLINE" --no-color --quiet)
[ -n "$PROFILE" ] && args+=(-c "$PROFILE")
log "checking the network before joining (deadline ${DEADLINE}s): $NETCHECK ${args[*]}"
# netcheck keeps its own deadline; timeout(1) is the backstop so that the hook can never hang.
timeout --kill-after=5 "$((DEADLINE + 15))" "$NETCHECK" "${args[@]}" </dev/null
rc=$?

why() {  # the blocking checks, one line each, read from the JSON report
  [ -s "$report" ] || return 0
  python3 - "$report" <<'PY' >&2 || true
import json, sys
doc = json.load(open(sys.argv[1]))
for c in doc.get("checks", []):
    blocking = c["status"] in ("FAIL", "ERROR") or c.get("evidence", {}).get("skipReason") in ("privilege", "interrupted")
    if c["severity"] == "required" and blocking:
        line = f"netcheck-prejoin:   {c['status']} {c['id']}: {c['message']}"
        if c.get("remediation"):
            line += f" Fix: {c['remediation']}"
        print(line)
PY
}

if [ "$no_profile" = 1 ] && [ "$WITHOUT_PROFILE" != continue ] && [ "$rc" = 0 ]; then
  log "INCONCLUSIVE: the checks netcheck could run passed, but without a site profile the address plan was not"
  log "checked; NOT joining the cluster (report: $report). Set NETCHECK_CONFIG, or NETCHECK_WITHOUT_PROFILE=continue."
  exit 4
fi

case "$rc" in
  0) log "GO: the network is ready (report: $report)." ;;
  3) log "NO-GO: the network is not ready; NOT joining the cluster. Why:"; why
     log "full report: $report"; exit 3 ;;
  4) if [ "$ON_INCONCLUSIVE" = continue ]; then
       log "INCONCLUSIVE: some required checks could not run; continuing because NETCHECK_ON_INCONCLUSIVE=continue."; why
     else
       log "INCONCLUSIVE: some required checks could not run; NOT joining the cluster. Why:"; why
       log "full report: $report (set NETCHECK_ON_INCONCLUSIVE=continue to join anyway)"; exit 4
     fi ;;
  124|137) log "netcheck overran its ${DEADLINE}s deadline and was stopped; NOT joining the cluster."; exit 124 ;;
  2) log "bad configuration (see the message above); NOT joining the cluster."; exit 2 ;;
  *) log "netcheck failed with exit code $rc; NOT joining the cluster."; exit 1 ;;
esac

if [ "$#" -gt 0 ]; then
  log "joining: $*"
  exec "$@"
fi
exit 0
