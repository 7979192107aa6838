"""SSRF guard for the web tools: refuse private, loopback, link-local and metadata addresses.

The check runs inside an httpx transport, on every request the client sends (so on every
redirect hop too): the host is resolved once, every address it resolves to is checked, and the
connection is made to one of those checked addresses (the URL's host is replaced by the address,
with the original name kept in the Host header and as TLS SNI). A DNS answer that changes between
the check and the connect (DNS rebinding) therefore cannot slip a private address through.

`HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` and `NO_PROXY` are honoured like httpx honours them for a
client without a custom transport: the host is still resolved and checked here, and the proxy is
asked for the checked address (by CONNECT for https, SNI keeping the name), so a proxy cannot be
used to reach an address the guard refuses. A host that does not resolve here is refused, proxy or
not. The proxy's own address is not checked: it is what the user configured.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.request
from typing import Any

import httpx

from ._common import ALLOW_PRIVATE_ENV, ALLOWED_HOSTS_ENV
from .errors import BlockedAddressError, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints. Most are link-local or private already; listed so the refusal names them.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6 metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}

ALLOW_ENV = ALLOW_PRIVATE_ENV


def host_allowed(host: str, port: int, allowed: frozenset[str]) -> bool:
    """Whether `host` (or `host:port`) is on an explicit allow-list of private hosts."""
    host = host.strip("[]").lower()
    # An IPv6 host with a port can only be written bracketed ("[::1]:8080"); bare "::1" means any port.
    with_port = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host in allowed or f"[{host}]" in allowed or with_port in allowed


def blocked_reason(ip: IPAddress) -> str | None:
    """Why the guard refuses `ip`, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            inner = blocked_reason(mapped)
            return f"maps to {mapped}, {inner}" if inner else None
    checks = (
        (ip in _METADATA, "cloud metadata address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_unspecified, "unspecified address"),
        (ip.is_private, "private address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "non-public address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """All addresses `host` resolves to, in resolver order, without duplicates."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    seen: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is not part of the address.
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    if not seen:
        raise FetchError(f"cannot resolve host {host!r}: no addresses")
    return seen


async def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """Resolve `host` and refuse it if ANY of its addresses is blocked (unless allowed)."""
    addresses = await resolve_host(host, port)
    if not allow_private:
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason is not None:
                shown = host if _literal(host) is not None else f"{host} ({ip})"
                raise BlockedAddressError(
                    f"refused to connect to {shown}: {reason}. Requests to private networks are "
                    f"disabled by default; set {ALLOW_ENV}=1 (or allow_private=True), or list the host "
                    f"in {ALLOWED_HOSTS_ENV}, to allow them."
                )
    return addresses


def check_scheme(url: httpx.URL) -> None:
    """Only http and https are fetched (no file:, ftp:, gopher:...)."""
    if url.scheme not in ("http", "https"):
        raise BlockedAddressError(f"refused URL {str(url)!r}: only http and https URLs are allowed")
    if not url.host:
        raise FetchError(f"invalid URL {str(url)!r}: no host")


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks, then pins, the address of every request it sends."""

    def __init__(
        self, *, allow_private: bool, allowed_hosts: frozenset[str] = frozenset(), **transport_kwargs: Any
    ) -> None:
        self._allow_private = allow_private
        self._allowed_hosts = allowed_hosts
        self._kwargs = transport_kwargs
        self._direct = httpx.AsyncHTTPTransport(**transport_kwargs)
        self._proxied: dict[str, httpx.AsyncHTTPTransport] = {}

    def _transport_for(self, url: httpx.URL) -> httpx.AsyncHTTPTransport:
        """The direct transport, or one through the proxy the environment names for this URL."""
        proxies = urllib.request.getproxies()
        proxy = proxies.get(url.scheme) or proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):
            return self._direct
        if proxy not in self._proxied:
            self._proxied[proxy] = httpx.AsyncHTTPTransport(proxy=proxy, **self._kwargs)
        return self._proxied[proxy]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        check_scheme(url)
        port = url.port or (443 if url.scheme == "https" else 80)
        allow = self._allow_private or host_allowed(url.host, port, self._allowed_hosts)
        addresses = await checked_addresses(url.host, port, allow_private=allow)
        inner = self._transport_for(url)
        if _literal(url.host) is not None:
            return await inner.handle_async_request(request)
        last_error: Exception | None = None
        for ip in addresses:
            # Connect to the address that was checked; Host header (set when the request was
            # built) and SNI keep the name, so virtual hosts and TLS verification still work.
            request.url = url.copy_with(host=str(ip))
            request.extensions = {**request.extensions, "sni_hostname": url.host}
            try:
                return await inner.handle_async_request(request)
            except httpx.ConnectError as exc:
                last_error = exc
            finally:
                request.url = url
        assert last_error is not None
        raise last_error

    async def aclose(self) -> None:
        for transport in (self._direct, *self._proxied.values()):
            await transport.aclose()
