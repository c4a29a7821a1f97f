"""The CLI as root on a production node (issue 12, items 7-13), through the real `netcheck` process.

Every case is a file, a signal or a token an operator or an attacker could hand it: `-o` at a
device, a FIFO, a symlink, a directory, under a file, on a read-only or a full filesystem; a
symlink planted at the temporary file's name; SIGTERM/SIGINT during and around the check loop of
`run` and `demo`; /dev/zero, a FIFO and an alias bomb as configuration; malformed reports for
`diff` and `--history`; oversized and binary tokens. Each must end in a clear message naming the
file and the problem and a documented exit code, never a traceback, a hang or a damaged file.

Traffic: the runs use `--only cidr` (no packet leaves the process) except the SIGTERM cases, which
talk to a silent DNS server on 127.0.0.1 or to the demo's loopback stand-ins. Every child process
runs under a 1.5 GB address-space limit and a timeout, so a regression fails instead of eating the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
REPORTS = Path(__file__).parent / "fixtures" / "reports"
PROFILE = """\
apiVersion: netcheck/v1
kind: SiteProfile
metadata: {name: hardening}
spec:
  cluster: {name: hybrid-prod, region: us-west-2}
  credentials: ssm
  remoteNetwork: {nodeCidrs: [192.168.50.0/24], podCidrs: [192.168.64.0/18]}
"""
AS_LIMIT = 1536 << 20
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, mount)")


def _limits(extra: Callable[[], None] | None = None) -> Callable[[], None]:
    def fn() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
        if extra is not None:
            extra()
    return fn


def netcheck(*args: str | Path, timeout: float = 60, env: dict[str, str] | None = None,
             preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "netcheck", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})},
                          preexec_fn=_limits(preexec))
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-2000:]
    return proc


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(PROFILE)
    return path


def run_cidr(profile: Path, *extra: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    """A whole `run` that sends nothing: the address-plan checks alone."""
    return netcheck("run", "-c", profile, "--only", "cidr", "--format", "json", *extra, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def verdict_code() -> int:
    """The exit code of the cidr-only run when its report reaches stdout (NO-GO here: no node IP)."""
    with contextlib.ExitStack() as stack:
        d = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (d / "site.yaml").write_text(PROFILE)
        proc = run_cidr(d / "site.yaml")
    assert json.loads(proc.stdout)["kind"] == "PreflightReport"
    assert proc.returncode in (0, 3, 4)
    return proc.returncode


def _report(text: str) -> dict[str, object]:
    doc = json.loads(text)
    assert doc["kind"] == "PreflightReport"
    return doc  # type: ignore[no-any-return]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if (p.name.startswith(".") and p.name.endswith(".tmp"))
                  or p.name.startswith(".netcheck-probe-"))


# --- 7. -o at something that is not a regular file ---------------------------------------

@root_only
def test_output_character_device_is_written_in_place(tmp_path: Path, profile: Path, verdict_code: int) -> None:
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    proc = run_cidr(profile, "-o", null)
    assert proc.returncode == verdict_code, proc.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)
    assert _leftovers(tmp_path) == []


@root_only
def test_output_device_that_fails_gives_the_report_on_stdout(tmp_path: Path, profile: Path) -> None:
    full = tmp_path / "full"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # /dev/full: every write is ENOSPC
    proc = run_cidr(profile, "-o", full)
    assert proc.returncode == 5, proc.stderr
    assert f"-o {full}: could not write the report (No space left on device)" in proc.stderr
    _report(proc.stdout)
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def _fifo_reader(path: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as f:  # blocks until a writer opens; counts as a reader meanwhile
            got.append(f.read())
    t = threading.Thread(target=read, daemon=True)
    t.start()
    # wait until the thread is parked in open() waiting for a writer (the kernel's wait_for_partner)
    wchan = Path(f"/proc/self/task/{t.native_id}/wchan")
    end = time.monotonic() + 30
    while wchan.read_text() != "wait_for_partner":
        assert time.monotonic() < end, "the FIFO reader never blocked in open()"
        time.sleep(0.01)
    return t, got


def _unblock(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_output_fifo_is_written_in_place(tmp_path: Path, profile: Path, verdict_code: int) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    reader, got = _fifo_reader(fifo)
    try:
        proc = run_cidr(profile, "-o", fifo, timeout=60)
        reader.join(10)
        assert proc.returncode == verdict_code, proc.stderr
        assert got and _report(got[0].decode())["kind"] == "PreflightReport"
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    finally:
        _unblock(fifo)


def test_output_fifo_without_reader_is_refused_before_the_run(tmp_path: Path, profile: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    proc = run_cidr(profile, "-o", fifo, timeout=30)
    assert proc.returncode == 2 and f"-o {fifo}: is a FIFO with no reader" in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 20 and proc.stdout == ""
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("dangling", [False, True])
def test_output_symlink_is_refused_not_followed_or_replaced(tmp_path: Path, profile: Path, dangling: bool) -> None:
    victim = tmp_path / "victim"
    if not dangling:
        victim.write_text("precious\n")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    proc = run_cidr(profile, "-o", link)
    assert proc.returncode == 2 and f"-o {link}: is a symbolic link (to {victim})" in proc.stderr, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert victim.read_text() == "precious\n" if not dangling else not victim.exists()
    assert proc.stdout == ""


def test_output_to_own_descriptors_is_written_in_place(tmp_path: Path, profile: Path, verdict_code: int) -> None:
    """/dev/stdout and /dev/fd/N are symlinks, but to this process's own descriptors: used like a redirect."""
    proc = run_cidr(profile, "-o", "/dev/stdout")
    assert proc.returncode == verdict_code, proc.stderr
    _report(proc.stdout)
    out = tmp_path / "via-fd.json"
    with open(out, "w") as f:
        p = subprocess.run([sys.executable, "-m", "netcheck", "run", "-c", str(profile), "--only", "cidr", "--format",
                            "json", "-o", f"/dev/fd/{f.fileno()}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60, pass_fds=(f.fileno(),))
    assert p.returncode == verdict_code, p.stderr
    _report(out.read_text())


def test_output_directory_is_refused_before_the_run(tmp_path: Path, profile: Path) -> None:
    proc = run_cidr(profile, "-o", tmp_path)
    assert proc.returncode == 2 and f"-o {tmp_path}: is a directory" in proc.stderr, proc.stderr
    assert proc.stdout == "" and _leftovers(tmp_path) == []


def test_output_under_a_file_is_refused_before_the_run(tmp_path: Path, profile: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "out.json"
    proc = run_cidr(profile, "-o", target)
    assert proc.returncode == 2 and f"-o {target}: a parent of it is a file" in proc.stderr, proc.stderr
    deeper = tmp_path / "file" / "sub" / "out.json"
    proc = run_cidr(profile, "-o", deeper)
    assert proc.returncode == 2 and str(deeper) in proc.stderr and "a parent" in proc.stderr, proc.stderr


@pytest.fixture
def small_tmpfs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A 16 KiB tmpfs in the test's directory (read-only when parametrised so), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    opts = "size=16k" + (",ro" if getattr(request, "param", "") == "ro" else "")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "netcheck-test", str(mnt)], capture_output=True,
                         text=True, timeout=20)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=20)


@pytest.mark.parametrize("small_tmpfs", ["ro"], indirect=True)
def test_output_on_read_only_filesystem_is_refused_before_the_run(small_tmpfs: Path, profile: Path) -> None:
    target = small_tmpfs / "out.json"
    proc = run_cidr(profile, "-o", target)
    assert proc.returncode == 2, proc.stderr
    assert f"-o {target}: cannot create a file in {small_tmpfs} (Read-only file system)" in proc.stderr
    assert proc.stdout == ""


def test_output_on_full_filesystem_prints_the_report_and_exits_5(small_tmpfs: Path, profile: Path) -> None:
    fd = os.open(small_tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        for _ in range(64):
            os.write(fd, b"\0" * 1024)
    os.close(fd)
    target = small_tmpfs / "netcheck.prom"
    target.write_text("# the previous run's metrics\n") if os.statvfs(small_tmpfs).f_bavail else None
    before = target.read_text() if target.exists() else None
    proc = run_cidr(profile, "-o", target)
    assert proc.returncode == 5, proc.stderr
    assert f"-o {target}: could not write the report (No space left on device); the report follows on stdout" \
        in proc.stderr
    _report(proc.stdout)
    assert (target.read_text() if target.exists() else None) == before  # the old file is intact, not truncated
    assert _leftovers(small_tmpfs) == []


# --- 8. the temporary file ---------------------------------------------------------------

def test_planted_temp_file_symlinks_are_not_followed(tmp_path: Path, profile: Path, verdict_code: int) -> None:
    """An attacker who can write in the output or history directory plants the old predictable names."""
    out_dir, hist = tmp_path / "out", tmp_path / "history"
    out_dir.mkdir()
    hist.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    now = datetime.now(UTC)
    stamps = [(now + timedelta(seconds=s)).strftime("%Y%m%dT%H%M%SZ") for s in range(-2, 40)]

    def plant() -> None:  # in the child, after fork: its PID is the one netcheck will use
        pid = os.getpid()
        os.symlink(victim, out_dir / f".out.json.{pid}.tmp")
        for stamp in stamps:
            os.symlink(victim, hist / f".netcheck-{stamp}-000.json.{pid}.tmp")
            os.symlink(victim, hist / f"netcheck-{stamp}-000.json")  # and at the final name itself

    proc = run_cidr(profile, "-o", out_dir / "out.json", "--history", hist, preexec=plant)
    assert proc.returncode == verdict_code, proc.stderr
    assert victim.read_text() == "precious\n"
    out = out_dir / "out.json"
    assert not out.is_symlink() and _report(out.read_text())["kind"] == "PreflightReport"
    stored = [p for p in hist.glob("netcheck-*.json") if not p.is_symlink()]
    assert len(stored) == 1 and stored[0].name.endswith("-001.json")
    _report(stored[0].read_text())
    assert sum(1 for p in hist.iterdir() if p.is_symlink()) == 2 * len(stamps)  # none replaced or removed


def test_replaced_file_keeps_its_mode_and_owner(tmp_path: Path, profile: Path, verdict_code: int) -> None:
    out = tmp_path / "out.json"
    out.write_text("old\n")
    os.chmod(out, 0o640)
    if os.geteuid() == 0:
        os.chown(out, 4242, 4343)
    before = os.stat(out)
    proc = run_cidr(profile, "-o", out)
    assert proc.returncode == verdict_code, proc.stderr
    after = os.stat(out)
    assert stat.S_IMODE(after.st_mode) == 0o640 and (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino and _report(out.read_text())  # replaced atomically, not rewritten
    new = tmp_path / "new.json"
    proc = run_cidr(profile, "-o", new)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~_umask()  # a new file: as a shell redirect makes it
    assert _leftovers(tmp_path) == []


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


# --- 10. signals -------------------------------------------------------------------------

@pytest.fixture
def silent_dns() -> Iterator[tuple[str, socket.socket]]:
    """A UDP "DNS server" on 127.0.0.1 that never answers: DNS checks wait out their timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{s.getsockname()[1]}", s
    finally:
        s.close()


def _wait_for_query(sock: socket.socket, proc: subprocess.Popen[str]) -> None:
    sock.settimeout(20)
    try:
        sock.recvfrom(2048)  # the check loop has started: a probe asked our server
    except TimeoutError:
        proc.kill()
        pytest.fail("the run never sent its first DNS query")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_run_gives_the_partial_report_and_exit_4(tmp_path: Path, silent_dns: tuple[str, socket.socket],
                                                               sig: signal.Signals) -> None:
    server, sock = silent_dns
    site = tmp_path / "site.yaml"
    site.write_text(PROFILE + f"  dns: {{servers: ['{server}'], timeout: 20}}\n")
    out = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "netcheck", "run", "-c", str(site), "--only", "dns",
                             "--format", "json", "-o", str(out), "--deadline", "60"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limits())
    _wait_for_query(sock, proc)
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert "Traceback" not in err
    assert proc.returncode == 4, (proc.returncode, err)
    assert time.monotonic() - t0 < 10
    doc = _report(out.read_text())
    assert doc["metadata"]["interrupted"] is True  # type: ignore[index]
    assert any(c["evidence"].get("skipReason") == "interrupted" for c in doc["checks"])  # type: ignore[attr-defined]
    assert _leftovers(tmp_path) == []


# Signals exactly before and after the check loop: the child sends itself the signal from inside
# settings loading or rendering (a real signal, delivered at a point a timer could not hit reliably).
_INJECT = """
import os, signal, sys
import netcheck.settings, netcheck.render
where, sig = sys.argv[1], getattr(signal, sys.argv[2])
module = netcheck.settings if where == "before" else netcheck.render
name = "build" if where == "before" else "render"
original = getattr(module, name)
def hooked(*a, **k):
    if not hooked.done:
        hooked.done = True
        os.kill(os.getpid(), sig)
    return original(*a, **k)
hooked.done = False
setattr(module, name, hooked)
sys.argv = ["netcheck"] + sys.argv[3:]
from netcheck.cli import main
main()
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_signal_before_or_after_the_loop_exits_4(profile: Path, where: str, sig: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _INJECT, where, sig, "run", "-c", str(profile), "--only", "cidr",
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          preexec_fn=_limits())
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 4, (proc.returncode, proc.stderr)
    if where == "before":
        assert f"netcheck: interrupted ({sig}) before a report was made" in proc.stderr and proc.stdout == ""
    else:  # every check had finished: the whole report is printed, and the exit code says it was cut short
        doc = _report(proc.stdout)
        assert doc["metadata"]["interrupted"] is False and len(doc["checks"]) == 13  # type: ignore[index,arg-type]


def _key_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("netcheck-tls-*"))


def _demo_sigterm(tmp: Path, wait: float) -> tuple[int, str, str]:
    """Start the demo, SIGTERM it `wait` seconds after its key directory appeared; (code, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "netcheck", "demo", "--format", "json"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limits(),
                            env={**os.environ, "TMPDIR": str(tmp)})
    try:
        end = time.monotonic() + 30
        while not _key_dirs(tmp) and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.005)
        assert _key_dirs(tmp), "the demo never made its key directory"
        time.sleep(wait)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


@pytest.mark.parametrize("when", ["start-up", "checks"])
def test_sigterm_during_demo_removes_the_key_directories(tmp_path: Path, when: str) -> None:
    """The demo writes TLS private keys to temporary directories: SIGTERM must not leave them behind."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # "checks": the signal must land after the stand-ins are up. On a loaded machine start-up can take longer
    # than any fixed guess, so a signal that still landed in start-up (no report) is tried again, later.
    for wait in ((0.0,) if when == "start-up" else (2.5, 5.0, 10.0, 20.0)):
        code, out, err = _demo_sigterm(tmp, wait)
        assert "Traceback" not in err
        assert code == 4, (code, err[-1000:])
        assert list(tmp.iterdir()) == []  # no netcheck-tls-* directory with a server.key is left
        if when == "start-up" or out.strip():
            break
    if when == "checks":
        assert out.strip(), "every SIGTERM landed before the checks started"
        assert _report(out)["metadata"]["interrupted"] is True  # type: ignore[index]


# --- 11. configuration files -------------------------------------------------------------

def test_config_dev_zero_is_refused(tmp_path: Path) -> None:
    for flag in ("-c", "--nodeconfig"):
        t0 = time.monotonic()
        proc = netcheck("run", flag, "/dev/zero", "--only", "cidr", timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "netcheck: /dev/zero: is a character device; netcheck reads its profile or NodeConfig only from a " \
               "regular file" in proc.stderr
        assert time.monotonic() - t0 < 20


def test_config_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "site.yaml"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    try:
        proc = netcheck("run", "-c", fifo, "--only", "cidr", "--deadline", "3", timeout=30)
    except subprocess.TimeoutExpired:
        _unblock(fifo)
        pytest.fail("-c on a FIFO hung past --deadline")
    assert proc.returncode == 2 and f"{fifo}: is a FIFO (named pipe)" in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 10


def _alias_bomb(levels: int = 9) -> str:
    """~800 bytes; nine aliases per level, 81 in all (below the 100-alias cap); 9**9 values expanded."""
    lines = ["apiVersion: node.eks.aws/v1alpha1", "kind: NodeConfig", "spec:",
             "  cluster: {name: c, region: us-west-2}", "  kubelet:", "    config:",
             "      a0: &a0 [" + "x" * 40 + "]"]
    lines += [f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    lines.append(f"  hybrid: {{ssm: {{activationCode: abcdefghijabcdefghijabc, activationId: *a{levels}}}}}")
    return "\n".join(lines) + "\n"


def test_nodeconfig_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    bomb = tmp_path / "nodeconfig.yaml"
    bomb.write_text(_alias_bomb())
    assert len(bomb.read_bytes()) < 1024
    t0 = time.monotonic()
    proc = netcheck("plan", "--nodeconfig", bomb, timeout=60)
    assert proc.returncode == 2, proc.stderr[:500]
    assert f"{bomb}: line 12, column" in proc.stderr and "expands to more than 100000 values" in proc.stderr
    assert time.monotonic() - t0 < 10 and len(proc.stderr) < 400


def test_huge_value_is_not_echoed_in_full(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(PROFILE.replace("region: us-west-2", "region: " + "x" * 200_000))
    proc = netcheck("plan", "-c", site)
    assert proc.returncode == 2 and f"{site}: spec.cluster.region: " in proc.stderr, proc.stderr[:300]
    assert "not an AWS Region code" in proc.stderr and len(proc.stderr) < 1000


# --- 12. malformed reports ---------------------------------------------------------------

def _bad_reports(d: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, words of the reason)."""
    good = json.loads((REPORTS / "go.json").read_text())
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, text: str, why: str) -> None:
        p = d / f"{name}.json"
        p.write_text(text)
        cases[name] = (p, why)

    put("deep", "[" * 100_000 + "]" * 100_000, "nested 100000 levels deep")
    deep_evidence = json.loads(json.dumps(good))
    deep_evidence["checks"][0]["evidence"] = {"x": "PLACEHOLDER"}
    put("deep-evidence", json.dumps(deep_evidence).replace('"PLACEHOLDER"', "[" * 5000 + "]" * 5000), "nested")
    for key, value, why in (("measured", "1" + "0" * 400, "checks[0].measured must be a number, text or null"),
                            ("threshold", "9" * 5000, "not a JSON report"),
                            ("unit", "42", "checks[0].unit must be text or null (found int)")):
        doc = json.loads(json.dumps(good))
        doc["checks"][0][key] = "PLACEHOLDER"
        put(f"bad-{key}", json.dumps(doc).replace('"PLACEHOLDER"', value), why)
    doc = json.loads(json.dumps(good))
    doc["checks"] = [{"id": 1}]
    put("bad-check", json.dumps(doc), "checks[0].id must be text")
    doc = json.loads(json.dumps(good))
    doc["durationSeconds"] = "PLACEHOLDER"
    put("bad-duration", json.dumps(doc).replace('"PLACEHOLDER"', "1" + "0" * 400), "durationSeconds must be a number")
    put("not-json", "{", "not a JSON report")
    put("empty", "", "not a JSON report")
    return cases


def test_diff_answers_2_for_each_malformed_report(tmp_path: Path) -> None:
    good = REPORTS / "go.json"
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    cases = {k: v for k, v in _bad_reports(tmp_path).items()}
    cases["dev-zero"] = (Path("/dev/zero"), "is a character device; netcheck reads its report only from a regular")
    cases["fifo"] = (fifo, "is a FIFO (named pipe)")
    cases["directory"] = (tmp_path, "is a directory")
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(9 << 20)
    cases["huge"] = (huge, f"is {9 << 20} bytes; a report larger than {8 << 20} bytes is not plausible")
    for name, (path, why) in cases.items():
        for args in ((good, path), (path, good)):
            try:
                proc = netcheck("diff", *args, timeout=30)
            except subprocess.TimeoutExpired:
                _unblock(fifo)
                pytest.fail(f"diff hung on {name}")
            assert proc.returncode == 2, (name, proc.returncode, proc.stderr[:500])
            assert str(path) in proc.stderr and why in proc.stderr, (name, proc.stderr[:500])
            assert len(proc.stderr) < 600, name


def test_history_skips_and_names_unreadable_reports(tmp_path: Path, profile: Path, verdict_code: int) -> None:
    hist = tmp_path / "history"
    hist.mkdir()
    good = json.loads((REPORTS / "go.json").read_text())
    good["startedAt"] = "2025-01-01T00:00:00+00:00"
    (hist / "netcheck-20250101T000000Z-000.json").write_text(json.dumps(good))
    names = []
    for i, (_, (path, _why)) in enumerate(sorted(_bad_reports(tmp_path).items()), start=1):
        name = f"netcheck-20250102T0000{i:02d}Z-000.json"
        path.rename(hist / name)
        names.append(name)
    (hist / "netcheck-20250103T000000Z-000.json").symlink_to("/dev/zero")
    proc = run_cidr(profile, "--history", hist, "--format", "table", timeout=120)
    assert proc.returncode == verdict_code, proc.stderr[-2000:]
    # issue 24 item 5: the newest three unreadable reports are named, the rest counted; a link is no report
    for name in names[-3:]:
        assert f"netcheck: warning: --history: skipping {hist / name}: " in proc.stderr, name
    assert f"skipped {len(names) - 3} more unreadable reports in {hist}" in proc.stderr
    assert f"ignoring 1 entry in {hist} named like reports that are not regular files" in proc.stderr
    assert "Since the previous run (2025-01-01T00:00:00+00:00)" in proc.stdout


# --- 13. tokens --------------------------------------------------------------------------

def test_run_token_file(tmp_path: Path, profile: Path, verdict_code: int) -> None:
    good = tmp_path / "token"
    good.write_text("0123456789abcdef0123456789abcdef\n")
    assert run_cidr(profile, "--token-file", good).returncode == verdict_code
    assert run_cidr(profile, env={"NETCHECK_TOKEN_FILE": str(good)}).returncode == verdict_code
    proc = run_cidr(profile, "--token-file", good, "--token", "x")
    assert proc.returncode == 2 and "give the token once" in proc.stderr
    nul = tmp_path / "nul"
    nul.write_bytes(b"abc\0def\n")
    proc = run_cidr(profile, "--token-file", nul)
    assert proc.returncode == 2 and f"--token-file {nul}: the token has a NUL byte at position 4" in proc.stderr
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(50 << 20)
    t0 = time.monotonic()
    proc = run_cidr(profile, "--token-file", big)
    assert proc.returncode == 2 and f"--token-file {big}: cannot read the token: is {50 << 20} bytes" in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 20
    proc = run_cidr(profile, "--token", "t" * 100_000)
    assert proc.returncode == 2 and "the token is 100000 characters long; at most 512" in proc.stderr
    proc = run_cidr(profile, "--token", "two words")
    assert proc.returncode == 2 and "a space or line break at position 4" in proc.stderr


@pytest.mark.parametrize("content", [b"abc\0def\n", b"x" * 5000, b"caf\xc3\xa9-token"],
                         ids=["nul", "5000-bytes", "non-ascii"])
def test_serve_refuses_a_bad_token_file_before_listening(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    try:
        proc = netcheck("serve", "--listen", "127.0.0.1", "--port", "0", "--iperf-port", "0", "--token-file", path,
                        timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("serve started with a token it should have refused")
    assert proc.returncode == 2 and f"--token-file {path}: " in proc.stderr, proc.stderr


# --- 12b. fuzz: any value in any report field is a HistoryError or a report diff can compare ----

_JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-(10 ** 500), max_value=10 ** 500)
                     | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4), max_leaves=12)
_CHECK_KEYS = st.sampled_from(["id", "category", "title", "status", "severity", "measured", "threshold", "unit",
                               "message", "remediation", "docs", "evidence"])
_TOP_KEYS = st.sampled_from(["verdict", "startedAt", "durationSeconds", "metadata", "checks", "summary"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.one_of(_CHECK_KEYS, _TOP_KEYS), value=_JSON, index=st.integers(min_value=0, max_value=3))
def test_fuzz_report_fields_never_crash_load_or_diff(tmp_path: Path, where: str, value: object, index: int) -> None:
    from netcheck import history

    good_doc = json.loads((REPORTS / "go.json").read_text())
    doc = json.loads(json.dumps(good_doc))
    if where in ("verdict", "startedAt", "durationSeconds", "metadata", "checks", "summary"):
        doc[where] = value
    else:
        doc["checks"][index % len(doc["checks"])][where] = value
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(doc))
    good = history.load(REPORTS / "go.json")
    try:
        report = history.load(path)
    except history.HistoryError as exc:
        assert str(exc).startswith(f"{path}: ") and len(str(exc)) < 600
        return
    for a, b in ((good, report), (report, good)):
        history.regression_lines(b, a)
        history.regressions(a, b)
