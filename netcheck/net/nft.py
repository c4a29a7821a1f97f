"""The local firewall, read and judged without sending a packet.

`read_ruleset()` runs `nft -j list ruleset` (iptables-save when nftables is absent) and
turns it into a small model (Ruleset, Chain, Rule, Match). Judging a packet against that model
is the firewall probe's job (`probes/firewall.py`, `decide`). firewalld and ufw both program
nftables or iptables, so their rules are covered; their state is recorded for the remediation text.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TERMINAL = ("accept", "drop", "reject")


class FirewallUnreadable(Exception):
    """The ruleset could not be read (no permission, no tool)."""


@dataclass(frozen=True)
class Match:
    """One normalised match: field is l4proto, dport, saddr, ctstate, iifname, nfproto or unknown."""

    field: str
    op: str = "=="
    values: tuple[Any, ...] = ()  # names, [lo, hi] port ranges, CIDR strings
    proto: str | None = None  # for dport: tcp, udp, th (either)


@dataclass(frozen=True)
class Rule:
    text: str
    matches: tuple[Match, ...]
    verdict: str | None  # accept | drop | reject | return | jump:<chain> | goto:<chain> | None


@dataclass(frozen=True)
class Chain:
    family: str
    table: str
    name: str
    rules: tuple[Rule, ...]
    hook: str | None = None
    priority: int = 0
    policy: str = "accept"
    type: str = "filter"

    @property
    def label(self) -> str:
        return f"{self.family} {self.table} {self.name}"


@dataclass(frozen=True)
class Ruleset:
    source: str  # nftables | iptables | none
    chains: tuple[Chain, ...] = ()
    firewalld: str | None = None  # running | not running | None (not installed)
    ufw: str | None = None  # active | inactive | None (not installed)

    def to_evidence(self) -> dict[str, Any]:
        return asdict(self)


# --- reading ---------------------------------------------------------------------------

def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _firewalld(timeout: float) -> str | None:
    if not shutil.which("firewall-cmd"):
        return None
    try:
        out = _run(["firewall-cmd", "--state"], timeout)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip() or "unknown"


def _ufw(conf: Path = Path("/etc/ufw/ufw.conf")) -> str | None:
    from netcheck.safeio import read_optional

    text = read_optional(conf, 1 << 20, "ufw configuration")
    if text is None:
        return None
    for line in text.splitlines():
        if line.strip().upper().startswith("ENABLED="):
            return "active" if line.split("=", 1)[1].strip().strip("\"'").lower() == "yes" else "inactive"
    return "inactive"


def read_ruleset(timeout: float, root: str = "/") -> Ruleset:
    """The local ruleset: nftables first, iptables-save as the fallback; raises FirewallUnreadable.

    ufw's state is read from /etc/ufw/ufw.conf below the host root `root`.
    """
    fwd, ufw = _firewalld(timeout), _ufw(Path(root) / "etc/ufw/ufw.conf")
    if shutil.which("nft"):
        out = _run(["nft", "-j", "list", "ruleset"], timeout)
        if out.returncode != 0:
            raise FirewallUnreadable(f"nft -j list ruleset failed: {out.stderr.strip() or out.returncode}")
        chains = parse_nft_json(out.stdout)
        if chains or not shutil.which("iptables-save"):
            return Ruleset("nftables", chains, fwd, ufw)
    for tool in ("iptables-save", "iptables-legacy-save"):
        if shutil.which(tool):
            out = _run([tool], timeout)
            if out.returncode != 0:
                raise FirewallUnreadable(f"{tool} failed: {out.stderr.strip() or out.returncode}")
            return Ruleset("iptables", parse_iptables_save(out.stdout), fwd, ufw)
    if shutil.which("nft"):
        return Ruleset("nftables", (), fwd, ufw)
    return Ruleset("none", (), fwd, ufw)


# --- nftables JSON ---------------------------------------------------------------------

def _ports(right: Any, sets: dict[str, list[Any]]) -> tuple[Any, ...] | None:
    if isinstance(right, int):
        return ([right, right],)
    if isinstance(right, str) and right.startswith("@"):
        elems = sets.get(right[1:])
        return None if elems is None else _ports({"set": elems}, sets)
    if isinstance(right, dict) and "range" in right:
        lo, hi = right["range"]
        return ([int(lo), int(hi)],) if isinstance(lo, int) and isinstance(hi, int) else None
    if isinstance(right, dict) and "set" in right:
        out: list[Any] = []
        for item in right["set"]:
            got = _ports(item, sets)
            if got is None:
                return None
            out.extend(got)
        return tuple(out)
    return None


def _addrs(right: Any, sets: dict[str, list[Any]]) -> tuple[Any, ...] | None:
    if isinstance(right, str) and right.startswith("@"):
        elems = sets.get(right[1:])
        return None if elems is None else _addrs({"set": elems}, sets)
    if isinstance(right, str):
        try:
            return (str(ipaddress.ip_network(right, strict=False)),)
        except ValueError:
            return None
    if isinstance(right, dict) and "prefix" in right:
        p = right["prefix"]
        return (str(ipaddress.ip_network(f"{p['addr']}/{p['len']}", strict=False)),)
    if isinstance(right, dict) and "range" in right:
        lo, hi = (ipaddress.ip_address(x) for x in right["range"])
        return tuple(str(n) for n in ipaddress.summarize_address_range(lo, hi))  # type: ignore[arg-type]
    if isinstance(right, dict) and "set" in right:
        out: list[Any] = []
        for item in right["set"]:
            got = _addrs(item, sets)
            if got is None:
                return None
            out.extend(got)
        return tuple(out)
    return None


def _names(right: Any, sets: dict[str, list[Any]]) -> tuple[Any, ...] | None:
    if isinstance(right, str | int):
        if isinstance(right, str) and right.startswith("@"):
            elems = sets.get(right[1:])
            return None if elems is None else tuple(str(e) for e in elems)
        return (str(right),)
    if isinstance(right, list):
        return tuple(str(x) for x in right)
    if isinstance(right, dict) and "set" in right:
        return tuple(str(x) for x in right["set"] if isinstance(x, str | int))
    return None


def _nft_match(m: dict[str, Any], sets: dict[str, list[Any]]) -> Match:
    op = "!=" if m.get("op") == "!=" else "=="
    left, right = m.get("left"), m.get("right")
    unknown = Match("unknown", values=(json.dumps(m, sort_keys=True)[:120],))
    if not isinstance(left, dict):
        return unknown
    if "payload" in left:
        p = left["payload"]
        proto, fld = p.get("protocol"), p.get("field")
        if proto in ("tcp", "udp", "th", "sctp", "dccp", "udplite") and fld == "dport":
            ports = _ports(right, sets)
            return Match("dport", op, ports, proto) if ports is not None else unknown
        if proto == "ip" and fld == "saddr":
            addrs = _addrs(right, sets)
            return Match("saddr", op, addrs) if addrs is not None else unknown
        if proto == "ip" and fld == "protocol":
            names = _names(right, sets)
            return Match("l4proto", op, names) if names is not None else unknown
        if proto in ("ip6", "icmpv6"):
            return Match("nfproto", op, ("ipv6",))
        return unknown
    if "meta" in left:
        key = left["meta"].get("key")
        names = _names(right, sets)
        if names is None:
            return unknown
        if key in ("l4proto", "nfproto"):
            return Match(key, op, names)
        if key in ("iifname", "iif"):
            return Match("iifname", op, names)
        return unknown
    if "ct" in left and left["ct"].get("key") == "state":
        names = _names(right, sets)
        return Match("ctstate", op, names) if names is not None else unknown
    return unknown


def _nft_rule(expr: list[dict[str, Any]], sets: dict[str, list[Any]], text: str) -> Rule:
    matches: list[Match] = []
    verdict: str | None = None
    for stmt in expr:
        if "match" in stmt:
            matches.append(_nft_match(stmt["match"], sets))
        elif "accept" in stmt:
            verdict = "accept"
        elif "drop" in stmt:
            verdict = "drop"
        elif "reject" in stmt:
            verdict = "reject"
        elif "return" in stmt:
            verdict = "return"
        elif "jump" in stmt:
            verdict = f"jump:{stmt['jump']['target']}"
        elif "goto" in stmt:
            verdict = f"goto:{stmt['goto']['target']}"
        elif "xt" in stmt:
            matches.append(Match("unknown", values=("iptables-nft extension " + json.dumps(stmt["xt"])[:80],)))
    return Rule(text, tuple(matches), verdict)


def _nft_text(rule: dict[str, Any]) -> str:
    """A short human form of a JSON rule (nft's own text is not in the JSON)."""
    bits: list[str] = []
    for stmt in rule.get("expr", []):
        if "match" in stmt:
            m = stmt["match"]
            left, right = m.get("left"), m.get("right")
            lt = ""
            if isinstance(left, dict):
                for key in ("payload", "meta", "ct"):
                    if key in left:
                        lt = ("ct " if key == "ct" else "") + " ".join(str(v) for k, v in left[key].items() if k in ("protocol", "field", "key"))
            op = "" if m.get("op") in ("==", "in", None) else m["op"] + " "
            bits.append(f"{lt} {op}{_short(right)}".strip())
        else:
            for key in ("accept", "drop", "reject", "return", "counter", "log"):
                if key in stmt:
                    bits.append(key)
            for key in ("jump", "goto"):
                if key in stmt:
                    bits.append(f"{key} {stmt[key]['target']}")
    return " ".join(bits)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        if "set" in value:
            return "{ " + ", ".join(_short(v) for v in value["set"]) + " }"
        if "range" in value:
            return "-".join(str(v) for v in value["range"])
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        return json.dumps(value)[:60]
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_nft_json(text: str) -> tuple[Chain, ...]:
    """Chains of `nft -j list ruleset` (IPv4-relevant families: ip, inet) with their rules."""
    try:
        items = json.loads(text or '{"nftables": []}').get("nftables", [])
    except (ValueError, AttributeError) as exc:
        raise FirewallUnreadable(f"nft printed something that is not its JSON format: {exc}") from None
    sets: dict[tuple[str, str], dict[str, list[Any]]] = {}
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[Rule]] = {}
    for item in items:
        if "set" in item:
            s = item["set"]
            sets.setdefault((s["family"], s["table"]), {})[s["name"]] = list(s.get("elem", []))
    for item in items:
        if "chain" in item:
            c = item["chain"]
            if c["family"] in ("ip", "inet"):
                chains[(c["family"], c["table"], c["name"])] = c
        elif "rule" in item:
            r = item["rule"]
            key = (r["family"], r["table"], r["chain"])
            if r["family"] in ("ip", "inet"):
                tsets = sets.get((r["family"], r["table"]), {})
                rules.setdefault(key, []).append(_nft_rule(r.get("expr", []), tsets, _nft_text(r)))
    out = []
    for key, c in chains.items():
        out.append(Chain(c["family"], c["table"], c["name"], tuple(rules.get(key, [])), c.get("hook"),
                         int(c.get("prio", 0)), c.get("policy", "accept"), c.get("type", "filter")))
    return tuple(out)


# --- iptables-save ---------------------------------------------------------------------

def _ipt_rule(args: list[str], text: str) -> Rule:
    matches: list[Match] = []
    verdict: str | None = None
    proto: str | None = None
    neg = False
    i = 0
    while i < len(args):
        a = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else ""
        op = "!=" if neg else "=="
        neg = False
        if a == "!":
            neg = True
            i += 1
            continue
        if a in ("-p", "--protocol"):
            proto = nxt
            matches.append(Match("l4proto", op, (nxt,)))
        elif a in ("-s", "--source"):
            matches.append(Match("saddr", op, tuple(str(ipaddress.ip_network(x, strict=False))
                                                    for x in nxt.split(","))))
        elif a in ("--dport", "--destination-port", "--dports"):
            ranges = []
            for part in nxt.split(","):
                lo, _, hi = part.partition(":")
                ranges.append([int(lo), int(hi or lo)])
            matches.append(Match("dport", op, tuple(ranges), proto or "th"))
        elif a in ("-i", "--in-interface"):
            matches.append(Match("iifname", op, (nxt,)))
        elif a in ("--state", "--ctstate"):
            matches.append(Match("ctstate", op, tuple(s.lower() for s in nxt.split(","))))
        elif a in ("-j", "--jump", "-g", "--goto"):
            target = nxt.upper() if nxt.upper() in ("ACCEPT", "DROP", "REJECT", "RETURN") else nxt
            verdict = target.lower() if target.isupper() and target.lower() in (*TERMINAL, "return") else (
                f"{'goto' if a in ('-g', '--goto') else 'jump'}:{target}")
            i += 2
            while i < len(args) and not args[i].startswith("-"):
                i += 1  # target options (--reject-with …)
            continue
        elif a in ("-m", "--comment", "-A", "--append"):
            pass
        elif a.startswith("-"):
            matches.append(Match("unknown", values=(f"{a} {nxt}".strip(),)))
        i += 2
    return Rule(text, tuple(matches), verdict)


def parse_iptables_save(text: str) -> tuple[Chain, ...]:
    """The filter table of `iptables-save`: INPUT as the base chain, user chains as jump targets."""
    policies: dict[str, str] = {}
    rules: dict[str, list[Rule]] = {}
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif table != "filter" or not line or line.startswith("#"):
            continue
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            policies[name] = policy.lower()
            rules.setdefault(name, [])
        elif line.startswith("-A "):
            args = shlex.split(line)
            rules.setdefault(args[1], []).append(_ipt_rule(args[2:], line))
    out = []
    for name, rs in rules.items():
        hook = "input" if name == "INPUT" else None
        policy = policies.get(name, "-")
        out.append(Chain("ip", "filter", name, tuple(rs), hook, 0, policy if policy in ("accept", "drop") else "accept"))
    return tuple(out)


def ruleset_from_evidence(doc: dict[str, Any]) -> Ruleset:
    """Rebuild a Ruleset from its evidence dict (evaluate() receives it as recorded)."""
    chains = []
    for c in doc.get("chains", []):
        rules = tuple(Rule(r["text"], tuple(Match(m["field"], m["op"], tuple(m["values"]), m.get("proto"))
                                            for m in r["matches"]), r["verdict"]) for r in c["rules"])
        chains.append(Chain(c["family"], c["table"], c["name"], rules, c.get("hook"), c.get("priority", 0),
                            c.get("policy", "accept"), c.get("type", "filter")))
    return Ruleset(doc.get("source", "none"), tuple(chains), doc.get("firewalld"), doc.get("ufw"))
