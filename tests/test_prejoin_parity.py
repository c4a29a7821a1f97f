"""Issue 22: a pre-join GO means `nodeadm init` will not stop on network or config grounds.

Each rule is tested with a NodeConfig fixture (tests/fixtures/prejoin/*.yaml) or a
host tree under NETCHECK_HOST_ROOT; network parts use real sockets on loopback. The nodeadm file:line
behind each rule is in docs/reference/eks-hybrid-network-requirements.md §13.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck.aws import ClusterLookup
from netcheck.model import Severity, Status
from netcheck.net import Net
from netcheck.phase import with_phase
from netcheck.settings import ConfigError, Settings, SiteProfile, Thresholds, build
from netcheck.settings.loading import profile_from_data
from netcheck.settings.merge import with_cluster_details
from probes import clock, config, coredns, dropins, interface
from probes.endpoints import aws_targets

ROOT = Path(__file__).resolve().parent.parent
NODEADM = ROOT / "tests" / "fixtures" / "nodeadm"
PREJOIN = ROOT / "tests" / "fixtures" / "prejoin"  # NodeConfigs nodeadm's decoder and validator accept
T = Thresholds()


def _loopback_only(host: object) -> None:
    """Refuse any address this process could reach beyond loopback (AF_UNIX paths pass)."""
    import ipaddress

    if isinstance(host, str):
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return  # an AF_UNIX path
        assert ip.is_loopback, f"a test here tried to reach {host}: only loopback is allowed"


@pytest.fixture(autouse=True)
def _no_lookup_or_traffic_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixtures name real AWS hosts (tests/fixtures/prejoin/*.yaml): in this process no name is resolved
    and nothing is sent beyond loopback; a test that tried would fail here, not reach AWS."""
    real_getaddrinfo, real_connect, real_connect_ex, real_sendto = (
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host not in (None, "localhost"):
            import ipaddress

            try:
                ipaddress.ip_address(str(host).split("%")[0])
            except ValueError:
                raise AssertionError(f"a test here tried to resolve {host!r}") from None
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    def connect(self: socket.socket, address: object) -> None:
        _loopback_only(address[0] if isinstance(address, tuple) else address)
        real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        _loopback_only(address[0] if isinstance(address, tuple) else address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def sendto(self: socket.socket, data: bytes, *args: object) -> int:
        address = args[-1]
        _loopback_only(address[0] if isinstance(address, tuple) else address)
        return real_sendto(self, data, *args)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)


def _config_outcome(settings: Settings, subject: str) -> tuple[Status, str]:
    (check,) = [c for c in config.plan(settings) if c.id == f"config.nodeconfig.{subject}"]
    out = config.evaluate(check.spec, config.collect(check.spec, Net()), T)
    return out.status, out.message


# --- item 1: node IP outside any possible remote node network ------------------------------

def test_public_node_ip_fails_even_without_node_cidrs() -> None:
    s = build(nodeconfig_path=PREJOIN / "node-ip-public.yaml")
    assert not s.spec.remote_network.node_cidrs
    status, msg = _config_outcome(s, "node-ip")
    assert status == Status.FAIL and "--node-ip=8.8.8.8 is outside RFC 1918" in msg
    assert "not in any of the remote network CIDR blocks" in msg


def test_rfc1918_node_ip_of_nodeadms_own_fixture_passes() -> None:
    s = build(nodeconfig_path=NODEADM / "init-with-node-ip-validation--config-ip-in-range.yaml")
    assert _config_outcome(s, "node-ip")[0] == Status.PASS


def test_describe_cluster_answer_kept_field_by_field() -> None:
    s = build(nodeconfig_path=NODEADM / "init-with-config-enrichment--config.yaml")
    lookup = ClusterLookup("ok", "eks:DescribeCluster answered.", values={
        "certificateAuthority": "bm90IGEgY2VydGlmaWNhdGU=", "serviceCidr": "172.20.0.0/16",
        "nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["192.168.64.0/18"]})
    got = with_cluster_details(s, lookup)
    assert got.spec.remote_network.node_cidrs == ["192.168.50.0/24"]
    assert got.spec.cluster.service_cidr == "172.20.0.0/16" and got.spec.cluster.certificate_authority is None
    assert got.cluster_lookup is not None and got.cluster_lookup.status == "ok"
    assert "certificateAuthority" in got.cluster_lookup.message and "left unknown" in got.cluster_lookup.message


# --- item 2: IAM Roles Anywhere certificate and key ---------------------------------------

def _cert(tmp: Path, days_from: int, days_to: int) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mock-hybrid-node")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now + datetime.timedelta(days=days_from))
            .not_valid_after(now + datetime.timedelta(days=days_to)).sign(key, hashes.SHA256()))
    (tmp / "etc/iam/pki").mkdir(parents=True, exist_ok=True)
    c, k = tmp / "etc/iam/pki/server.pem", tmp / "etc/iam/pki/server.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


def _iam_nodeconfig(tmp: Path, cert: str, key: str) -> Path:
    text = (PREJOIN / "iam-ra-dev-zero.yaml").read_text()
    nc = tmp / "nodeConfig.yaml"
    nc.write_text(text.replace("certificatePath: /dev/zero", f"certificatePath: {cert}")
                  .replace("privateKeyPath: /dev/zero", f"privateKeyPath: {key}"))
    return nc


@pytest.mark.parametrize(("days", "phase", "want", "words"), [
    ((-1, 30), "pre-join", Status.PASS, "are on this host"),
    ((-30, -1), "pre-join", Status.FAIL, "expired on"),
    ((-30, -1), "joined", Status.WARN, "expired on"),
    ((1, 30), "pre-join", Status.FAIL, "is not valid before"),
])
def test_iam_ra_certificate_judged_per_phase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             days: tuple[int, int], phase: str, want: Status, words: str) -> None:
    _cert(tmp_path, *days)
    monkeypatch.setenv("NETCHECK_HOST_ROOT", str(tmp_path))  # the files are read below the host root
    s = with_phase(build(nodeconfig_path=_iam_nodeconfig(tmp_path, "/etc/iam/pki/server.pem",
                                                         "/etc/iam/pki/server.key")), phase)
    status, msg = _config_outcome(s, "iam-roles-anywhere")
    assert status == want and words in msg, msg


def test_iam_ra_missing_key_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cert(tmp_path, -1, 30)
    monkeypatch.setenv("NETCHECK_HOST_ROOT", str(tmp_path))
    s = build(nodeconfig_path=_iam_nodeconfig(tmp_path, "/etc/iam/pki/server.pem", "/etc/iam/pki/absent.key"))
    status, msg = _config_outcome(with_phase(s, "pre-join"), "iam-roles-anywhere")
    assert status == Status.FAIL and "/etc/iam/pki/absent.key is not on this host" in msg


def _netcheck(args: list[str], timeout: float, limit: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "netcheck", *args]
    if limit:
        cmd = ["prlimit", f"--as={limit}", "--", *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NETCHECK_DESCRIBE_CLUSTER": "off"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
                          check=False)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")
def test_dev_zero_certificate_does_not_grow_memory() -> None:
    """Under a 1.5 GiB address-space cap: reading /dev/zero unbounded would die with MemoryError."""
    proc = _netcheck(["plan", "--nodeconfig", str(PREJOIN / "iam-ra-dev-zero.yaml")], 120, str(1536 << 20))  # bytes: util-linux prlimit crashes on "1536M" here
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MemoryError" not in proc.stderr and "Traceback" not in proc.stderr
    s = build(nodeconfig_path=PREJOIN / "iam-ra-dev-zero.yaml")
    status, msg = _config_outcome(with_phase(s, "pre-join"), "iam-roles-anywhere")
    assert status == Status.FAIL and "/dev/zero" in msg and "character device" in msg


def test_fifo_certificate_does_not_hang_plan_or_run(tmp_path: Path) -> None:
    fifo = tmp_path / "cert.fifo"
    os.mkfifo(fifo)
    nc = _iam_nodeconfig(tmp_path, str(fifo), str(fifo))
    assert _netcheck(["plan", "--nodeconfig", str(nc)], 120).returncode == 0
    proc = _netcheck(["run", "--nodeconfig", str(nc), "--only", "config.*", "--format", "json", "--deadline", "20"],
                     120)
    assert proc.returncode in (3, 4), proc.stderr[-2000:]
    assert "FIFO" in proc.stdout and "config.nodeconfig.iam-roles-anywhere" in proc.stdout


# --- item 3: STS when nodeadm will call DescribeCluster ------------------------------------

def _sts(settings: Settings) -> tuple[bool, str]:
    (t,) = [t for t in aws_targets(settings) if t.subject == "sts"]
    return t.required, t.why


def test_sts_required_when_nodeadm_describes_the_cluster() -> None:
    required, why = _sts(build(nodeconfig_path=NODEADM / "init-with-config-enrichment--config.yaml"))
    assert required and "certificateAuthority, cidr" in why and "cluster-access-validation" in why
    required, why = _sts(build(nodeconfig_path=NODEADM / "init-with-ssm--config.yaml"))
    assert not required and "skips eks:DescribeCluster" in why
    proc = _netcheck(["plan", "--nodeconfig", str(NODEADM / "init-with-config-enrichment--config.yaml")], 120)
    assert "sts: required: the NodeConfig lacks certificateAuthority, cidr" in proc.stdout, proc.stdout[-3000:]


# --- item 4 and issue 25 item 4: one Region rule ------------------------------------------------

def test_eusc_region_same_rule_for_nodeconfig_and_profile() -> None:
    s = build(nodeconfig_path=PREJOIN / "region-eusc.yaml")
    assert s.spec.cluster.region == "eusc-de-east-1" and _config_outcome(s, "region")[0] == Status.PASS
    hosts = {t.subject: t.host for t in aws_targets(s)}
    assert hosts["eks"] == "eks.eusc-de-east-1.amazonaws.eu" and hosts["ssm"] == "ssm.eusc-de-east-1.amazonaws.eu"
    assert profile_from_data({"spec": {"cluster": {"region": "eusc-de-east-1"}}}, "p.yaml")


def test_region_typo_fails_in_nodeconfig_and_profile_alike() -> None:
    s = build(nodeconfig_path=PREJOIN / "region-typo.yaml")
    status, msg = _config_outcome(s, "region")
    assert status == Status.FAIL and "did you mean eu-central-1?" in msg
    assert s.spec.cluster.region is None and not [t for t in aws_targets(s) if t.subject == "eks"]
    with pytest.raises(ConfigError, match=r"spec.cluster.region: 'eu-centrla-1' is not a Region of AWS commercial "
                                          r"\(did you mean eu-central-1\?\)"):
        profile_from_data({"spec": {"cluster": {"region": "eu-centrla-1"}}}, "p.yaml")


def test_region_must_be_the_endpoints_own() -> None:
    s = build(nodeconfig_path=PREJOIN / "region-not-endpoints.yaml")
    status, msg = _config_outcome(s, "region")
    assert status == Status.FAIL and "belongs to a cluster in us-west-2, but the Region is us-east-1" in msg
    with pytest.raises(ConfigError, match="belongs to a cluster in us-west-2"):
        profile_from_data({"spec": {"cluster": {"region": "us-east-1",
                                                "endpoint": "https://X.gr7.us-west-2.eks.amazonaws.com"}}}, "p.yaml")


def test_thirteen_upstream_nodeconfigs_still_load() -> None:
    from tests.test_nodeconfig import UPSTREAM_HYBRID

    assert len(UPSTREAM_HYBRID) == 13
    for name in UPSTREAM_HYBRID:
        s = build(nodeconfig_path=NODEADM / name)
        assert s.spec.cluster.region == "us-west-2", name


# --- item 8: private installs, fallback registry ------------------------------------------

def _profile(spec: dict[str, object]) -> Settings:
    return Settings(profile=SiteProfile.model_validate({"spec": spec}), source="test", environ={})


def test_mirror_replaces_public_install_endpoints() -> None:
    base = {"cluster": {"region": "us-west-2"}, "credentials": "ssm"}
    subjects = {t.subject for t in aws_targets(_profile(base))}
    assert {"hybrid-assets", "ssm-installer"} <= subjects
    s = _profile({**base, "aws": {"mirror": "https://mirror.dc1.internal:8443/eks-hybrid/manifest.yaml"}})
    targets = {t.subject: t for t in aws_targets(s)}
    assert "hybrid-assets" not in targets and "ssm-installer" not in targets
    m = targets["install-mirror"]
    assert (m.host, m.port, m.required, m.tls) == ("mirror.dc1.internal", 8443, True, True)
    s = _profile({**base, "aws": {"mirror": "file:///srv/eks-hybrid/manifest.yaml"}})
    assert not {"hybrid-assets", "ssm-installer", "install-mirror"} & {t.subject for t in aws_targets(s)}
    with pytest.raises(ConfigError, match="must be an https://, http:// or file:// URL"):
        profile_from_data({"spec": {"aws": {"mirror": "ftp://x"}}}, "p.yaml")


def test_fallback_image_registry_is_advisory() -> None:
    targets = {t.subject: t for t in aws_targets(_profile({"cluster": {"region": "af-south-1"}}))}
    fb = targets["ecr-dkr-fallback"]
    assert fb.host == "602401143452.dkr.ecr.us-west-2.amazonaws.com" and not fb.required
    assert targets["ecr-dkr"].host == "877085696533.dkr.ecr.af-south-1.amazonaws.com"
    assert "ecr-dkr-fallback" not in {t.subject for t in aws_targets(_profile({"cluster": {"region": "us-west-2"}}))}


# --- item 5: proxy drop-ins -----------------------------------------------------------------

PROXY = {"HTTPS_PROXY": "http://proxy.dc1:3128", "HTTP_PROXY": "http://proxy.dc1:3128", "NO_PROXY": "10.0.0.0/8"}
GOOD = '[Service]\nEnvironment="HTTP_PROXY=http://proxy.dc1:3128"\nEnvironment="HTTPS_PROXY=http://proxy.dc1:3128"\n' \
       'Environment="NO_PROXY=10.0.0.0/8"\n'


def _host(tmp: Path, os_id: str, files: dict[str, str]) -> Path:
    (tmp / "etc").mkdir(parents=True, exist_ok=True)
    (tmp / "etc/os-release").write_text(f'NAME="x"\nID={os_id}\n')
    for path, text in files.items():
        p = tmp / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp


def _dropins(tmp: Path, phase: str = "pre-join", env: dict[str, str] = PROXY) -> dict[str, tuple[Status, str]]:
    s = with_phase(Settings(profile=SiteProfile.model_validate({"spec": {"credentials": "ssm"}}), source="t",
                            environ=env), phase)
    net = Net(root=str(tmp))
    out = {}
    for c in dropins.plan(s):
        o = dropins.evaluate(c.spec, dropins.collect(c.spec, net), T)
        out[c.id.rsplit(".", 1)[1]] = (o.status, o.message)
    return out


def test_no_proxy_plans_no_dropin_checks(tmp_path: Path) -> None:
    assert _dropins(tmp_path, env={}) == {}


def test_dropins_complete_pass(tmp_path: Path) -> None:
    root = _host(tmp_path, "ubuntu", {dropins.KUBELET: GOOD, dropins.CONTAINERD_NODEADM: GOOD, dropins.SSM_SNAP: GOOD,
                                      "/etc/apt/apt.conf.d/proxy.conf": 'Acquire::http::Proxy "http://proxy.dc1:3128";\n'
                                      'Acquire::https::Proxy "http://proxy.dc1:3128";\n'})
    got = _dropins(root)
    assert {k: v[0] for k, v in got.items()} == {"kubelet": Status.PASS, "containerd": Status.PASS,
                                                 "ssm": Status.PASS, "package-manager": Status.PASS}, got


def test_dropins_missing_or_wrong_fail_pre_join(tmp_path: Path) -> None:
    root = _host(tmp_path, "rhel", {dropins.CONTAINERD_DOCS: GOOD, dropins.SSM_RPM: GOOD.replace("3128", "8080"),
                                    "/etc/yum.conf": "[main]\ngpgcheck=1\n"})
    got = _dropins(root)
    assert got["kubelet"][0] == Status.FAIL and "kubelet.service.d/http-proxy.conf does not exist" in got["kubelet"][1]
    status, msg = got["containerd"]
    assert status == Status.FAIL and f"{dropins.CONTAINERD_DOCS} exists and systemd reads it, but nodeadm " \
                                      f"checks {dropins.CONTAINERD_NODEADM}" in msg
    assert got["ssm"][0] == Status.FAIL and "lacks HTTP_PROXY=" in got["ssm"][1]
    assert got["package-manager"][0] == Status.FAIL and "/etc/yum.conf lacks" in got["package-manager"][1]
    joined = _dropins(root, "joined")
    assert joined["containerd"][0] == Status.PASS  # systemd reads the guide's path: the running service has it


def test_dropin_no_proxy_difference_warns_and_unsupported_os_fails(tmp_path: Path) -> None:
    root = _host(tmp_path / "a", "amzn", {dropins.KUBELET: GOOD.replace("10.0.0.0/8", "localhost")})
    assert _dropins(root)["kubelet"][0] == Status.WARN
    root = _host(tmp_path / "b", "debian", {dropins.KUBELET: GOOD})
    status, msg = _dropins(root)["kubelet"]
    assert status == Status.FAIL and "unsupported operating system" in msg


def test_dropin_fifo_does_not_hang(tmp_path: Path) -> None:
    root = _host(tmp_path, "ubuntu", {})
    (root / dropins.KUBELET.lstrip("/")).parent.mkdir(parents=True)
    os.mkfifo(root / dropins.KUBELET.lstrip("/"))
    status, msg = _dropins(root)["kubelet"]
    assert status == Status.FAIL and "FIFO" in msg


# --- item 6: time sync state ------------------------------------------------------------------

CHRONY_SYNCED = """Reference ID    : C0A80101 (192.168.1.1)
Stratum         : 3
System time     : 0.000012 seconds fast of NTP time
Leap status     : Normal
"""


@pytest.mark.parametrize(("chronyc", "kernel", "want"), [
    (CHRONY_SYNCED, True, Status.PASS),
    (CHRONY_SYNCED.replace("C0A80101 (192.168.1.1)", "7F7F0101 (127.0.0.1)"), True, Status.WARN),
    (CHRONY_SYNCED.replace("Normal", "Not synchronised"), True, Status.WARN),
    (None, False, Status.WARN),
    (None, True, Status.PASS),
])
def test_sync_state_as_nodeadm_debug_reads_it(chronyc: str | None, kernel: bool, want: Status) -> None:
    out = clock.evaluate(clock.Spec("sync"), clock.SyncEvidence(chronyc, "", kernel), T)
    assert out.status == want, out.message


def test_sync_state_reads_the_real_kernel_flag() -> None:
    (check,) = [c for c in clock.plan(_profile({})) if c.id == "clock.sync.state"]
    ev = clock.collect(check.spec, Net())
    assert isinstance(ev, clock.SyncEvidence) and isinstance(ev.kernel_synced, bool)
    import ctypes

    tx = (ctypes.c_char * 208)()
    state = ctypes.CDLL("libc.so.6").adjtimex(tx)
    assert ev.kernel_synced is (state != 5)  # TIME_ERROR (5) is returned exactly when STA_UNSYNC is set


# --- item 7: interface MTU rule ---------------------------------------------------------------

@pytest.mark.parametrize(("mtu", "ok"), [(67, False), (68, True), (1500, True), (1501, False), (7999, False),
                                         (8000, True), (9001, True), (9002, False)])
def test_interface_mtu_ranges(mtu: int, ok: bool) -> None:
    out = interface.evaluate(interface.Spec("10.0.0.5"), interface.Evidence("10.0.0.5", "eth0", mtu, "configured"), T)
    assert (out.status == Status.PASS) is ok and (out.status == Status.WARN) is (not ok)


def test_interface_mtu_read_from_the_kernel() -> None:
    """The default-route interface (the kubelet's pick without --node-ip), read with SIOCGIFMTU."""
    if Net().default_route() is None:
        pytest.skip("this host has no IPv4 default route")
    ev = interface.collect(interface.Spec(None), Net())
    assert ev.interface and ev.mtu == int(Path(f"/sys/class/net/{ev.interface}/mtu").read_text()), ev
    assert interface.collect(interface.Spec("192.0.2.1"), Net()).error == "no interface of this host holds 192.0.2.1"


# --- item 9: mixed mode DNS, real sockets on loopback -------------------------------------------

@contextlib.contextmanager
def _coredns(ip: str) -> Iterator[None]:
    import dns.message
    import dns.rcode

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp.bind((ip, 53))
    tcp.bind((ip, 53))
    tcp.listen(4)
    stop = threading.Event()

    def serve() -> None:
        udp.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = udp.recvfrom(4096)
            except TimeoutError:
                continue
            resp = dns.message.make_response(dns.message.from_wire(data))
            resp.set_rcode(dns.rcode.NXDOMAIN)
            udp.sendto(resp.to_wire(), peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(5)
        udp.close()
        tcp.close()


def _coredns_run(ip: str) -> dict[str, Status]:
    s = _profile({"dns": {"vpcCoreDns": [ip]}, "remoteNetwork": {"podCidrs": ["192.168.64.0/18"]}})
    checks = coredns.plan(s)
    assert [c.id for c in checks] == [f"dns.coredns.{ip}.udp", f"dns.coredns.{ip}.tcp"]
    assert all(c.severity == Severity.REQUIRED for c in checks)
    return {c.id.rsplit(".", 1)[1]: coredns.evaluate(c.spec, coredns.collect(c.spec, Net()), T).status
            for c in checks}


@pytest.mark.skipif(os.geteuid() != 0, reason="binding port 53 needs root")
def test_mixed_mode_coredns_udp_and_tcp() -> None:
    ip = f"127.53.{os.getpid() % 250}.{threading.get_ident() % 250 + 1}"
    with _coredns(ip):
        assert _coredns_run(ip) == {"udp": Status.PASS, "tcp": Status.PASS}
    assert _coredns_run(ip) == {"udp": Status.FAIL, "tcp": Status.FAIL}


def test_no_vpc_coredns_plans_nothing() -> None:
    assert coredns.plan(_profile({})) == []


# --- item 10: the hook example ------------------------------------------------------------------

def test_hook_without_profile_warns_and_stops_unless_told(tmp_path: Path) -> None:
    from tests.test_ops_examples import FAKE, REPORTS, _executable, _hook, _hook_env

    fake = _executable(tmp_path / "netcheck", FAKE.format(fixture=REPORTS / "go.json", python=sys.executable, code=0)
                       .replace('out=""', f'echo "$@" > "{tmp_path}/args"\nout=""'))
    marker = tmp_path / "joined"
    proc = _hook(_hook_env(tmp_path, fake), "touch", str(marker))
    assert proc.returncode == 4 and not marker.exists(), proc.stderr
    assert "WARNING: no site profile" in proc.stderr and "every cidr.* check SKIPs" in proc.stderr
    assert "--quiet" in (tmp_path / "args").read_text().split()
    proc = _hook(_hook_env(tmp_path, fake, NETCHECK_WITHOUT_PROFILE="continue"), "touch", str(marker))
    assert proc.returncode == 0 and marker.exists(), proc.stderr
    missing = _hook(_hook_env(tmp_path, tmp_path / "nope"), "true")
    assert "pipx install netcheck" in missing.stderr and "pip install" not in missing.stderr.replace("pipx install", "")
