"""The client's address, for per-address limits: the socket peer, or, when the peer is one of
the configured trusted proxies (the ingress), the right-most X-Forwarded-For hop that is not
one of them. Anything else in X-Forwarded-For is the client's own claim and is ignored."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.requests import Request

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


def trusted_networks(text: str) -> tuple[Network, ...]:
    """SIGNPOST_INTAKE_TRUSTED_PROXIES: comma-separated addresses or networks (CIDR).
    Raises ValueError naming the entry (operator configuration, not caller input)."""
    found: list[Network] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            found.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {entry!r}") from None
    return tuple(found)


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: Sequence[Network]) -> str:
    """Who to count a request against. IPv6 counts per /64: one host usually has a whole
    /64, so counting single addresses would let it take a fresh one per request."""
    current = _parse(peer)
    if current is None:
        return UNKNOWN
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    while _is_trusted(current, trusted) and hops:
        hop = _parse(hops.pop())
        if hop is None:
            break  # garbage from beyond our proxies: count it against the last proxy
        current = hop
    return _bucket(current)


def _parse(text: str | None) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text or "")
    except ValueError:
        return None


def _is_trusted(address: IPv4Address | IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def _bucket(address: IPv4Address | IPv6Address) -> str:
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network(f"{address}/64", strict=False))
    return str(address)


def address_of(request: Request) -> str:
    """The request's client address, with the app's trusted proxies (app.state)."""
    trusted: Sequence[Network] = getattr(request.app.state, "trusted_proxies", ())
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted)
