"""Loopback HTTPS stand-ins: an EKS-like API server and an "AWS endpoint", each with a generated CA.

Certificates come from `cryptography`; `cert=` picks a fault for tests (expired, not yet
valid, wrong name, or issued by another CA as a TLS-inspecting proxy would). Servers run
in daemon threads; the TLS handshake happens in the handler thread, so a silent client
cannot stall the listener. Each server is stopped by the ExitStack it was started on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ipaddress
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CertFault = Literal["good", "expired", "not-yet-valid", "wrong-name", "other-ca"]
GIT_VERSION = "v1.31.2-eks-7f1c2d4"
INTERCEPT_CA = "Example Corp TLS Inspection CA"


@dataclass(frozen=True)
class Authority:
    """A generated CA: its certificate, key and PEM text."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Server:
    """A running stand-in: where it listens and the CA a client should trust."""

    ip: str
    port: int
    ca_pem: str  # the CA the client is expected to trust (not necessarily the signer, for faults)
    ca_file: str  # the same CA written to a file, for SSL_CERT_FILE
    names: tuple[str, ...]
    requests: list[str]  # request paths seen, in order


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def make_ca(cn: str, org: str = "netcheck stand-in") -> Authority:
    """A self-signed P-256 CA valid for a year."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn, org)).issuer_name(_name(cn, org))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Authority(cert, key)


def issue(ca: Authority, names: Iterable[str], not_before: dt.datetime | None = None,
          not_after: dt.datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate from `ca` whose SANs are `names` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    first = next(iter(names), "server")
    cert = (x509.CertificateBuilder().subject_name(_name(str(first), "netcheck stand-in"))
            .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return cert, key


def _faulty(ca: Authority, names: list[str], fault: CertFault) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey,
                                                                        Authority]:
    """(leaf, key, signer) for the requested fault."""
    now = dt.datetime.now(dt.UTC)
    if fault == "expired":
        return *issue(ca, names, now - dt.timedelta(days=30), now - dt.timedelta(days=1)), ca
    if fault == "not-yet-valid":
        return *issue(ca, names, now + dt.timedelta(days=1), now + dt.timedelta(days=30)), ca
    if fault == "wrong-name":
        return *issue(ca, ["wrong-name.example.invalid"]), ca
    if fault == "other-ca":
        other = make_ca(INTERCEPT_CA, "Example Corp")
        return *issue(other, names), other
    return *issue(ca, names), ca


def _tempdir(stack: contextlib.ExitStack) -> Path:
    path = Path(tempfile.mkdtemp(prefix="netcheck-tls-"))
    stack.callback(shutil.rmtree, path, True)
    return path


NOT_FOUND = (404, "application/json", '{"kind":"Status","code":404}')
# What an EKS API server answers an anonymous client on any path it does not let it read.
UNAUTHORIZED = (401, "application/json", '{"kind":"Status","apiVersion":"v1","status":"Failure",'
                '"message":"Unauthorized","reason":"Unauthorized","code":401}')


class _Handler(BaseHTTPRequestHandler):
    server_version = "netcheck-standin"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        skew: float = getattr(self.server, "date_offset", 0.0)
        return email.utils.formatdate((timestamp or time.time()) + skew, usegmt=True)

    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str, str]] = getattr(self.server, "routes", {})
        getattr(self.server, "seen", []).append(self.path)
        status, ctype, body = routes.get(self.path, getattr(self.server, "fallback", NOT_FOUND))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that reject our certificate abort the handshake; that is the point of some tests


def _serve(stack: contextlib.ExitStack, ip: str, port: int, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey,
           chain: list[x509.Certificate], routes: dict[str, tuple[int, str, str]], expected: Authority,
           names: list[str], date_offset: float = 0.0) -> Server:
    tmp = _tempdir(stack)
    cert_file, key_file, ca_file = tmp / "server.pem", tmp / "server.key", tmp / "ca.pem"
    cert_file.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [cert, *chain]))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_file, 0o600)
    ca_file.write_text(expected.pem)
    bound, seen = serve_files(stack, ip, port, cert_file, key_file, routes, date_offset=date_offset)
    return Server(ip, bound, expected.pem, str(ca_file), tuple(names), seen)


def serve_files(stack: contextlib.ExitStack, ip: str, port: int, cert_file: Path, key_file: Path,
                routes: dict[str, tuple[int, str, str]], *, fallback: tuple[int, str, str] = NOT_FOUND,
                date_offset: float = 0.0) -> tuple[int, list[str]]:
    """HTTPS on ip:port with the certificate chain and key in PEM files; (bound port, paths requested)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_file), str(key_file))
    ctx.set_alpn_protocols(["http/1.1"])
    httpd = _Quiet((ip, port), _Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    seen: list[str] = []
    httpd.routes = routes  # type: ignore[attr-defined]
    httpd.seen = seen  # type: ignore[attr-defined]
    httpd.date_offset = date_offset  # type: ignore[attr-defined]
    httpd.fallback = fallback  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name=f"standin-https-{ip}")
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

    stack.callback(stop)
    return int(httpd.server_address[1]), seen


def api_routes(git_version: str = GIT_VERSION) -> dict[str, tuple[int, str, str]]:
    """What an EKS API server lets an anonymous client read: /version, /livez, /healthz, /readyz."""
    version = json.dumps({"major": "1", "minor": "31", "gitVersion": git_version, "platform": "linux/amd64"})
    ok = (200, "text/plain", "ok")
    return {"/version": (200, "application/json", version), "/livez": ok, "/healthz": ok, "/readyz": ok}


def start_api_server(stack: contextlib.ExitStack, ip: str, port: int = 0, names: Iterable[str] = (),
                     *, ca: Authority | None = None, cert: CertFault = "good", livez: int = 200,
                     version: int = 200, git_version: str = GIT_VERSION, date_offset: float = 0.0) -> Server:
    """An EKS-like API server: /livez answers `livez` (200 "ok" or 401/403 for anonymous), /version JSON.

    The returned `ca_pem` is the cluster CA a node would be given; with cert="other-ca"
    the server presents a chain from an inspection CA instead. `date_offset` skews its Date header.
    """
    ca = ca or make_ca("kubernetes", "kubernetes")
    all_names = [*names, ip]
    leaf, key, _ = _faulty(ca, all_names, cert)
    denied = '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","code":%d}'
    routes = {
        "/livez": (200, "text/plain", "ok") if livez == 200 else (livez, "application/json", denied % livez),
        "/version": ((200, "application/json", json.dumps({"major": "1", "minor": "31", "gitVersion": git_version,
                                                           "platform": "linux/amd64"}))
                     if version == 200 else (version, "application/json", denied % version)),
    }
    return _serve(stack, ip, port, leaf, key, [], routes, ca, all_names, date_offset)


def start_endpoint_server(stack: contextlib.ExitStack, ip: str, port: int = 0, names: Iterable[str] = (),
                          *, ca: Authority | None = None, cert: CertFault = "good") -> Server:
    """An "AWS endpoint": its own CA (trust it via `ca_file` as SSL_CERT_FILE); every path → 404 JSON."""
    ca = ca or make_ca("Stand-in Root CA 1", "Amazon (stand-in)")
    all_names = [*names, ip]
    leaf, key, _ = _faulty(ca, all_names, cert)
    return _serve(stack, ip, port, leaf, key, [], {}, ca, all_names)


def use_trust_file(stack: contextlib.ExitStack, path: str) -> None:
    """Point SSL_CERT_FILE at `path` until `stack` closes (for `netcheck demo`)."""
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = path

    def restore() -> None:
        if old is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = old

    stack.callback(restore)


@dataclass(frozen=True)
class DemoTls:
    """The demo's API server and AWS endpoint server, and the spec fields that point at them."""

    api: Server
    endpoints: Server

    @property
    def cluster_fields(self) -> dict[str, object]:
        """Merge into spec.cluster: the endpoint URL (with its port) and the cluster CA."""
        import base64

        host = next(n for n in self.api.names if n != self.api.ip)
        return {"endpoint": f"https://{host}:{self.api.port}",
                "certificateAuthority": base64.b64encode(self.api.ca_pem.encode()).decode()}

    @property
    def aws_fields(self) -> dict[str, object]:
        """Merge into spec.aws: every AWS endpoint is served on this one port."""
        return {"servicePort": self.endpoints.port}


def start(stack: contextlib.ExitStack, api_ip: str, api_host: str, endpoint_ip: str,
          aws_names: Iterable[str]) -> DemoTls:
    """Start both servers for `netcheck demo` and trust the endpoint CA through SSL_CERT_FILE.

    The caller's DNS stand-in must map `api_host` → api_ip and each of `aws_names` → endpoint_ip.
    """
    api = start_api_server(stack, api_ip, names=[api_host], livez=401)
    endpoints = start_endpoint_server(stack, endpoint_ip, names=list(aws_names))
    use_trust_file(stack, endpoints.ca_file)
    return DemoTls(api, endpoints)
