"""The CNI table now lives in netcheck/platform.py (settings and probes both read it); these names are
re-exported so `probes.cnimodel` keeps working."""

from __future__ import annotations

from netcheck.platform import (
    DEFAULT_MODE,
    DOCS_CALICO,
    DOCS_CILIUM,
    ENCAP_OVERHEAD,
    MODE_NAMES,
    MODES,
    PLUGINS,
    WIREGUARD_OVERHEAD,
    WIREGUARD_PORT,
    CniModeError,
    CniModel,
    CniPort,
    for_settings,
    markdown_table,
    model,
    pod_routing,
    table,
)

__all__ = ["DEFAULT_MODE", "DOCS_CALICO", "DOCS_CILIUM", "ENCAP_OVERHEAD", "MODES", "MODE_NAMES", "PLUGINS", "WIREGUARD_OVERHEAD", "WIREGUARD_PORT", "CniModeError", "CniModel", "CniPort", "for_settings", "markdown_table", "model", "pod_routing", "table"]
