"""Real-network test bed: network namespaces, veth links, nftables, per-namespace DNS."""
