"""The merged, validated settings (defaults < file < env < flags) and the cluster details nodeadm would
fetch with eks:DescribeCluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from netcheck.settings.errors import ConfigError, _clip, _short, _validation_error
from netcheck.settings.loading import load_nodeconfig, profile_from_data, read_yaml, validate_profile
from netcheck.settings.schema import X509_LATER, Cluster, Node, SiteProfile, Spec

if TYPE_CHECKING:
    from netcheck.aws import ClusterLookup
    from netcheck.settings.nodeconfig import NodeConfigFile


# --- the merged, validated settings ------------------------------------------------

@dataclass(frozen=True)
class Overrides:
    """Values from NETCHECK_* variables and flags (flags win; typer merges them)."""

    region: str | None = None
    endpoint: str | None = None
    service_cidr: str | None = None
    responder: str | None = None
    node_ip: str | None = None
    origins: dict[str, str] = field(default_factory=dict)  # override name → "--node-ip" or "NETCHECK_NODE_IP"


@dataclass(frozen=True)
class Settings:
    profile: SiteProfile
    source: str  # the file(s) it came from, for messages
    token: str | None = None
    nodeconfig: NodeConfigFile | None = None  # the NodeConfig as loaded, with its findings
    # Where each cluster value came from (profile field name → profile | nodeconfig | override | describe-cluster).
    sources: dict[str, str] = field(default_factory=dict)
    cluster_lookup: ClusterLookup | None = None  # the eks:DescribeCluster call made at run time, if any
    # Where a value came from, for messages: "node.ip" → "--node-ip", "NETCHECK_NODE_IP",
    # "site profile site.yaml, spec.node.ip" or "NodeConfig nodeConfig.yaml, kubelet --node-ip".
    origins: dict[str, str] = field(default_factory=dict)
    # What the host said when build() took its snapshot (HostSnapshot); plans read these, never os.environ
    # or files. Made directly, Settings read nothing: an empty environment, no time-sync servers.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    timesync: tuple[tuple[str, ...], str] = field(default=((), ""), compare=False)
    # Validations build(x509_later=True) owes: (source, data) whose CA was checked as text, not yet
    # parsed as X.509 (check_pending does it, with the message build would have given).
    pending: tuple[tuple[str, dict[str, Any]], ...] = field(default=(), repr=False, compare=False)

    @property
    def spec(self) -> Spec:
        return self.profile.spec

    @property
    def name(self) -> str:
        return self.profile.metadata.name


@dataclass(frozen=True)
class HostSnapshot:
    """What the host says, read once at the edge: the environment, and the time-sync servers its
    chrony/ntpd/timesyncd configuration names (read below NETCHECK_HOST_ROOT, as every host file is)."""

    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    timesync: tuple[tuple[str, ...], str] = ((), "")

    @classmethod
    def take(cls, environ: Mapping[str, str] | None = None) -> HostSnapshot:
        """Read `environ` (os.environ when None) and the host's time-sync files below its NETCHECK_HOST_ROOT."""
        from netcheck.timesync import servers_from_config

        env = dict(os.environ if environ is None else environ)
        return cls(env, servers_from_config(root=host_root(env)))


def host_root(environ: Mapping[str, str]) -> str:
    """The directory host files are read below: NETCHECK_HOST_ROOT (a DaemonSet's /host), else /."""
    return environ.get("NETCHECK_HOST_ROOT") or "/"


def _resolve_describe(data: dict[str, Any], profile_path: Path) -> None:
    """Make spec.vpc.describe paths absolute (relative to the profile's directory) and check they exist."""
    describe = data.get("spec", {}).get("vpc", {}).get("describe") or {}
    base = profile_path.parent
    for key, rel in list(describe.items()):
        if rel is None:
            continue
        field = f"spec.vpc.describe.{key}"
        try:
            path = Path(rel).expanduser()
            path = path if path.is_absolute() else base / path
            ok, is_dir = path.is_file(), path.is_dir()
        except (OSError, ValueError) as exc:
            raise ConfigError(str(profile_path), field, f"unusable path {rel!r}: {exc}") from None
        if not ok:
            problem = "is a directory, not a file" if is_dir else "file not found"
            raise ConfigError(str(profile_path), field, f"{problem}: {path}")
        describe[key] = str(path.resolve())  # absolute, whatever the working directory


# Override field → (flag, environment variable, model, field alias) for messages.
_OVERRIDES = {
    "region": ("--region", "NETCHECK_REGION", "cluster", "region"),
    "endpoint": ("--endpoint", "NETCHECK_ENDPOINT", "cluster", "endpoint"),
    "service_cidr": ("--service-cidr", "NETCHECK_SERVICE_CIDR", "cluster", "serviceCidr"),
    "responder": ("--responder", "NETCHECK_RESPONDER", "spec", "responder"),
    "node_ip": ("--node-ip", "NETCHECK_NODE_IP", "node", "ip"),
}


def _check_overrides(o: Overrides) -> None:
    """Validate each flag/env value on its own so the message names the flag, not a file."""
    models: dict[str, type[BaseModel]] = {"cluster": Cluster, "spec": Spec, "node": Node}
    for attr, (flag, env, model, alias) in _OVERRIDES.items():
        value = getattr(o, attr)
        if value is None:
            continue
        try:
            models[model].model_validate({alias: value})
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            if _short(value) not in msg:
                msg = f"{msg} (got {_short(value)})"
            raise ConfigError(f"{flag} (or {env})", "", _clip(msg)) from None


def build(profile_path: Path | None = None, nodeconfig_path: Path | None = None,
          overrides: Overrides = Overrides(), token: str | None = None,
          host: HostSnapshot | None = None, *, x509_later: bool = False) -> Settings:
    """Load and merge everything, then validate the result once more as a whole.

    `host` is the environment and host files the run sees (HostSnapshot.take() when None): the one place
    Settings learn them, so that plans stay pure and a Settings made directly reads nothing.

    x509_later (`netcheck run` with a site profile and no NodeConfig): the CA is checked as text here,
    and parsed as an X.509 certificate by check_pending(settings), which `run` calls while its first
    checks run: cryptography is then imported beside them, not before them. Every other check is
    made here as always; a profile that fails here is validated in full for its message."""
    host = HostSnapshot.take() if host is None else host
    later = x509_later and nodeconfig_path is None  # a NodeConfig run may validate again after DescribeCluster
    pending: list[tuple[str, dict[str, Any]]] = []
    sources: list[str] = []
    data: dict[str, Any] = {}
    if profile_path is not None:
        raw = read_yaml(profile_path)
        context = {X509_LATER: False} if later else None
        data = profile_from_data(raw, str(profile_path), context=context).model_dump(by_alias=True,
                                                                                      exclude_unset=True)
        if context and context[X509_LATER]:
            pending.append((str(profile_path), raw))
        sources.append(str(profile_path))
    try:  # a CA the file holds is owed its X.509 parse: an error after this point reports it first, as before
        if profile_path is not None:
            _resolve_describe(data, profile_path)
        spec = data.setdefault("spec", {})
        cluster = spec.setdefault("cluster", {})
        origin = {k: "profile" for k in cluster if cluster.get(k) not in (None, [])}
        origin.update({k: "profile" for k, v in spec.get("remoteNetwork", {}).items() if v})
        nc = None
        origins: dict[str, str] = {}
        if profile_path is not None:
            for key in ("region", "endpoint", "serviceCidr"):
                if cluster.get(key):
                    origins[f"cluster.{key}"] = f"site profile {profile_path}"
            if spec.get("responder"):
                origins["responder"] = f"site profile {profile_path}"
            if (spec.get("node") or {}).get("ip"):
                origins["node.ip"] = f"site profile {profile_path}, spec.node.ip"
        if nodeconfig_path is not None:
            nc = load_nodeconfig(nodeconfig_path, host_root=host_root(host.environ))
            sources.append(str(nodeconfig_path))
            for key, val in (("name", nc.name), ("region", nc.region), ("endpoint", nc.endpoint),
                             ("certificateAuthority", nc.ca_pem), ("serviceCidr", nc.service_cidr)):
                if val:
                    cluster[key] = val
                    origin[key] = "nodeconfig"
                    if key in ("region", "endpoint", "serviceCidr"):
                        origins[f"cluster.{key}"] = f"NodeConfig {nodeconfig_path}"
            spec["credentials"] = nc.credentials
            hybrid = nc.config.spec.hybrid if nc.config.spec is not None else None
            ra_name = hybrid.iamRolesAnywhere.nodeName if hybrid is not None and hybrid.iamRolesAnywhere else None
            if nc.credentials == "iam-roles-anywhere" and ra_name:
                spec.setdefault("node", {}).setdefault("name", ra_name)
            if nc.node_ip:
                spec.setdefault("node", {})["ip"] = nc.node_ip
                origins["node.ip"] = f"NodeConfig {nodeconfig_path}, kubelet --node-ip"
            data.setdefault("metadata", {}).setdefault("name", nc.name or "nodeconfig")
        o = overrides
        _check_overrides(o)
        for key, val, name in (("region", o.region, "region"), ("endpoint", o.endpoint, "endpoint"),
                               ("serviceCidr", o.service_cidr, "service_cidr")):
            if val is not None:
                cluster[key] = val
                sources.append(f"override cluster.{key}")
                origin[key] = "override"
                origins[f"cluster.{key}"] = o.origins.get(name, "--" + name.replace("_", "-"))
        if o.responder is not None:
            spec["responder"] = o.responder
            origins["responder"] = o.origins.get("responder", "--responder")
        if o.node_ip is not None:
            spec.setdefault("node", {})["ip"] = o.node_ip
            origins["node.ip"] = o.origins.get("node_ip", "--node-ip")
        src = " + ".join(sources) or "defaults"
        context = {X509_LATER: False} if later else None
        profile = validate_profile(data, src, context)
        if context and context[X509_LATER]:
            pending.append((src, data))
    except ConfigError:
        for owed_src, owed in pending:
            validate_profile(owed, owed_src)
        raise
    return Settings(profile=profile, source=src, token=token, nodeconfig=nc, sources=origin, origins=origins,
                    environ=host.environ, timesync=host.timesync, pending=tuple(pending))


def check_pending(settings: Settings) -> None:
    """The X.509 parse of the CA that build(x509_later=True) left out; ConfigError as build would have
    raised it (same source, field and message)."""
    for src, data in settings.pending:
        validate_profile(data, src)


# --- cluster details nodeadm would fetch with eks:DescribeCluster ------------------------

def cluster_lookup_needed(settings: Settings) -> bool:
    """True when nodeadm would call eks:DescribeCluster for this NodeConfig and netcheck may do the same."""
    from netcheck.aws import lookup_disabled

    c = settings.spec.cluster
    if lookup_disabled(settings.environ) or not c.name or not c.region or settings.nodeconfig is None:
        return False  # a site profile states what it knows; only a NodeConfig run does what nodeadm does
    return settings.nodeconfig.needs_cluster_details


def cluster_lookup_note(settings: Settings) -> str:
    """For `netcheck plan`: what `run` will ask eks:DescribeCluster, and what changes with its answer."""
    from netcheck.aws import boto3_available

    if not cluster_lookup_needed(settings):
        return ""
    nc = settings.nodeconfig
    raw = nc.config.spec.cluster if nc is not None and nc.config.spec and nc.config.spec.cluster else None
    missing = [k for k, have in (("endpoint", raw.apiServerEndpoint if raw else None),
                                 ("certificateAuthority", nc.ca_given if nc else None),
                                 ("serviceCidr", raw.cidr if raw else None)) if not have]
    if not boto3_available():
        return (f"eks:DescribeCluster (which nodeadm asks for {', '.join(missing)}) needs boto3: install "
                "netcheck[aws]; without it, run reports these values as unknown (config.cluster.details).")
    more = " and the API endpoint's dns, reach and tls checks are added" if "endpoint" in missing else ""
    return (f"At run time netcheck asks eks:DescribeCluster for {', '.join(missing)} (and the remote networks), as "
            f"nodeadm does, if AWS credentials are present; with an answer, its values are used{more}; without "
            "one, config.cluster.details says why and the chain's issuer is checked instead of verified.")


def with_cluster_details(settings: Settings, lookup: ClusterLookup) -> Settings:
    """Fill what nodeadm fills from DescribeCluster (only fields the NodeConfig leaves empty) and say so."""
    from dataclasses import replace

    if lookup.status != "ok":
        return replace(settings, cluster_lookup=lookup)
    data = settings.profile.model_dump(by_alias=True, exclude_unset=True)
    spec = data.setdefault("spec", {})
    cluster = spec.setdefault("cluster", {})
    remote = spec.setdefault("remoteNetwork", {})
    origin = dict(settings.sources)
    nc = settings.nodeconfig
    raw = nc.config.spec.cluster if nc is not None and nc.config.spec and nc.config.spec.cluster else None
    given = {"endpoint": bool(raw and raw.apiServerEndpoint), "certificateAuthority": bool(nc and nc.ca_given),
             "serviceCidr": bool(raw and raw.cidr)}
    v = lookup.values
    unusable = _unusable_answer(v, cluster)
    for key in ("endpoint", "certificateAuthority", "serviceCidr", "endpointAccess"):
        if key in v and key not in unusable and not cluster.get(key) and not given.get(key, False):
            cluster[key] = v[key]
            origin[key] = "describe-cluster"
    for key in ("nodeCidrs", "podCidrs"):
        if v.get(key) and key not in unusable and not remote.get(key):
            remote[key] = list(v[key])
            origin[key] = "describe-cluster"
    try:
        profile = SiteProfile.model_validate(data)
    except ValidationError as exc:
        err = _validation_error("eks:DescribeCluster", exc, SiteProfile)
        from netcheck.aws import ClusterLookup as Lookup

        bad = Lookup("unavailable", f"eks:DescribeCluster answered, but its answer cannot be used: {err}",
                     None, lookup.values, lookup.api_url, lookup.seconds)
        return replace(settings, cluster_lookup=bad)
    if unusable:  # keep what is usable (remote networks, endpoint, ...) and say what is not
        from dataclasses import replace as dc_replace

        said = "; ".join(f"{k} {why}" for k, why in unusable.items())
        lookup = dc_replace(lookup, message=f"{lookup.message} Not usable from its answer, so left unknown: {said}.")
    return replace(settings, profile=profile, sources=origin, cluster_lookup=lookup)


def _unusable_answer(values: Mapping[str, Any], cluster: Mapping[str, Any]) -> dict[str, str]:
    """Each DescribeCluster value the profile schema refuses (a CA that is no certificate, a CIDR that is
    not one), with the reason; the rest of the answer is still used, as nodeadm uses it field by field."""
    from netcheck.settings.schema import Cluster, RemoteNetwork

    out: dict[str, str] = {}
    for key, model in (("endpoint", Cluster), ("certificateAuthority", Cluster), ("serviceCidr", Cluster),
                       ("endpointAccess", Cluster), ("nodeCidrs", RemoteNetwork), ("podCidrs", RemoteNetwork)):
        if key not in values or values[key] in (None, []):
            continue
        probe: dict[str, Any] = {key: values[key]}
        if key == "endpoint" and cluster.get("region"):
            probe["region"] = cluster["region"]  # the endpoint must be in the cluster's Region
        try:
            model.model_validate(probe)
        except ValidationError as exc:
            out[key] = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return out


def enrich_from_aws(settings: Settings, timeout: float) -> Settings:
    """At run time (never in `plan`): ask eks:DescribeCluster when nodeadm would, and merge the answer."""
    if not cluster_lookup_needed(settings):
        return settings
    from netcheck.aws import describe_cluster

    c = settings.spec.cluster
    assert c.region is not None and c.name is not None
    return with_cluster_details(settings, describe_cluster(c.region, c.name, timeout))
