"""Every file netcheck reads goes through netcheck/safeio.py's bounded reader (issue 24 item 1).

An AST scan over netcheck/ and probes/ finds each call that opens or reads a file by path
(`open()`, `io.open`, `os.open`, `Path.open`, `.read_text()`, `.read_bytes()`); outside safeio.py,
each must be on the allow-list below with the reason it is safe. A new reader that bypasses
`read_limited`/`read_optional` fails this test until it is either converted or justified here.
The reader itself is then tested against what an attacker would plant: /dev/zero, a FIFO, a huge
file, a deadline that has passed.
"""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

from netcheck import safeio
from netcheck.safeio import FileProblem, read_limited, read_optional

ROOT = Path(__file__).resolve().parent.parent
READ_ATTRS = {"read_text", "read_bytes", "open"}

# (file, enclosing function) → why reading there without safeio is safe. Kernel pseudo-files at
# fixed paths under /proc and /sys (never below NETCHECK_HOST_ROOT, never named by a file or a peer).
ALLOWED: dict[tuple[str, str], str] = {
    ("netcheck/safeio.py", "read_limited"): "the reader itself",
    ("netcheck/safeio.py", "_umask"): "/proc/self/status, the kernel's own",
    ("netcheck/safeio.py", "check_output"): "opens the -o target for writing (checked device or FIFO)",
    ("netcheck/safeio.py", "_open_parent"): "the -o parent directory, O_PATH, held for openat",
    ("netcheck/safeio.py", "_create_at"): "creates a temporary file, O_EXCL|O_NOFOLLOW, below a held directory",
    ("netcheck/safeio.py", "write_atomic"): "the parent directory, O_PATH, for openat/renameat",
    ("netcheck/net/icmp.py", "ping_group_range"): "/proc/sys/net/ipv4/ping_group_range, fixed kernel path",
    ("netcheck/net/listen.py", "port_in_use"): "/proc/net/tcp{,6}, fixed kernel paths",
    ("netcheck/net/host.py", "tcp_listening"): "/proc/net/tcp{,6}, fixed kernel paths",
    ("netcheck/net/routes.py", "sysctl"): "/proc/sys of this namespace, fixed kernel path",
    ("netcheck/net/routes.py", "netstat_counter"): "/proc/thread-self/net/netstat, fixed kernel path",
    ("netcheck/responder/limits.py", "nic_speed_mbps"): "/sys/class/net/*/speed, sysfs",
    ("netcheck/responder/limits.py", "cgroup_cpus"): "cgroup cpu.max / cpu.cfs_*, cgroupfs",
    ("netcheck/responder/limits.py", "_vm_size"): "/proc/self/status, the kernel's own",
    ("netcheck/responder/limits.py", "_pids_left"): "cgroup pids.max / pids.current, cgroupfs",
}
PENDING: dict[tuple[str, str], str] = {}  # readers still to move to safeio (none)


def _readers() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for base in ("netcheck", "probes"):
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(), rel)
            parents: dict[ast.AST, ast.AST] = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                hit = (isinstance(f, ast.Name) and f.id == "open") or (
                    isinstance(f, ast.Attribute) and f.attr in READ_ATTRS
                    and not (isinstance(f.value, ast.Name) and f.value.id in ("webbrowser", "tarfile")))
                if not hit:
                    continue
                up: ast.AST | None = node
                while up is not None and not isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    up = parents.get(up)
                found.add((rel, up.name if isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)) else "<module>"))
    return found


def test_every_file_read_goes_through_safeio_or_is_justified() -> None:
    found = _readers()
    unexplained = sorted(found - ALLOWED.keys() - PENDING.keys())
    assert not unexplained, ("these functions read files without netcheck.safeio.read_limited/read_optional: "
                             f"{unexplained}; convert them, or add them to ALLOWED with the reason")
    stale = sorted(ALLOWED.keys() - found)
    assert not stale, f"allow-list entries that no longer read a file (remove them): {stale}"


def test_the_scan_sees_each_kind_of_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan cannot pass by seeing nothing: each reading form in a planted module is found."""
    fake = tmp_path / "netcheck"
    fake.mkdir()
    (tmp_path / "probes").mkdir()
    (fake / "m.py").write_text("from pathlib import Path\n"
                               "def a(p): return open(p).read()\n"
                               "def b(p): return Path(p).read_text()\n"
                               "def c(p): return Path(p).read_bytes()\n"
                               "def d(p):\n    with Path(p).open() as f:\n        return f.read()\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert _readers() == {("netcheck/m.py", n) for n in "abcd"}


def test_reader_refuses_devices_fifos_and_big_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    for path, why in ((Path("/dev/zero"), "a character device"), (fifo, "a FIFO"), (tmp_path, "a directory"),
                      (big, "2048 bytes")):
        t0 = time.monotonic()
        with pytest.raises(FileProblem, match=why):
            read_limited(path, 1024, "test file")
        assert time.monotonic() - t0 < 2
        assert read_optional(path, 1024) is None
    assert read_optional(tmp_path / "absent", 1024) is None


def test_reader_stops_at_the_deadline(tmp_path: Path) -> None:
    f = tmp_path / "resolv.conf"
    f.write_text("nameserver 127.0.0.1\n")
    assert read_optional(f, 1024) == "nameserver 127.0.0.1\n"
    safeio.set_deadline(time.monotonic() - 1)
    try:
        with pytest.raises(FileProblem, match="--deadline passed"):
            read_limited(f, 1024, "resolver configuration")
        assert read_optional(f, 1024) is None
        assert read_limited(f, 1024, until=time.monotonic() + 5) == f.read_bytes()  # an explicit bound wins
    finally:
        safeio.set_deadline(None)


def test_host_files_resolv_conf_and_timesync_refuse_a_planted_fifo_and_dev_zero(tmp_path: Path) -> None:
    """What NETCHECK_HOST_ROOT, resolv.conf and chrony readers see when the file is hostile: absent, at once."""
    from netcheck.net.host import read_text
    from netcheck.net.lookup import hosts_file_lookup, read_resolv_conf
    from netcheck.timesync import servers_from_config

    etc = tmp_path / "etc" / "sysctl.d"
    etc.mkdir(parents=True)
    os.mkfifo(etc / "99-nodeadm.conf")
    (tmp_path / "etc" / "zero.conf").symlink_to("/dev/zero")
    t0 = time.monotonic()
    assert read_text(str(tmp_path), "/etc/sysctl.d/99-nodeadm.conf") is None
    assert read_text(str(tmp_path), "/etc/zero.conf") is None
    assert read_resolv_conf(etc / "99-nodeadm.conf", env={}).attempts == read_resolv_conf(tmp_path / "no", env={}).attempts
    assert hosts_file_lookup("x", "A", tmp_path / "etc" / "zero.conf") == ()
    assert servers_from_config((str(etc / "99-nodeadm.conf"), str(tmp_path / "etc" / "zero.conf")),
                               str(tmp_path / "none")) == ((), "")
    assert time.monotonic() - t0 < 5
