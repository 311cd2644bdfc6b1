"""Downloading user-given URLs without becoming a proxy into the private network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from docloop.config import Settings
from docloop.errors import InvalidInput, PayloadTooLarge


def check_host(url: str, settings: Settings) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"URL {url!r} is not an http(s) URL")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise InvalidInput(f"URL {url!r}: host {parts.hostname!r} does not resolve") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_loopback and settings.allow_private_urls:
            continue
        if (
            ip.is_loopback
            or ip.is_private
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_multicast
            or ip.is_unspecified
        ):
            raise InvalidInput(
                f"URL {url!r} resolves to {ip}, a loopback, private or link-local address"
            )


def fetch(url: str, settings: Settings) -> tuple[str, bytes]:
    """Return (file name, bytes); every redirect hop is checked like the first URL."""
    current = url
    for _ in range(settings.url_max_redirects + 1):
        check_host(current, settings)
        try:
            with (
                httpx.Client(timeout=settings.url_timeout_s, follow_redirects=False) as client,
                client.stream("GET", current) as resp,
            ):
                if resp.is_redirect:
                    current = urljoin(current, resp.headers.get("location", ""))
                    continue
                if resp.status_code >= 400:
                    raise InvalidInput(f"URL {url!r} answered HTTP {resp.status_code}")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > settings.max_upload_bytes:
                        raise PayloadTooLarge(
                            f"URL {url!r} is larger than {settings.max_upload_bytes} bytes"
                        )
                name = urlsplit(current).path.rsplit("/", 1)[-1] or "download"
                return name, bytes(body)
        except httpx.TimeoutException:
            raise InvalidInput(f"URL {url!r} timed out after {settings.url_timeout_s} s") from None
        except httpx.HTTPError as exc:
            raise InvalidInput(f"URL {url!r} could not be fetched: {exc}") from None
    raise InvalidInput(f"URL {url!r} redirected more than {settings.url_max_redirects} times")
