"""Real-network test bed: network namespaces, veth links, nftables, per-namespace DNS.

Shared by tests/ and bench/, so it lives beside them at the top of the repository; it is not
installed (pyproject's packages.find includes netcheck* only). docs/architecture.md, "The test bed".
"""
