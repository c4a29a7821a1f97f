"""The test bed itself: a path through a router works and is torn down afterwards."""

from __future__ import annotations

import pytest

from testbed.lab import Lab, sh

pytestmark = pytest.mark.netns


def test_hybrid_path_forwards_and_cleans_up() -> None:
    with Lab() as lab:
        node, _router, vpc = lab.hybrid()
        out = lab.run(node, ["ping", "-c1", "-W2", vpc.ip])
        assert "1 received" in out.stdout
        names = [ns.name for ns in lab.namespaces]
    left = sh(["ip", "netns", "list"]).stdout
    assert not any(n in left for n in names)
