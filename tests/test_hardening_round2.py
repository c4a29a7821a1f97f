"""The second abuse round (issue 24) through the real `netcheck` process: large YAML against the
node budget and --deadline, SIGTERM in the first instant of start-up, a clear-text AWS endpoint,
token files readable by others, `-o` whose parent is swapped during the run.

Every child runs under a 1.5 GB address-space limit and a timeout (see test_cli_hardening.py).
Nothing is sent beyond loopback: the runs use `--only cidr`, and the AWS case is refused before
any connection (a socket guard makes the test fail, not connect, if it were not).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netcheck import safeio
from netcheck.settings import ConfigError
from netcheck.settings.loading import MAX_COMPOSED, parse_yaml
from tests.test_cli_hardening import PROFILE, ROOT, _limits, run_cidr


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(PROFILE)
    return path


# --- 3. large YAML: counted while composed, bounded by --deadline -----------------------

def _many_scalars(n: int, flow: bool) -> str:
    head = PROFILE + "  peers:"
    return head + (" [" + ",".join("a" for _ in range(n)) + "]\n" if flow else "\n" + "  - a\n" * n)


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "block"])
def test_a_megabyte_of_plain_scalars_stops_at_the_node_limit(tmp_path: Path, flow: bool) -> None:
    """1 MiB of 500,000 plain scalars: 32 s and 377 MB before; now refused at the limit, in seconds."""
    site = tmp_path / "site.yaml"
    site.write_text(_many_scalars(500_000 if flow else 170_000, flow))
    assert 0.9e6 < site.stat().st_size <= 1 << 20
    t0 = time.monotonic()
    proc = run_cidr(site, "--deadline", "5")
    took = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr[-500:]
    assert f"{site}: line " in proc.stderr and f"has more than {MAX_COMPOSED} values" in proc.stderr
    assert took < 15, took  # generous for a busy machine; ~2.5 s with start-up on a loaded 2-core host


def test_composing_stops_at_the_deadline() -> None:
    text = _many_scalars(MAX_COMPOSED - 100, flow=False).encode()
    assert parse_yaml(text, "site.yaml")["spec"]["peers"][:1] == ["a"]  # under the limit: loads
    safeio.set_deadline(time.monotonic() - 1)
    try:
        with pytest.raises(ConfigError, match="--deadline passed after"):
            parse_yaml(text, "site.yaml")
    finally:
        safeio.set_deadline(None)


def test_yaml_errors_still_name_tabs_with_libyaml() -> None:
    with pytest.raises(ConfigError, match="line 2, column 1: invalid YAML: a tab character"):
        parse_yaml(b"spec:\n\tcluster: {}\n", "site.yaml")


# --- 7. SIGTERM during start-up ------------------------------------------------------------

# The child signals itself at the moment typer is imported (the first heavy import), through an
# import hook: a real signal delivered at a point a timer could not hit reliably.
_EARLY = """
import os, signal, sys
sig = getattr(signal, sys.argv[1])
class Hook:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), sig)
        return None
sys.meta_path.insert(0, Hook())
sys.argv = ["netcheck"] + sys.argv[2:]
from netcheck.cli import main
main()
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_while_importing_gives_exit_4_for_run(profile: Path, sig: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _EARLY, sig, "run", "-c", str(profile), "--only", "cidr",
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          preexec_fn=_limits())
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 4, (proc.returncode, proc.stderr)
    assert f"netcheck: interrupted ({sig}) before a report was made" in proc.stderr and proc.stdout == ""


def test_sigterm_while_importing_other_commands_keeps_the_default() -> None:
    """`version`, `serve`, … do not handle signals: the one that came early ends them as it always did."""
    proc = subprocess.run([sys.executable, "-c", _EARLY, "SIGTERM", "version"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, preexec_fn=_limits())
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, proc.stderr)


# --- 9. a clear-text AWS endpoint is refused ------------------------------------------------

@pytest.mark.parametrize(("url", "refused"), [
    ("https://eks.us-west-2.amazonaws.com", False), ("http://127.0.0.1:5000", False), ("http://[::1]:80", False),
    ("http://localhost:4566", False), ("http://eks.example.internal", True), ("http://10.0.0.1", True),
    ("HTTP://192.0.2.1:80", True), ("ftp://127.0.0.1", True), ("eks.example.internal", True)])
def test_cleartext_endpoint(url: str, refused: bool) -> None:
    from netcheck.aws import cleartext_endpoint

    assert (cleartext_endpoint(url) is not None) == refused


def test_describe_cluster_refuses_http_endpoint_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    from netcheck.aws import describe_cluster

    monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", "http://eks.example.internal")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "secret-session-token")

    def no_network(*a: object, **k: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    found = describe_cluster("us-west-2", "prod", timeout=5)
    assert found.status == "unavailable"
    assert "is not https" in found.message and "clear text" in found.message
    assert found.fix is not None and "https://" in found.fix


# --- 6. -o: the parent directory swapped for a symlink during the run -----------------------

def test_output_parent_swapped_in_process_lands_in_the_held_directory(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    target = safeio.check_output(out / "report.json")
    out.rename(tmp_path / "moved")
    out.symlink_to(elsewhere)
    target.write("{}\n", timeout=5)
    assert (tmp_path / "moved" / "report.json").read_text() == "{}\n"
    assert list(elsewhere.iterdir()) == []


_SWAP = """
import os, sys
import netcheck.render
out, elsewhere = sys.argv[1], sys.argv[2]
original = netcheck.render.render
def swapped(*a, **k):  # while the checks ran, an attacker replaced the output's directory by a symlink
    if not os.path.islink(out):
        os.rename(out, out + ".moved")
        os.symlink(elsewhere, out)
    return original(*a, **k)
netcheck.render.render = swapped
sys.argv = ["netcheck"] + sys.argv[3:]
from netcheck.cli import main
main()
"""


def test_output_parent_swapped_during_the_run_is_not_followed(tmp_path: Path, profile: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-c", _SWAP, str(out), str(elsewhere), "run", "-c", str(profile),
                           "--only", "cidr", "--format", "json", "-o", str(out / "report.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, preexec_fn=_limits())
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 3, 4), proc.stderr[-500:]
    assert out.is_symlink()
    assert list(elsewhere.iterdir()) == []  # nothing in the symlink's target
    assert '"PreflightReport"' in (tmp_path / "out.moved" / "report.json").read_text()
    assert [p.name for p in (tmp_path / "out.moved").iterdir()] == ["report.json"]  # no temporary file left


# --- 8. token files readable by others ------------------------------------------------------

@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o400, False), (0o640, True), (0o644, True),
                                              (0o606, True)])
def test_token_file_readable_by_others_is_warned_about(tmp_path: Path, profile: Path, mode: int,
                                                       warned: bool) -> None:
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    os.chmod(token, mode)
    proc = run_cidr(profile, "--token-file", token)
    assert proc.returncode in (0, 3, 4), proc.stderr[-500:]
    line = f"netcheck: WARNING: the token file {token} has mode {mode:04o}: other users on this host can read"
    assert (line in proc.stderr) == warned, proc.stderr[-500:]
    if warned:
        assert f"chmod 600 {token}" in proc.stderr


def test_serve_warns_about_a_loose_token_file_too(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    os.chmod(token, 0o644)
    proc = subprocess.Popen([sys.executable, "-m", "netcheck", "serve", "--token-file", str(token), "--listen",
                             "127.0.0.1", "--port", "0", "--iperf-port", "0"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_limits())
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the warning comes before anything is served
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "WARNING: the token file" in first and "mode 0644" in first, first
