"""What probes share: the exceptions collect() raises to mean SKIP, and small helpers."""

from __future__ import annotations

import fnmatch

from netcheck.model import SkipReason


class ProbeSkip(Exception):
    """Raised by collect() when the check cannot run here; becomes a SKIP result."""

    def __init__(self, reason: SkipReason, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.fix = reason, message, fix


class MissingPrivilege(ProbeSkip):
    """A capability or sysctl is missing; says which and how to grant it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(SkipReason.PRIVILEGE, message, fix)


def matches(check_id: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Glob match over check ids; a bare prefix like 'mtu' or 'reach.eks-api' also matches."""
    for pat in patterns:
        if fnmatch.fnmatchcase(check_id, pat) or check_id == pat or check_id.startswith(pat + "."):
            return True
    return False
