"""Where a channel may send: server-side request forgery refused at save time and again at send time.

`check_target(url, policy)` parses the URL, refuses what is never allowed, resolves the host
(with the event loop's `getaddrinfo`, injectable for tests) and checks every address it
resolves to: one bad address refuses the target (a name with a public and a private address
is a rebinding trick). The `Target` it returns names the checked addresses, so the sender
connects to one of them (`pinned_url`) instead of resolving again: the DNS answer that was
checked is the one used.

Refused, each with its own code (errors.py):
- not https outside `DD_ENV=local` (`target_https_required`); no host, a bad port (`target_malformed`);
- cloud metadata services, always, even with private targets allowed (`target_metadata_address`):
  169.254.169.254 (AWS, Azure, GCP, Huawei), fd00:ec2::254 (AWS IPv6), 169.254.170.2 (AWS ECS),
  100.100.100.200 (Alibaba Cloud), metadata.google.internal and metadata.tencentyun.com by name;
- unless `allow_private`: loopback (and `localhost`), private, link-local, multicast, the
  unspecified address and other non-global ranges (CGNAT, documentation, reserved).
Literal forms are normalised first: `[::1]`, IPv4-mapped and -compatible IPv6
(`::ffff:127.0.0.1`), 6to4 and NAT64 addresses carrying an IPv4 one, and the inet_aton
spellings of IPv4 (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`), which resolvers accept too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit, urlunsplit

from services.notify import errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as strings; raises OSError when it does not resolve.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
METADATA_NAMES: Final = frozenset({"metadata.google.internal", "metadata.tencentyun.com"})
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_INET_ATON_FORM: Final = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")


@dataclass(frozen=True)
class TargetPolicy:
    https_only: bool = True  # False only under DD_ENV=local
    allow_private: bool = False  # DD_ALLOW_PRIVATE_TARGETS


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as the URL names it, lower case, no brackets, no trailing dot
    port: int
    addresses: tuple[str, ...]  # every one checked; the sender connects to the first

    def pinned_url(self) -> str:
        """The URL with its host replaced by the first checked address (send with Host/SNI of `host`)."""
        parts = urlsplit(self.url)
        address = self.addresses[0]
        literal = f"[{address}]" if ":" in address else address
        netloc = f"{literal}:{parts.port}" if parts.port is not None else literal
        return urlunsplit(parts._replace(netloc=netloc))


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _split(url: str) -> SplitResult:
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url):
        raise errors.TargetMalformed("The URL holds spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise errors.TargetMalformed("The URL cannot be parsed.") from None
    return parts


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, in any form a resolver would accept, or None for a name."""
    candidate = host.split("%", 1)[0]  # a zone id (fe80::1%eth0) does not change the address
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        pass
    if _INET_ATON_FORM.match(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            raise errors.TargetMalformed("The host is neither a name nor an IPv4 address.") from None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):  # NAT64, or IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refuse_address(address: IPAddress, policy: TargetPolicy) -> None:
    """Raise the refusal for `address`, or return when the policy lets it be a target."""
    if address in METADATA_ADDRESSES:
        raise errors.TargetMetadataAddress("The target is a cloud metadata service.")
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            refuse_address(embedded, policy)
            if address.ipv4_mapped is not None:
                return  # the IPv4 address is the whole story
    if policy.allow_private:
        return
    if address.is_unspecified:
        raise errors.TargetUnspecified("The target is the unspecified address.")
    if address.is_loopback:
        raise errors.TargetLoopback("The target is a loopback address.")
    if address.is_link_local:
        raise errors.TargetLinkLocal("The target is a link-local address.")
    if address.is_multicast:
        raise errors.TargetMulticast("The target is a multicast address.")
    if address.is_private:
        raise errors.TargetPrivateAddress("The target is a private address.")
    if not address.is_global:
        raise errors.TargetNotPublic("The target is not a public address.")


def _refuse_name(host: str, policy: TargetPolicy) -> None:
    if host in METADATA_NAMES:
        raise errors.TargetMetadataAddress("The target is a cloud metadata service.")
    if not policy.allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise errors.TargetLoopback("The target is a loopback name.")


async def check_target(url: str, policy: TargetPolicy, resolve: Resolver = system_resolver) -> Target:
    """The checked target of `url`, or the `TargetRefused` subclass saying why not."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise errors.TargetMalformed("The URL's scheme is neither https nor http.")
    if scheme == "http" and policy.https_only:
        raise errors.TargetHttpsRequired("Channel URLs use https.")
    raw_host = parts.hostname
    if not raw_host:
        raise errors.TargetMalformed("The URL names no host.")
    host = raw_host.rstrip(".").lower()
    if not host:
        raise errors.TargetMalformed("The URL names no host.")
    port = parts.port or (443 if scheme == "https" else 80)

    literal = literal_address(host)
    if literal is not None:
        refuse_address(literal, policy)
        return Target(url=url, scheme=scheme, host=host, port=port, addresses=(str(literal),))
    try:
        host.encode("idna")
    except UnicodeError:
        raise errors.TargetMalformed("The host is not a valid name.") from None
    _refuse_name(host, policy)
    try:
        resolved = await resolve(host, port)
    except (OSError, UnicodeError):
        raise errors.TargetUnresolvable("The host does not resolve.") from None
    addresses = tuple(dict.fromkeys(resolved))
    if not addresses:
        raise errors.TargetUnresolvable("The host does not resolve.")
    for address in addresses:
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise errors.TargetUnresolvable("The host resolves to something that is not an address.") from None
        refuse_address(parsed, policy)
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=addresses)
