"""Security guards: outbound URL policy (SSRF), auth-failure rate limiting, TLS trust.

SSRF guard
    Every URL the node learns from the outside (a party's versions URL,
    version-details URL, module endpoint URLs, ``response_url`` and pagination
    targets it proxies, other nodes' URLs from the registry) is called through
    the node's outbound HTTP client.  When private destinations are not allowed
    (``[security] allow_private_party_urls``), that client resolves the host
    name itself (``getaddrinfo`` in the reactor's thread pool), refuses the
    call when *any* resolved address is loopback, private, link-local,
    multicast, unspecified, reserved, shared (100.64/10) or an IPv6 form
    embedding such an IPv4 address (IPv4-mapped/-compatible, 6to4, NAT64),
    unless it lies in ``[security] allowed_party_networks``, and then connects
    to exactly the address it checked (TLS still verifies the original host
    name).  So DNS rebinding between check and connect is not possible.
    Numeric tricks (``0x7f000001``, ``127.1``, ``2130706433``) are resolved by
    ``getaddrinfo`` to the address they really mean and are refused as such.
    The credentials handshake additionally checks the versions URL, the
    version-details URL and every endpoint URL up front and answers OCPI 2001
    (HTTP 400) naming the refused URL.

Auth-failure rate limiting
    :class:`AuthLimiter` is a token bucket per client IP: every failed
    authentication (any HTTP 401 the node answers: Token A, Token C, admin key)
    takes one token; buckets refill at ``auth_failures_per_minute`` per minute
    up to the same amount.  While an IP's bucket is empty, every request from
    it that carries an ``Authorization`` header is answered HTTP 429 with an
    OCPI envelope (2000) *without looking at the token*, so a brute-forcer
    learns nothing while blocked.  Successful authentications cost nothing.
    Token A/C are looked up by their SHA-256 digest (an indexed equality
    lookup of a hash: timing can at most reveal digest prefixes, which does
    not help to find a token); the admin key is compared with
    ``hmac.compare_digest`` over SHA-256 digests (constant time, no length
    leak).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from twisted.internet import defer, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError
from twisted.logger import Logger
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

log = Logger(namespace="ocnd.security")

# -- address classification ----------------------------------------------------------------------

_V4_SPECIAL: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
_V4_NETS = tuple((ipaddress.ip_network(n), why) for n, why in _V4_SPECIAL)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPAT = ipaddress.ip_network("::/96")


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = None
        label = ""
        if ip.ipv4_mapped is not None:
            embedded, label = ip.ipv4_mapped, "IPv4-mapped "
        elif ip.sixtofour is not None:
            embedded, label = ip.sixtofour, "6to4 "
        elif ip in _NAT64:
            embedded, label = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64 "
        elif ip.teredo is not None:
            embedded, label = ip.teredo[1], "Teredo "
        if embedded is not None:
            inner = forbidden_reason(embedded)
            return None if inner is None else label + inner
        if ip.is_unspecified:
            return "unspecified"
        if ip.is_loopback:
            return "loopback"
        if ip in _V4_COMPAT:
            return "IPv4-compatible (deprecated)"
        if ip.is_link_local:
            return "link-local"
        if ip.is_multicast:
            return "multicast"
        if ip.is_site_local:
            return "site-local"
        if ip.is_private or ip.is_reserved or not ip.is_global:
            return "private" if ip in ipaddress.ip_network("fc00::/7") else "non-global"
        return None
    for net, why in _V4_NETS:
        if ip in net:
            return why
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    return None


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (a bare address means a single host); ValueError on junk."""
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"expected comma-separated CIDR networks such as 10.0.0.0/8, got {item!r}") from None
    return tuple(out)


class ForbiddenDestination(Exception):
    """An outbound call was refused by the SSRF guard; ``str()`` names URL, address and reason."""

    def __init__(self, url: str, host: str, address: str | None, reason: str) -> None:
        self.url, self.host, self.address, self.reason = url, host, address, reason
        where = host if address is None or address == host else f"{host} ({address})"
        super().__init__(
            f"Refusing to call {url}: {where} is a {reason} address; such destinations are only "
            "allowed by [security] allow_private_party_urls or allowed_party_networks")


def _safe_url(url: str) -> str:
    """The URL without query string, fragment and user info (they may carry secrets)."""
    try:
        p = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0]
    netloc = p.netloc.rsplit("@", 1)[-1]
    return f"{p.scheme}://{netloc}{p.path}"


def getaddrinfo_resolver(reactor) -> Callable[[str, int], defer.Deferred]:
    """Resolve ``host`` with the system resolver in the reactor's thread pool (never on the reactor)."""

    def _resolve(host: str, port: int) -> list[str]:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        seen: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            if sockaddr[0] not in seen:
                seen.append(sockaddr[0])
        return seen

    def resolve(host: str, port: int) -> defer.Deferred:
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), _resolve, host, port)

    return resolve


class UrlGuard:
    """Decides whether the node may call a URL (see the module docstring)."""

    def __init__(self, *, allow_private: bool, allowed_networks: Iterable[IPNetwork] = (),
                 resolver: Callable[[str, int], Any] | None = None, reactor=None) -> None:
        self.allow_private = allow_private
        self.allowed_networks = tuple(allowed_networks)
        if resolver is None and reactor is not None:
            resolver = getaddrinfo_resolver(reactor)
        self.resolver = resolver

    @property
    def active(self) -> bool:
        return not self.allow_private

    def check_address(self, url: str, host: str, address: str) -> None:
        """Raise :class:`ForbiddenDestination` unless ``address`` may be called."""
        if self.allow_private:
            return
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise ForbiddenDestination(_safe_url(url), host, address, "unparsable") from None
        if any(ip in net for net in self.allowed_networks):
            return
        reason = forbidden_reason(ip)
        if reason is not None:
            raise ForbiddenDestination(_safe_url(url), host, str(ip), reason)

    async def resolve(self, url: str, host: str, port: int) -> list[str]:
        """All addresses of ``host``, each checked; raises ForbiddenDestination or the resolver's error."""
        host = host.strip("[]")
        low = host.lower().rstrip(".")
        try:
            literal = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            literal = None
        if literal is not None:
            addrs = [host]
        elif low == "localhost" or low.endswith(".localhost"):
            addrs = ["127.0.0.1"]  # RFC 6761: loopback, whatever a resolver says
        else:
            if self.resolver is None:
                raise ValueError("UrlGuard needs a resolver to check host names")
            addrs = list(await defer.maybeDeferred(self.resolver, host, port))
        if not addrs:
            raise ForbiddenDestination(_safe_url(url), host, None, "unresolvable")
        for address in addrs:
            self.check_address(url, host, address)
        return addrs

    async def check_url(self, url: str) -> list[str]:
        """Check an absolute http(s) URL; returns the checked addresses (empty when not active)."""
        if self.allow_private:
            return []
        try:
            p = urlsplit(url)
            host, port = p.hostname, p.port
        except ValueError:
            raise ForbiddenDestination(_safe_url(url), url, None, "malformed URL") from None
        if p.scheme not in ("http", "https") or not host:
            raise ForbiddenDestination(_safe_url(url), host or url, None, "malformed URL")
        return await self.resolve(url, host, port or (443 if p.scheme == "https" else 80))


# -- outbound HTTP: pinned, checked connections ------------------------------------------------


class _PinnedEndpoint:
    """Resolves and checks the host at connect time, then connects to the checked address."""

    def __init__(self, factory: "GuardedEndpointFactory", uri) -> None:
        self.f = factory
        self.uri = uri

    def connect(self, protocol_factory):
        return defer.ensureDeferred(self._connect(protocol_factory))

    async def _connect(self, protocol_factory):
        uri = self.uri
        host = uri.host.decode("idna") if isinstance(uri.host, bytes) else uri.host
        scheme = uri.scheme.decode() if isinstance(uri.scheme, bytes) else uri.scheme
        path = uri.path.decode("latin-1") if isinstance(uri.path, bytes) else uri.path
        shown = f"[{host}]" if ":" in host else host
        if uri.port != (443 if scheme == "https" else 80):
            shown += f":{uri.port}"
        url = f"{scheme}://{shown}{path}"
        addrs = await self.f.guard.resolve(url, host, uri.port)
        last: Exception | None = None
        for address in addrs:
            cls = TCP6ClientEndpoint if ":" in address else TCP4ClientEndpoint
            ep = cls(self.f.reactor, address, uri.port, timeout=self.f.connect_timeout)
            if scheme == "https":
                ep = wrapClientTLS(self.f.tls_policy.creatorForNetloc(uri.host, uri.port), ep)
            try:
                return await ep.connect(protocol_factory)
            except ConnectError as e:
                last = e
        assert last is not None
        raise last


@implementer(IAgentEndpointFactory)
class GuardedEndpointFactory:
    """Endpoint factory for :class:`twisted.web.client.Agent` that applies a :class:`UrlGuard`."""

    def __init__(self, reactor, guard: UrlGuard, tls_policy, connect_timeout: float) -> None:
        self.reactor = reactor
        self.guard = guard
        self.tls_policy = tls_policy
        self.connect_timeout = connect_timeout

    def endpointForURI(self, uri):
        return _PinnedEndpoint(self, uri)


# -- TLS trust --------------------------------------------------------------------------------


def tls_policy(ca_bundle: str = ""):
    """The outbound TLS policy: browser-like verification against the system trust store,
    or against exactly the certificates in ``ca_bundle`` (a PEM file) when given."""
    from twisted.web.client import BrowserLikePolicyForHTTPS

    if not ca_bundle:
        return BrowserLikePolicyForHTTPS()
    from twisted.internet import ssl

    with open(ca_bundle, "rb") as fh:
        pem = fh.read()
    marker = b"-----END CERTIFICATE-----"
    blocks = [b + marker for b in pem.split(marker) if b"-----BEGIN CERTIFICATE-----" in b]
    if not blocks:
        raise ValueError(f"{ca_bundle}: no PEM certificate found")
    certs = [ssl.Certificate.loadPEM(b) for b in blocks]
    return BrowserLikePolicyForHTTPS(trustRoot=ssl.trustRootFromCertificates(certs))


# -- auth-failure rate limiting --------------------------------------------------------------------


class AuthLimiter:
    """Token bucket per client IP for failed authentications (in memory)."""

    def __init__(self, per_minute: float, *, clock=None, max_clients: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _now(self) -> float:
        return self.clock.seconds() if self.clock is not None else time.monotonic()

    def _level(self, ip: str, now: float) -> float:
        entry = self._buckets.get(ip)
        if entry is None:
            return self.capacity
        tokens, at = entry
        return min(self.capacity, tokens + (now - at) * self.rate)

    def retry_after(self, ip: str) -> float:
        """0 when ``ip`` may try to authenticate, else seconds until it may again."""
        if not self.enabled:
            return 0.0
        level = self._level(ip, self._now())
        return 0.0 if level >= 1.0 else (1.0 - level) / self.rate

    def failure(self, ip: str) -> None:
        """Record one failed authentication from ``ip``."""
        if not self.enabled:
            return
        now = self._now()
        level = max(0.0, self._level(ip, now) - 1.0)
        self._buckets[ip] = (level, now)
        self._buckets.move_to_end(ip)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if level < 1.0:
            log.warn("too many failed authentications from {ip}; refusing its authenticated requests "
                     "for {seconds:.0f}s", ip=ip, seconds=(1.0 - level) / self.rate)


def client_ip(request, trusted_proxies: tuple[IPNetwork, ...] = ()) -> str:
    """The peer address, or the right-most untrusted X-Forwarded-For hop behind a trusted proxy."""
    peer = request.getClientAddress()
    host = getattr(peer, "host", None) or "unknown"
    if not trusted_proxies:
        return host

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in trusted_proxies)

    if not trusted(host):
        return host
    forwarded = ",".join(v.decode("latin-1") for v in request.requestHeaders.getRawHeaders(b"x-forwarded-for", []))
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else host
