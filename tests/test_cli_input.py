"""Bad input through the real CLI: exit 2, a message naming the file, the field and the problem, no traceback.

Every `run` here carries `--only` with a pattern that matches no check, so even an input that wrongly
passed validation could not send traffic anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BAD = Path("tests/fixtures/bad")
EXAMPLES = Path("examples")
NO_CHECKS = ["--only", "no-such-check-id.*"]

# (fixture, field or position named in the message, words of the problem)
FILE_CASES: list[tuple[str, str, str]] = [
    ("yaml-syntax.yaml", "line 5, column 6", "invalid YAML"),
    ("tab-indent.yaml", "line 4, column 1", "tab character"),
    ("unknown-key-top.yaml", "specs", "unknown field; did you mean 'spec'"),
    ("unknown-key-nested.yaml", "spec.cluster.regoin", "unknown field; did you mean 'region'"),
    ("streams-string.yaml", "spec.bandwidth.streams", "valid integer"),
    ("cluster-list.yaml", "spec.cluster", "must be a mapping (key: value), found a list"),
    ("cidr-invalid.yaml", "spec.vpc.cidrs[0]", "not a valid CIDR"),
    ("cidr-host-bits.yaml", "spec.remoteNetwork.nodeCidrs[0]", "host bits set"),
    ("responder-port-70000.yaml", "spec.responder", "'70000'"),
    ("endpoint-port-0.yaml", "spec.endpoints[0].port", "greater than or equal to 1"),
    ("empty.yaml", "", "file is empty"),
    ("whitespace.yaml", "", "file is empty"),
    ("comments-only.yaml", "", "file is empty"),
    ("binary.yaml", "", "binary file"),
    ("latin1.yaml", "", "not UTF-8"),
    ("nodeconfig-both-creds.yaml", "spec.hybrid", "set only one of ssm and iamRolesAnywhere"),
    ("nodeconfig-no-region.yaml", "spec.hybrid", "this is not a hybrid-node NodeConfig"),
    ("nodeconfig-bad-activation.yaml", "spec.hybrid.ssm.activationCode", "20 to 250"),
    ("nodeconfig-unknown-field.yaml", "spec.cluster.endpoint", "did you mean 'apiServerEndpoint'"),
    ("duplicate-keys.yaml", "line 6, column 3", "duplicate key 'cluster' (first on line 4)"),
    ("wrong-apiversion.yaml", "apiVersion", "'netcheck/v1'"),
    ("wrong-kind.yaml", "kind", "'SiteProfile'"),
    ("top-level-list.yaml", "", "must be a YAML mapping"),
    ("top-level-string.yaml", "", "must be a YAML mapping"),
    ("region-invalid.yaml", "spec.cluster.region", "not an AWS Region code"),
    ("endpoint-http.yaml", "spec.cluster.endpoint", "https:// only"),
    ("ca-not-cert.yaml", "spec.cluster.certificateAuthority", "neither a PEM certificate nor base64"),
    ("ca-bad-pem.yaml", "spec.cluster.certificateAuthority", "not a valid X.509 certificate"),
    ("threshold-negative.yaml", "spec.thresholds.rttMs", "greater than 0"),
    ("threshold-inf.yaml", "spec.thresholds.bandwidthMbps", "finite number"),
    ("peer-ip-invalid.yaml", "spec.peers[1]", "'192.168.50.300' is not a valid IP address"),
    ("pod-address-ipv6.yaml", "spec.inbound.podAddress", "not a valid IPv4 address"),
    ("mtu-max-too-small.yaml", "spec.mtu.max", "576"),
    ("describe-missing.yaml", "spec.vpc.describe.routeTables", "file not found"),
    ("alias-bomb.yaml", "line 5, column 5", "expands to more than 100000 values"),
    ("deeply-nested.yaml", "", "nested too deeply"),
]


def netcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m netcheck ARGS` from the repo root with no NETCHECK_* leaking in from outside."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NETCHECK_")}
    return subprocess.run([sys.executable, "-m", "netcheck", *args], cwd=ROOT, env=clean | (env or {}),
                          capture_output=True, text=True, timeout=60, check=False)


def assert_usage_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "internal error" not in proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def test_every_fixture_is_covered() -> None:
    on_disk = {p.name for p in (ROOT / BAD).iterdir()}
    assert on_disk == {name for name, _, _ in FILE_CASES}
    assert len(FILE_CASES) >= 20


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize(("name", "field", "problem"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_file(command: str, name: str, field: str, problem: str) -> None:
    flag = "--nodeconfig" if name.startswith("nodeconfig-") else "-c"
    path = str(BAD / name)
    extra = NO_CHECKS if command == "run" else []
    proc = netcheck(command, flag, path, *extra)
    assert_usage_error(proc, f"{path}: {field}: " if field else f"{path}: ", problem)


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize(("args", "needles"), [
    pytest.param(["-c", "tests/fixtures/bad/does-not-exist.yaml"],
                 ["tests/fixtures/bad/does-not-exist.yaml: file not found"], id="missing-file"),
    pytest.param(["--nodeconfig", "tests/fixtures/bad/does-not-exist.yaml"],
                 ["tests/fixtures/bad/does-not-exist.yaml: file not found"], id="missing-nodeconfig"),
    pytest.param(["-c", "tests/fixtures/bad"], ["tests/fixtures/bad", "is a directory"], id="directory"),
    pytest.param(["-c", "examples/nodeconfig/ssm.yaml"],
                 ["examples/nodeconfig/ssm.yaml: kind: this is a nodeadm NodeConfig; pass it with --nodeconfig"],
                 id="nodeconfig-as-profile"),
    pytest.param(["--nodeconfig", "examples/profiles/minimal.yaml"],
                 ["examples/profiles/minimal.yaml: kind: this is a netcheck SiteProfile; pass it with -c"],
                 id="profile-as-nodeconfig"),
    pytest.param(["-c", "examples/profiles/minimal.yaml", "--region", "nowhere"],
                 ["--region", "'nowhere' is not an AWS Region code"], id="flag-region"),
    pytest.param(["-c", "examples/profiles/minimal.yaml", "--service-cidr", "172.20.0.1/16"],
                 ["--service-cidr", "host bits set"], id="flag-service-cidr"),
    pytest.param(["-c", "examples/profiles/minimal.yaml", "--endpoint", "http://api.example.internal"],
                 ["--endpoint", "https:// only"], id="flag-endpoint-http"),
    pytest.param(["-c", "examples/profiles/minimal.yaml", "--responder", "10.20.1.10:0"],
                 ["--responder", "not between 1 and 65535"], id="flag-responder-port"),
    pytest.param([], ["give a site profile with -c FILE"], id="no-config"),
])
def test_bad_arguments(command: str, args: list[str], needles: list[str]) -> None:
    extra = NO_CHECKS if command == "run" else []
    assert_usage_error(netcheck(command, *args, *extra), *needles)


@pytest.mark.parametrize(("args", "needles"), [
    pytest.param(["--deadline", "abc"], ["--deadline"], id="deadline-not-a-number"),
    pytest.param(["--deadline", "0"], ["--deadline"], id="deadline-zero"),
    pytest.param(["--deadline", "-5"], ["--deadline"], id="deadline-negative"),
    pytest.param(["--format", "xml"], ["--format", "unknown format 'xml'"], id="unknown-format"),
])
def test_bad_run_flags(args: list[str], needles: list[str]) -> None:
    assert_usage_error(netcheck("run", "-c", "examples/profiles/minimal.yaml", *NO_CHECKS, *args), *needles)


def test_bad_value_from_environment_names_the_variable() -> None:
    proc = netcheck("plan", "-c", "examples/profiles/minimal.yaml", env={"NETCHECK_NODE_IP": "fd00::1"})
    assert_usage_error(proc, "NETCHECK_NODE_IP", "'fd00::1' is not a valid IPv4 address")


def test_bad_config_path_from_environment() -> None:
    proc = netcheck("plan", env={"NETCHECK_CONFIG": "tests/fixtures/bad/cidr-host-bits.yaml"})
    assert_usage_error(proc, "tests/fixtures/bad/cidr-host-bits.yaml: spec.remoteNetwork.nodeCidrs[0]: ")


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("spec:\n  cluster: {regin: x}\n  vpc: {cidrs: 10.0.0.0/8}\n  endpoints: [{hots: a}]\n")
    proc = netcheck("plan", "-c", str(path))
    assert_usage_error(proc, f"{path}: spec.cluster.regin: unknown field; did you mean 'region'?",
                       f"{path}: spec.vpc.cidrs: must be a list", f"{path}: spec.endpoints[0].host: is required",
                       f"{path}: spec.endpoints[0].hots: unknown field; did you mean 'host'?")


def test_a_later_command_in_the_same_process_counts_its_deadline_from_its_own_start() -> None:
    """--deadline counts from the process start for the first command only: a long-lived process (tests,
    embedding) that runs another command gives it its whole deadline, not one that expired long ago."""
    import time

    from typer.testing import CliRunner

    from netcheck import cli

    runner = CliRunner()
    runner.invoke(cli.app, ["version"])
    cli.PROCESS_START = time.monotonic() - 3600  # as if this process had lived an hour
    assert runner.invoke(cli.app, ["version"]).exit_code == 0
    assert time.monotonic() - cli.PROCESS_START < 60
