"""Calling a party during the credentials handshake (Token B side).

Fetches the party's versions list and the version details for the OCPI
version we agree on, turning every failure into the OCPI error the
reference node gives (3001 unusable API, 3003 / 2001 no matching version).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from twisted.internet import defer
from twisted.internet.error import ConnectError, DNSLookupError, TimeoutError as TxTimeoutError

from . import ocpi
from .ocpi import OcpiError
from .security import ForbiddenDestination
from .platforms import Endpoint


@attrs.frozen
class PartyApi:
    version: str
    details_url: str
    endpoints: tuple[Endpoint, ...]


def _refused(e: ForbiddenDestination) -> OcpiError:
    return OcpiError(ocpi.INVALID_PARAMS, str(e), 400)


def _tls_problem(e: Exception) -> str | None:
    """A readable certificate/TLS failure reason hidden in a connection error, if any."""
    from OpenSSL import SSL

    for reason in getattr(e, "reasons", None) or []:
        if reason.check(SSL.Error):
            detail = "; ".join(str(x[-1]) for x in (reason.value.args[0] if reason.value.args else [])
                               if isinstance(x, tuple)) or str(reason.value)
            return f"TLS certificate verification failed ({detail})"
    return None


async def check_endpoint_urls(http, urls) -> None:
    """Refuse (2001) any URL the SSRF guard of ``http`` would refuse (no-op without a guard)."""
    guard = getattr(http, "guard", None)
    if guard is None:
        return
    for url in urls:
        try:
            await guard.check_url(url)
        except ForbiddenDestination as e:
            raise _refused(e) from None
        except Exception as e:  # noqa: BLE001 - DNS failure: refuse what we cannot check
            raise OcpiError(ocpi.INVALID_PARAMS, f"Cannot check endpoint URL {url.split('?')[0]}: "
                                                 f"{e.__class__.__name__}", 400) from None


async def _get_ocpi(http, url: str, token: str, version: str, timeout: float, reactor, what: str) -> Any:
    try:
        response = await http.get(url, headers={"Authorization": ocpi.auth_header(token, version)},
                                  timeout=timeout, reactor=reactor)
        raw = await response.content()
    except ForbiddenDestination as e:
        raise _refused(e) from None
    except (ConnectError, DNSLookupError, TxTimeoutError, defer.CancelledError) as e:
        raise OcpiError(ocpi.UNUSABLE_API, f"Failed to request {what}from {url}: {e.__class__.__name__}") from None
    except Exception as e:  # malformed URL, TLS failures and the like
        problem = _tls_problem(e) or str(e)
        raise OcpiError(ocpi.UNUSABLE_API, f"Failed to request {what}from {url}: {problem}") from None
    try:
        body = json.loads(raw)
    except ValueError:
        raise OcpiError(ocpi.UNUSABLE_API,
                        f"Failed to request {what}from {url}: HTTP {response.code}, body is not JSON") from None
    if response.code != 200 or not isinstance(body, dict) or body.get("status_code") != ocpi.SUCCESS:
        status = body.get("status_code") if isinstance(body, dict) else None
        raise OcpiError(ocpi.UNUSABLE_API,
                        f"Failed to request {what}from {url}: HTTP {response.code}, status_code {status}")
    return body.get("data")


async def fetch_party_api(http, versions_url: str, token_b: str, wanted: tuple[str, ...],
                          timeout: float, reactor, missing_status: int) -> PartyApi:
    """Versions → details for the first version of ``wanted`` the party offers.

    Token B is sent in the encoding of the version being negotiated (plain for
    2.2, base64 for 2.2.1).
    """
    versions = await _get_ocpi(http, versions_url, token_b, wanted[0], timeout, reactor, "")
    offered: dict[str, str] = {}
    if isinstance(versions, list):
        for v in versions:
            if isinstance(v, dict) and isinstance(v.get("version"), str) and isinstance(v.get("url"), str):
                offered.setdefault(v["version"], v["url"])
    for version in wanted:
        if version in offered:
            break
    else:
        raise OcpiError(missing_status, f"Expected version {' or '.join(wanted)} from {sorted(offered)}")
    details_url = offered[version]
    details = await _get_ocpi(http, details_url, token_b, version, timeout, reactor, f"v{version} details ")
    endpoints = []
    raw_endpoints = details.get("endpoints") if isinstance(details, dict) else None
    if not isinstance(raw_endpoints, list):
        raise OcpiError(ocpi.UNUSABLE_API, f"Failed to request v{version} details from {details_url}: "
                                           "no endpoints list")
    for e in raw_endpoints:
        if (isinstance(e, dict) and isinstance(e.get("identifier"), str) and isinstance(e.get("url"), str)
                and e.get("role", "").upper() in ("SENDER", "RECEIVER")):
            endpoints.append(Endpoint(e["identifier"], e["role"].upper(), e["url"]))
    await check_endpoint_urls(http, [e.url for e in endpoints])
    return PartyApi(version, details_url, tuple(endpoints))
