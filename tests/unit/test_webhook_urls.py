"""Webhook URLs: what registration refuses, and the addresses a delivery may connect to."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from entitlements.errors import InvalidError
from entitlements.services.webhook_urls import (
    Destination,
    DestinationError,
    check_webhook_url,
    resolve_destination,
)

NON_PUBLIC = [
    "https://127.0.0.1/x",
    "https://127.1/x",
    "https://2130706433/x",
    "https://0x7f000001/x",
    "https://0177.0.0.1/x",
    "https://10.0.0.1/x",
    "https://172.16.5.4/x",
    "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/x",
    "https://0.0.0.0/x",
    "https://224.0.0.1/x",
    "https://240.0.0.1/x",
    "https://255.255.255.255/x",
    "https://[::1]/x",
    "https://[::]/x",
    "https://[fe80::1]/x",
    "https://[fc00::1]/x",
    "https://[ff02::1]/x",
    "https://[::ffff:169.254.169.254]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://[2002:7f00:1::1]/x",
    "https://[64:ff9b::7f00:1]/x",
    "https://localhost:5432/x",
    "https://api.localhost/x",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/x",
    "https://intranet/x",
]

NON_CANONICAL = {
    "https://127.1/x", "https://2130706433/x", "https://0x7f000001/x", "https://0177.0.0.1/x",
}

NEVER_SENDABLE = [
    "http://a.example/é",
    "http://%ff.example/",
    "http://xn--.example/",
    "http://xn--zz.example/",
    "http://a。b/",
    "http://a..b/",
    "http://-a.example/",
    "http://a.example:99999/",
    "http://a.example:0/",
    "http://a.example/with space",
    "http://a.example/<script>",
    "http://a.example/%zz",
    "http://a.example./x",
    "http://[::1%25eth0]/x",
    "http://1.2.3.4.5/x",
    "http://[::1/x",
    "http://[::1]x/",
    "http://[v1.x]/",
]


@pytest.mark.parametrize("url", NON_PUBLIC)
def test_non_public_destinations_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(DestinationError):
        check_webhook_url(url, production=False, allow_private=False)
    if "metadata" in url or "169.254.169.254" in url:
        return
    if url in NON_CANONICAL:
        # Integer, hex, octal and short forms: allowed private or not, write it dotted.
        with pytest.raises(DestinationError, match="dotted-decimal"):
            check_webhook_url(url, production=False, allow_private=True)
    else:
        assert check_webhook_url(url, production=False, allow_private=True) == url


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/x", "https://metadata.google.internal/x",
            "https://[::ffff:169.254.169.254]/x"],
)
def test_cloud_metadata_is_refused_even_where_private_is_allowed(url: str) -> None:
    with pytest.raises(DestinationError):
        check_webhook_url(url, production=False, allow_private=True)


@pytest.mark.parametrize("url", NEVER_SENDABLE)
def test_urls_that_can_never_be_sent_are_refused(url: str) -> None:
    with pytest.raises(InvalidError):
        check_webhook_url(url, production=False, allow_private=True)


def test_credentials_and_overlong_urls_are_400s() -> None:
    for url in ("https://user:pw@hooks.example.com/x", "https://h.example.com/" + "a" * 2000):
        with pytest.raises(InvalidError) as caught:
            check_webhook_url(url, production=False, allow_private=True)
        assert not isinstance(caught.value, DestinationError)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/events?token=a%20b&x=1",
        "https://xn--bcher-kva.example/hook",
        "https://8.8.8.8:8443/hook",
        "https://[2606:4700::1]/hook",
        "HTTPS://Hooks.Example.com/",
    ],
)
def test_public_https_urls_pass_in_production(url: str) -> None:
    assert check_webhook_url(url, production=True, allow_private=False) == url


def test_production_requires_https_unless_private_receivers_are_allowed() -> None:
    with pytest.raises(DestinationError):
        check_webhook_url("http://hooks.example.com/x", production=True, allow_private=False)
    assert check_webhook_url("http://hooks.example.com/x", production=False, allow_private=False)
    assert check_webhook_url("http://127.0.0.1:9/x", production=True, allow_private=True)


def _answers(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_resolve_destination_returns_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, "93.184.216.34")
    assert resolve_destination("https://hooks.example.com/x", allow_private=False) == Destination(
        host="hooks.example.com", ip="93.184.216.34", port=443, scheme="https"
    )


@pytest.mark.parametrize(
    "addresses", [("127.0.0.1",), ("93.184.216.34", "10.0.0.7"), ("169.254.169.254",),
                  ("::ffff:127.0.0.1",), ("fe80::1%eth0",)],
)
def test_resolve_destination_refuses_a_name_answering_a_non_public_address(
    monkeypatch: pytest.MonkeyPatch, addresses: tuple[str, ...]
) -> None:
    _answers(monkeypatch, *addresses)
    with pytest.raises(DestinationError):
        resolve_destination("https://rebinding.example.com/x", allow_private=False)


def test_resolve_destination_with_private_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, "10.0.0.7")
    found = resolve_destination("http://hooks.corp.example:8080/x", allow_private=True)
    assert found == Destination(host="hooks.corp.example", ip="10.0.0.7", port=8080, scheme="http")
    assert resolve_destination("http://127.0.0.1:9/x", allow_private=True).ip == "127.0.0.1"
    with pytest.raises(DestinationError):
        resolve_destination("http://127.0.0.1:9/x", allow_private=False)
    _answers(monkeypatch, "169.254.169.254")
    with pytest.raises(DestinationError):
        resolve_destination("http://hooks.corp.example/x", allow_private=True)


def test_resolve_destination_refuses_an_unresolvable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(DestinationError):
        resolve_destination("https://nowhere.example.com/x", allow_private=False)
