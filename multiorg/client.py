"""Vendor clients: how one attempt reaches one org.

The router core only needs ``send(org, api_key, request, timeout) -> VendorResponse`` (sync) or
its awaitable twin. The HTTP clients speak each vendor's wire format over any httpx transport —
a real network in production, mocked vendors in tests.
Transport failures surface as httpx exceptions, which :func:`multiorg.outcomes.classify_exception`
reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import httpx

from .config import MultiOrgConfig, OrgConfig, VendorConfig
from .vendors import ChatRequest, anthropic_body, azure_request, openai_body


class VendorResponse(NamedTuple):
    status: int
    #: lower-case keys (or a case-insensitive mapping such as httpx.Headers)
    headers: Mapping[str, str]
    #: decoded JSON body (None when the body was not JSON)
    body: Any


class VendorClient(Protocol):
    def send(self, org: OrgConfig, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse: ...


class AsyncVendorClient(Protocol):
    async def send(self, org: OrgConfig, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse: ...


class _Wire:
    """Builds the vendor's HTTP request for one attempt (shared by the sync and async clients)."""

    def __init__(self, config: MultiOrgConfig) -> None:
        self._vendors: dict[str, VendorConfig] = {v.name: v for v in config.vendors}

    def build(self, org: OrgConfig, api_key: str, request: ChatRequest) -> tuple[str, dict[str, str], bytes]:
        vendor = self._vendors[org.vendor]
        base = vendor.base_url.rstrip("/")
        if org.vendor == "anthropic":
            headers = {"x-api-key": api_key, "anthropic-version": vendor.anthropic_version}
            url, body = base + "/messages", anthropic_body(request, vendor)
        elif org.vendor == "azure":
            url, headers, body = azure_request(org, vendor, api_key, request)
        else:
            headers = {"authorization": f"Bearer {api_key}"}
            if org.org_id:
                headers["openai-organization"] = org.org_id
            url, body = base + "/chat/completions", openai_body(request, vendor)
        headers["content-type"] = "application/json"
        return url, headers, json.dumps(body, separators=(",", ":")).encode()


def _decode(resp: httpx.Response) -> VendorResponse:
    try:
        body = json.loads(resp.content) if resp.content else None
    except ValueError:
        body = None
    # A plain dict (httpx lower-cases the names): the classifier's lookups are dict-fast then.
    # Built from items(), one pass: dict(headers) would look every name up again, and each
    # httpx lookup scans the whole header list.
    return VendorResponse(resp.status_code, dict(resp.headers.items()), body)


class HttpVendorClient:
    """Sync client over an ``httpx.Client`` (its transport decides where bytes go)."""

    def __init__(self, config: MultiOrgConfig, http: httpx.Client | None = None) -> None:
        self._wire = _Wire(config)
        self.http = http or httpx.Client()

    def send(self, org: OrgConfig, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        url, headers, content = self._wire.build(org, api_key, request)
        return _decode(self.http.post(url, headers=headers, content=content, timeout=timeout))


class AsyncHttpVendorClient:
    def __init__(self, config: MultiOrgConfig, http: httpx.AsyncClient | None = None) -> None:
        self._wire = _Wire(config)
        self.http = http or httpx.AsyncClient()

    async def send(self, org: OrgConfig, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        url, headers, content = self._wire.build(org, api_key, request)
        return _decode(await self.http.post(url, headers=headers, content=content, timeout=timeout))
