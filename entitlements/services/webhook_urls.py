"""Webhook destinations: strict URL rules at registration, checked addresses at send time."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ..errors import InvalidError, UnprocessableError
from ..models.webhook import MAX_URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# http(s)://, a host part without white space, "/", "?", "#" or "@" (no credentials), then an
# optional path and query without a fragment. Also the OpenAPI document's pattern.
URL_PATTERN = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20/?#@]+(?:[/?][^\x00-\x20#]*)?")
# RFC 3986 path and query characters: unreserved, sub-delims, ":", "@", "/", "?", %XX.
_PATH_QUERY = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Cloud metadata services: never a receiver, even where private destinations are allowed.
_METADATA_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal",
})
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254")
)
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan", ".intranet")
# NAT64 carries an IPv4 address in its last 32 bits: judge that address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class DestinationError(UnprocessableError):
    """A webhook URL or the address it resolves to may not be sent to."""


@dataclass(frozen=True)
class Destination:
    """Where one delivery goes: connect to `ip`, send Host and SNI for `host`."""

    host: str
    ip: str
    port: int
    scheme: str


def is_public_address(ip: IPAddress) -> bool:
    """Return whether an address is globally routable unicast (also what it embeds)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    if ip in _METADATA_ADDRESSES:
        return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_private
        or ip.is_reserved or ip.is_unspecified
    )


def check_webhook_url(url: str, *, production: bool, allow_private: bool) -> str:
    """Return `url` if a delivery can be sent to it, or raise (400 shape, 422 otherwise)."""
    if len(url) > MAX_URL or not URL_PATTERN.fullmatch(url):
        raise InvalidError(
            f"url must be an http or https URL of at most {MAX_URL} characters, without "
            "credentials or fragment",
            field="url",
        )
    if not url.isascii():
        raise _refused("url must be ASCII (write an international name in its xn-- form)")
    parts = _split(url)
    # An intranet receiver (allowed private) may be plain http, as Stripe's base to a loopback.
    if production and not allow_private and parts.scheme.lower() != "https":
        raise _refused("url must be https in production")
    if not _PATH_QUERY.fullmatch(url[len(parts.scheme) + 3 + len(parts.netloc):]):
        raise _refused("url's path and query may hold only RFC 3986 characters (%XX for others)")
    _port(url)
    host = _host(parts.netloc)
    ip = _ip_literal(host)
    if ip is None:
        _check_name(host, allow_private=allow_private)
    else:
        _check_address(ip, allow_private=allow_private)
    return url


def resolve_destination(url: str, *, allow_private: bool) -> Destination:
    """Resolve a registered URL's host now; raise DestinationError unless every address is
    public (or `allow_private`). Connect to the returned ip, never re-resolve."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise _refused("url must be http or https")
    port = _port(url) or (443 if scheme == "https" else 80)
    host = _host(parts.netloc)
    literal = _ip_literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        _check_name(host, allow_private=allow_private)
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise DestinationError(f"cannot resolve {host}: {error}", field="url") from None
        # A scoped IPv6 address comes back as "fe80::1%eth0": the scope is no part of it.
        addresses = list(dict.fromkeys(
            ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found
        ))
    if not addresses:
        raise DestinationError(f"{host} resolves to no address", field="url")
    # Every address, not the first: a name answering both a public and a private address
    # would otherwise reach the private one on a later resolution or a retry.
    for ip in addresses:
        _check_address(ip, allow_private=allow_private)
    return Destination(host=host, ip=str(addresses[0]), port=port, scheme=scheme)


def _refused(detail: str) -> DestinationError:
    return DestinationError(detail, field="url")


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # an unclosed "[" of an IPv6 address, say
        raise _refused("url does not parse") from None


def _port(url: str) -> int | None:
    try:
        port = urlsplit(url).port
    except ValueError:
        raise _refused("url's port must be a number from 1 to 65535") from None
    if port == 0:
        raise _refused("url's port must be a number from 1 to 65535")
    return port


def _host(netloc: str) -> str:
    if "@" in netloc:
        raise _refused("url must not carry credentials")
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        # An IPv6 address (no IPvFuture), then nothing or a port.
        if ":" not in host or not re.fullmatch(r"(?::[0-9]*)?", rest):
            raise _refused("url's host in brackets must be an IPv6 address")
    else:
        host = netloc.rsplit(":", 1)[0]
    host = host.lower()
    if not host:
        raise _refused("url must name a host")
    return host


def _ip_literal(host: str) -> IPAddress | None:
    """Return the address a host spells, in any form a resolver accepts, or None for a name."""
    if ":" in host:
        if "%" in host:
            raise _refused("url must not name an IPv6 zone")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise _refused("url's IPv6 address does not parse") from None
    try:
        # inet_aton reads what resolvers read: 2130706433, 0x7f000001, 0177.1, 127.1.
        ip = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        if re.fullmatch(r"[0-9a-fx.]+", host) and host.rstrip(".").rsplit(".", 1)[-1].isdigit():
            raise _refused("url's host looks like an IPv4 address but is not one") from None
        return None
    if str(ip) != host:
        raise _refused(f"write the IPv4 address as {ip}, in dotted-decimal form")
    return ip


def _check_address(ip: IPAddress, *, allow_private: bool) -> None:
    embedded = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if ip in _METADATA_ADDRESSES or embedded in _METADATA_ADDRESSES:
        raise _refused(f"url names a cloud metadata address ({ip})")
    if not allow_private and not is_public_address(ip):
        raise _refused(f"url names or resolves to a non-public address ({ip})")


def _check_name(host: str, *, allow_private: bool) -> None:
    if len(host) > 253 or host.endswith("."):
        raise _refused("url's host name must be at most 253 characters, without a final dot")
    for label in host.split("."):
        if not _LABEL.fullmatch(label):
            raise _refused("url's host name must be letters, digits and inner hyphens per label")
        if label.startswith("xn--"):
            try:
                decoded = label.encode("ascii").decode("idna")
                valid = decoded.encode("idna").decode("ascii") == label
            except UnicodeError:
                valid = False
            if not valid:
                raise _refused(f"url's host label {label!r} is not valid IDNA")
        elif label[2:4] == "--":
            raise _refused(f"url's host label {label!r} uses a reserved form")
    if host in _METADATA_NAMES:
        raise _refused(f"url names a cloud metadata host ({host})")
    if not allow_private and (
        host == "localhost" or host.endswith(_PRIVATE_SUFFIXES) or "." not in host
    ):
        raise _refused(f"url names a local host ({host}); public names only")
