"""Settings: the site profile and NodeConfig, loaded once, validated, merged (defaults < file < env < flags).

Every problem becomes a ConfigError naming the file, the field and what is wrong. The package:

    schema.py   the SiteProfile schema and its value types (CIDR, IP, host:port, Region, CA)
    errors.py   ConfigError and the translation of pydantic errors into one clipped line per problem
    loading.py  YAML with limits (size, aliases, nodes, duplicate keys); profile and NodeConfig loaders
    merge.py    Settings, Overrides, HostSnapshot (the environment and host files, read once by build()),
                build(), and the cluster details eks:DescribeCluster fills in
    nodeconfig.py  the NodeConfig (node.eks.aws/v1alpha1) mirror: nodeadm's schema, decoder and validator

The partition, Region and CNI tables they validate against are in netcheck/platform.py.
"""

from __future__ import annotations

from netcheck.settings.errors import MAX_MESSAGE, ConfigError, _inner_model, _loc, _validation_error
from netcheck.settings.loading import (
    MAX_ALIASES,
    MAX_BYTES,
    MAX_NODES,
    load_nodeconfig,
    load_profile,
    nodeconfig_from_data,
    parse_yaml,
    profile_from_data,
    read_yaml,
)
from netcheck.settings.merge import (
    HostSnapshot,
    Overrides,
    Settings,
    build,
    check_pending,
    cluster_lookup_needed,
    cluster_lookup_note,
    enrich_from_aws,
    with_cluster_details,
)
from netcheck.settings.schema import (
    DEFAULT_SERVICE_CIDRS,
    IP,
    NODECONFIG_API,
    PROFILE_API,
    Aws,
    Bandwidth,
    Checks,
    Cidr,
    Cluster,
    Cni,
    Dns,
    Endpoint,
    Features,
    Host,
    HostPort,
    Inbound,
    IPv4,
    Latency,
    Metadata,
    Mtu,
    Node,
    Ntp,
    Port,
    Region,
    RemoteNetwork,
    SiteProfile,
    Spec,
    Thresholds,
    Vpc,
    VpcDescribe,
    check_ca,
    decode_ca,
    split_hostport,
)


def node_ip_from_flags(flags: list[str], src: str) -> str | None:
    """The kubelet's --node-ip among NodeConfig kubelet flags (netcheck/settings/nodeconfig.py, imported
    on first use: a run with -c only never needs the NodeConfig module)."""
    from netcheck.settings.nodeconfig import node_ip_from_flags as from_flags

    return from_flags(flags, src)


__all__ = ['DEFAULT_SERVICE_CIDRS', 'IP', 'MAX_ALIASES', 'MAX_BYTES', 'MAX_MESSAGE', 'MAX_NODES', 'NODECONFIG_API', 'PROFILE_API', 'Aws', 'Bandwidth', 'Checks', 'Cidr', 'Cluster', 'Cni', 'ConfigError', 'Dns', 'Endpoint', 'Features', 'Host', 'HostPort', 'HostSnapshot', 'IPv4', 'Inbound', 'Latency', 'Metadata', 'Mtu', 'Node', 'Ntp', 'Overrides', 'Port', 'Region', 'RemoteNetwork', 'Settings', 'SiteProfile', 'Spec', 'Thresholds', 'Vpc', 'VpcDescribe', '_inner_model', '_loc', '_validation_error', 'build', 'check_ca', 'check_pending', 'cluster_lookup_needed', 'cluster_lookup_note', 'decode_ca', 'enrich_from_aws', 'load_nodeconfig', 'load_profile', 'node_ip_from_flags', 'nodeconfig_from_data', 'parse_yaml', 'profile_from_data', 'read_yaml', 'split_hostport', 'with_cluster_details']
