"""TLS handshakes that report why a chain is or is not trusted, optionally through a CONNECT proxy.

OpenSSL (the `ssl` module) gives the verdict, as a client would reach it; `cryptography`
parses the presented chain so a failure can name the issuer, the expiry or the names.
When verification fails, a second handshake without verification collects the chain
and the optional HTTP answers. Every step shares one deadline.
"""

from __future__ import annotations

import base64
import errno
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

Outcome = Literal["connected", "refused", "timeout", "unreachable", "no-route"]
VerifyError = Literal["unknown-issuer", "expired", "not-yet-valid", "name-mismatch", "other"]
MAX_HEADER = 16384
MAX_BODY = 4096
_DER = 2  # _ssl.ENCODING_DER

# OpenSSL X509_V_ERR_* codes → the reason a person would name.
_VERIFY_CODES: dict[int, VerifyError] = {
    2: "unknown-issuer", 18: "unknown-issuer", 19: "unknown-issuer", 20: "unknown-issuer",
    21: "unknown-issuer", 9: "not-yet-valid", 10: "expired", 62: "name-mismatch", 64: "name-mismatch",
}


@dataclass(frozen=True)
class CertInfo:
    """One certificate of the presented chain, as evidence."""

    subject: str
    issuer: str
    issuer_label: str  # the issuer's CN, else its O: what a person calls it
    not_before: float  # POSIX seconds
    not_after: float
    names: tuple[str, ...]  # DNS and IP subject alternative names
    is_ca: bool

    def to_evidence(self) -> dict[str, Any]:
        iso = _iso
        return {"subject": self.subject, "issuer": self.issuer, "notBefore": iso(self.not_before),
                "notAfter": iso(self.not_after), "names": list(self.names[:20]), "isCA": self.is_ca}


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP GET over the TLS connection; times are wall-clock POSIX seconds."""

    path: str
    status: int | None
    reason: str = ""
    date: str | None = None
    body: str = ""
    sent_at: float = 0.0
    received_at: float = 0.0
    error: str | None = None

    def to_evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"path": self.path, "status": self.status, "reason": self.reason,
                              "date": self.date, "body": self.body[:300]}
        if self.error:
            ev["error"] = self.error
        return ev


@dataclass(frozen=True)
class ProxyAnswer:
    """How a CONNECT through an HTTP proxy went: TCP to the proxy, then its status line."""

    proxy: str  # host:port, credentials removed
    target: str
    outcome: Outcome  # TCP connect to the proxy
    status: int | None = None
    reason: str = ""
    seconds: float = 0.0
    authenticate: str | None = None  # Proxy-Authenticate header of a 407
    error: str | None = None  # bad URL, unsupported scheme, no answer, garbled answer

    def to_evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"proxy": self.proxy, "target": self.target, "outcome": self.outcome,
                              "status": self.status, "reason": self.reason, "seconds": round(self.seconds, 4)}
        if self.authenticate:
            ev["proxyAuthenticate"] = self.authenticate
        if self.error:
            ev["error"] = self.error
        return ev


@dataclass(frozen=True)
class TlsResult:
    """Everything one handshake showed. `stage` says how far it got: tcp, proxy, handshake or done."""

    host: str
    ip: str | None
    port: int
    trust: str  # what the chain was verified against
    stage: Literal["tcp", "proxy", "handshake", "done"]
    tcp: Outcome
    tcp_reason: str = ""
    proxy: ProxyAnswer | None = None
    verified: bool = False
    verify_error: VerifyError | None = None
    verify_detail: str = ""
    handshake_error: str = ""
    tls_version: str | None = None
    chain: tuple[CertInfo, ...] = ()
    leads_to: str | None = None  # issuer at the top of the chain (the root for a verified chain)
    anchored: bool | None = None  # chain signed by the expected CA (None: no CA given)
    root_spki: str | None = None  # SHA-256 of the verified root's SubjectPublicKeyInfo (hex), when verified
    name_matches: bool | None = None
    checked_at: float = 0.0
    http: tuple[HttpAnswer, ...] = ()
    seconds: float = 0.0

    def to_evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "host": self.host, "ip": self.ip, "port": self.port, "trust": self.trust, "stage": self.stage,
            "outcome": self.tcp, "reason": self.tcp_reason, "verified": self.verified,
            "verifyError": self.verify_error, "verifyDetail": self.verify_detail,
            "tlsVersion": self.tls_version, "chain": [c.to_evidence() for c in self.chain],
            "leadsTo": self.leads_to, "nameMatches": self.name_matches, "seconds": round(self.seconds, 4),
        }
        if self.chain:
            ev["leafNotAfter"] = _iso(self.chain[0].not_after)
        if self.anchored is not None:
            ev["anchoredInExpectedCa"] = self.anchored
        if self.root_spki is not None:
            ev["rootSpkiSha256"] = self.root_spki
        if self.handshake_error:
            ev["handshakeError"] = self.handshake_error
        if self.proxy is not None:
            ev["viaProxy"] = self.proxy.to_evidence()
        if self.http:
            ev["http"] = [a.to_evidence() for a in self.http]
        return ev


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name_label(name: x509.Name) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return name.rfc4514_string() or "(empty name)"


def cert_info(cert: x509.Certificate) -> CertInfo:
    """The fields a report needs from one certificate."""
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName), *(str(i) for i in san.get_values_for_type(x509.IPAddress))]
    except x509.ExtensionNotFound:
        pass
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), _name_label(cert.issuer),
                    cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp(),
                    tuple(names), is_ca)


def name_matches(host: str, names: tuple[str, ...]) -> bool:
    """RFC 6125 matching: exact name or IP, or one left-most wildcard label."""
    host = host.rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        return any(n == str(ip) for n in names)
    except ValueError:
        pass
    for name in (n.lower().rstrip(".") for n in names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _load_pem_certs(pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []


def spki_sha256(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of a certificate's SubjectPublicKeyInfo: its key's identity, whatever its name says."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _anchored(chain: list[x509.Certificate], cas: list[x509.Certificate]) -> bool:
    """True when some presented certificate is one of `cas` or is signed directly by one."""
    for cert in chain:
        for ca in cas:
            if cert == ca:
                return True
            if cert.issuer == ca.subject:
                try:
                    cert.verify_directly_issued_by(ca)
                    return True
                except Exception:  # any failure means "not signed by this CA"
                    continue
    return False


def _classify_oserror(exc: OSError) -> tuple[Outcome, str]:
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "rst"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout", "no-answer"
    if exc.errno == errno.ENETUNREACH:
        return "no-route", "network-unreachable"
    if exc.errno == errno.EHOSTUNREACH:
        return "unreachable", "host-unreachable"
    return "unreachable", errno.errorcode.get(exc.errno or 0, str(exc)).lower()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline reached")
    return left


def parse_proxy(url: str) -> tuple[str, int, str | None]:
    """(host, port, 'user:password' or None) of an http:// proxy URL; ValueError otherwise."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        raise ValueError(f"proxy scheme {parts.scheme!r} is not supported (only http:// proxies)")
    if not parts.hostname:
        raise ValueError(f"proxy URL {url!r} has no host")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"proxy URL {url!r} has an invalid port") from None
    cred = None
    if parts.username is not None:
        cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return parts.hostname, port, cred


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_tunnel(proxy_url: str, host: str, port: int, deadline: float) -> tuple[socket.socket | None, ProxyAnswer]:
    """Open a CONNECT tunnel to host:port through an HTTP proxy; the socket is None on failure."""
    start = time.monotonic()
    target = _authority(host, port)
    try:
        phost, pport, cred = parse_proxy(proxy_url)
    except ValueError as exc:
        return None, ProxyAnswer(proxy_url.split("@")[-1], target, "unreachable", error=str(exc))
    shown = _authority(phost, pport)
    try:
        sock = socket.create_connection((phost, pport), timeout=_left(deadline))
    except OSError as exc:
        outcome, reason = _classify_oserror(exc)
        return None, ProxyAnswer(shown, target, outcome, reason=reason, seconds=time.monotonic() - start)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", "User-Agent: netcheck"]
    if cred is not None:
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(cred.encode()).decode())
    try:
        sock.settimeout(_left(deadline))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < MAX_HEADER:
            sock.settimeout(_left(deadline))
            chunk = sock.recv(MAX_HEADER - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        sock.close()
        what = "no answer to CONNECT before the deadline" if isinstance(exc, TimeoutError) else str(exc)
        return None, ProxyAnswer(shown, target, "connected", error=what, seconds=time.monotonic() - start)
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status_line, _, rest = head.partition("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        sock.close()
        err = "the proxy closed the connection without answering" if not data else f"not an HTTP answer: {status_line[:80]!r}"
        return None, ProxyAnswer(shown, target, "connected", error=err, seconds=time.monotonic() - start)
    status = int(parts[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in rest.split("\r\n"))}
    answer = ProxyAnswer(shown, target, "connected", status, parts[2] if len(parts) > 2 else "",
                         time.monotonic() - start, authenticate=headers.get("proxy-authenticate"))
    if status // 100 != 2:
        sock.close()
        return None, answer
    return sock, answer


def _context(ca_pem: str | None, cafile: str | None, capath: str | None, verify: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        ctx.load_verify_locations(cadata=ca_pem)
    elif cafile or capath:
        ctx.load_verify_locations(cafile=cafile, capath=capath)
    else:
        ctx.load_default_certs()
    return ctx


def _get(sock: ssl.SSLSocket, host: str, port: int, paths: tuple[str, ...], deadline: float) -> tuple[HttpAnswer, ...]:
    """GET each path on one keep-alive connection; stop at the first broken answer."""
    conn = http.client.HTTPConnection(host, port)
    conn.sock = sock  # already connected and wrapped; http.client will not reconnect
    out: list[HttpAnswer] = []
    for path in paths:
        sent = time.time()
        try:
            sock.settimeout(_left(deadline))
            conn.request("GET", path, headers={"Accept": "application/json, */*", "User-Agent": "netcheck"})
            resp = conn.getresponse()
            received = time.time()
            body = resp.read(MAX_BODY)
            out.append(HttpAnswer(path, resp.status, resp.reason, resp.getheader("Date"),
                                  body.decode("utf-8", "replace"), sent, received))
            if not resp.isclosed() or resp.will_close:
                break  # body too long to drain, or the server closes: no more requests here
        except (OSError, http.client.HTTPException) as exc:
            out.append(HttpAnswer(path, None, sent_at=sent, received_at=time.time(),
                                  error=f"{type(exc).__name__}: {exc}"))
            break
    return tuple(out)


def handshake(host: str, ip: str | None, port: int, timeout: float, ca_pem: str | None = None,
              cafile: str | None = None, capath: str | None = None, proxy: str | None = None,
              paths: tuple[str, ...] = ()) -> TlsResult:
    """TLS to `host` (SNI) at ip:port, or through `proxy` with CONNECT; then GET `paths`.

    Verifies against `ca_pem` when given, else `cafile`/`capath`, else the system store.
    """
    start = time.monotonic()
    deadline = start + timeout
    trust = "the cluster CA" if ca_pem else (
        f"SSL_CERT_FILE={cafile}" if cafile else f"SSL_CERT_DIR={capath}" if capath else "the system trust store")
    base: dict[str, Any] = {"host": host, "ip": ip, "port": port, "trust": trust}

    def tunnel() -> tuple[socket.socket | None, TlsResult | None, ProxyAnswer | None]:
        if proxy:
            sock, answer = connect_tunnel(proxy, host, port, deadline)
            if sock is None:
                stage: Literal["tcp", "proxy"] = "tcp" if answer.outcome != "connected" else "proxy"
                return None, TlsResult(**base, stage=stage, tcp=answer.outcome, tcp_reason=answer.reason,
                                       proxy=answer, seconds=time.monotonic() - start), answer
            return sock, None, answer
        if ip is None:
            raise ValueError("an IP address is needed without a proxy")
        try:
            return socket.create_connection((ip, port), timeout=_left(deadline)), None, None
        except OSError as exc:
            outcome, reason = _classify_oserror(exc)
            return None, TlsResult(**base, stage="tcp", tcp=outcome, tcp_reason=reason,
                                   seconds=time.monotonic() - start), None

    verify_error: VerifyError | None = None
    detail = ""
    for verify in (True, False):
        raw, failed, answer = tunnel()
        if raw is None:
            assert failed is not None
            return failed
        ctx = _context(ca_pem, cafile, capath, verify)
        try:
            raw.settimeout(_left(deadline))
            sock = ctx.wrap_socket(raw, server_hostname=host.strip("[]"))
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            verify_error = _VERIFY_CODES.get(exc.verify_code, "other")
            detail = exc.verify_message or str(exc)
            continue
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            what = "no ServerHello before the deadline" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            return TlsResult(**base, stage="handshake", tcp="connected", proxy=answer, handshake_error=what,
                             verify_error=verify_error, verify_detail=detail, seconds=time.monotonic() - start)
        with sock:
            return _finish(sock, base, verify, verify_error, detail, answer, ca_pem, paths, deadline, start)
    raise AssertionError("unreachable")


def _finish(sock: ssl.SSLSocket, base: dict[str, Any], verified: bool, verify_error: VerifyError | None,
            detail: str, answer: ProxyAnswer | None, ca_pem: str | None, paths: tuple[str, ...],
            deadline: float, start: float) -> TlsResult:
    obj: Any = getattr(sock, "_sslobj")  # noqa: B009 - public get_unverified_chain() arrives only in 3.13
    presented = [x509.load_der_x509_certificate(c.public_bytes(_DER))
                 for c in (obj.get_unverified_chain() or [])]
    if not presented:
        der = sock.getpeercert(binary_form=True)
        presented = [x509.load_der_x509_certificate(der)] if der else []
    top = presented[-1].issuer if presented else None
    root_spki = None
    if verified:
        full = obj.get_verified_chain() or []
        if full:
            root = x509.load_der_x509_certificate(full[-1].public_bytes(_DER))
            top = root.subject
            root_spki = spki_sha256(root)
    chain = tuple(cert_info(c) for c in presented)
    anchored = _anchored(presented, _load_pem_certs(ca_pem)) if ca_pem else None
    version = sock.version()
    http_answers = _get(sock, base["host"], base["port"], paths, deadline) if paths else ()
    return TlsResult(**base, stage="done", tcp="connected", proxy=answer, verified=verified,
                     verify_error=verify_error, verify_detail=detail, tls_version=version, chain=chain,
                     leads_to=_name_label(top) if top is not None else None, anchored=anchored, root_spki=root_spki,
                     name_matches=name_matches(base["host"], chain[0].names) if chain else None,
                     checked_at=time.time(), http=http_answers, seconds=time.monotonic() - start)
