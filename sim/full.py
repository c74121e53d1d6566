"""Full mode: the router's real ``HttpVendorClient`` over httpx, answered by respx-mocked vendors.

One respx ``MockRouter`` per run with a route per vendor endpoint —
``POST {openai base}/chat/completions``, ``POST {anthropic base}/messages`` and, per Azure
resource endpoint, ``POST {endpoint}/openai/deployments/{deployment}/chat/completions`` (any
other path there is Azure's 404 "Resource not found"). The side effect
reads the request as a vendor would: the org from the API key (``Authorization: Bearer`` /
``x-api-key`` / Azure's ``api-key``, which must belong to a resource at that endpoint; a
mismatched ``OpenAI-Organization`` is refused; Azure: the ``api-version`` query parameter must be
there, and the deployment must exist at the resource), the model, ``max_tokens``
and the prompt from the JSON body, and the client's timeout from
``request.extensions["timeout"]``. It asks the same :meth:`OrgModel.decide` as fast mode,
sleeps the decided latency in simulated time through the hub, and answers in the vendor's wire
format — or raises ``httpx.ReadTimeout`` / ``httpx.ConnectError`` itself (respx does not
enforce httpx timeouts).

respx records every call; the recorded calls are dropped every :data:`CALL_LOG_LIMIT` calls so
a million-request run keeps bounded memory.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable
from typing import Any

import httpx
import respx

from multiorg.config import MultiOrgConfig

from . import wire
from .bridge import Hub
from .fast import unknown_key
from .vendor_model import CONNECT, TIMEOUT, Decision, VendorWorld, prompt_tokens_of

CALL_LOG_LIMIT = 1024
#: the chat completions path of an Azure deployment, after the resource's endpoint
_AZURE_CHAT = r"/openai/deployments/[^/?#]+/chat/completions(\?|$)"
_JSON = "application/json"


def _effect(answer: Callable[[httpx.Request], httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    """``answer`` as a respx side effect. respx reads the side effect's signature on every call
    (to pass ``route=`` if it is asked for); a precomputed ``__signature__`` makes that a lookup
    instead of an introspection costing as much as the vendor decision itself."""

    def effect(request: httpx.Request) -> httpx.Response:
        return answer(request)

    effect.__signature__ = inspect.signature(effect)  # type: ignore[attr-defined]
    return effect


class MockedVendors:
    """The respx-mocked vendor APIs of one run."""

    def __init__(self, hub: Hub, world: VendorWorld, config: MultiOrgConfig) -> None:
        self.hub = hub
        self.world = world
        self.mock = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        self.calls = 0
        for v in config.vendors:
            base = v.base_url.rstrip("/")
            if v.name == "openai":
                self.mock.post(base + "/chat/completions", name="openai").mock(side_effect=_effect(self._openai))
            elif v.name == "anthropic":
                self.mock.post(base + "/messages", name="anthropic").mock(side_effect=_effect(self._anthropic))
        endpoints: list[str] = []
        for o in config.orgs:
            if o.azure is not None and o.azure.endpoint.rstrip("/") not in endpoints:
                endpoints.append(o.azure.endpoint.rstrip("/"))
        for base in endpoints:
            at = "^" + re.escape(base)
            self.mock.post(url__regex=at + _AZURE_CHAT, name="azure:" + base).mock(side_effect=_effect(self._azure))
            self.mock.route(url__regex=at + "/", name="azure-404:" + base).mock(side_effect=_effect(self._azure_404))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.mock.handler)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    # ------------------------------------------------------------------ side effects

    def _openai(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        return self._serve(request, "openai", key, request.headers.get("openai-organization"))

    def _anthropic(self, request: httpx.Request) -> httpx.Response:
        return self._serve(request, "anthropic", request.headers.get("x-api-key", ""), None)

    def _azure(self, request: httpx.Request) -> httpx.Response:
        return self._serve(request, "azure", request.headers.get("api-key", ""), None)

    def _azure_404(self, request: httpx.Request) -> httpx.Response:
        status, body = wire.azure_error(wire.RESOURCE_NOT_FOUND, model="", org_id="")
        return httpx.Response(status, json=body, request=request)

    def _serve(self, request: httpx.Request, vendor: str, key: str, org_header: str | None) -> httpx.Response:
        self.calls += 1
        if self.calls % CALL_LOG_LIMIT == 0:
            self.mock.reset()  # bounded memory: respx keeps every call otherwise
        body = json.loads(request.content)
        model = str(body.get("model", ""))
        om = self.world.by_key.get(key)
        t = request.extensions.get("timeout") or {}
        timeout = t.get("read")
        limit = math.inf if timeout is None else float(timeout)
        az = om.spec.azure if om is not None else None
        if om is not None and (om.vendor != vendor or (
                az is not None and not str(request.url).startswith(az.endpoint.rstrip("/") + "/"))):
            om = None  # a key of another vendor, or of no resource at this endpoint
        if om is None:
            d = unknown_key(vendor, model)
        elif org_header and org_header != om.org_id:
            d = om.refuse(wire.ORG_MISMATCH, model, limit)
        elif az is not None and not request.url.params.get("api-version"):
            d = om.refuse(wire.RESOURCE_NOT_FOUND, model, limit)
        elif az is not None and (deployed := az.model_of(request.url.path.split("/")[3])) is None:
            d = om.refuse(wire.NOT_FOUND, model, limit)
        else:
            if az is not None:
                model = deployed  # Azure serves the deployment's model, whatever the body names
            system = body.get("system") if vendor == "anthropic" else None
            prompt = prompt_tokens_of(body.get("messages") or (), system if isinstance(system, str) else None)
            max_tokens = body.get("max_tokens", body.get("max_completion_tokens")) or 0
            d = om.decide(model, prompt, int(max_tokens), limit, self.hub.env._now)
        self.hub.sleep(d.latency)
        return self._answer(d, request)

    @staticmethod
    def _answer(d: Decision, request: httpx.Request) -> httpx.Response:
        if d.exc == TIMEOUT:
            raise httpx.ReadTimeout("timed out", request=request)
        if d.exc == CONNECT:
            raise httpx.ConnectError("[Errno 104] Connection reset by peer", request=request)
        # dict or SuccessHeaders: both copy to a plain dict without a lookup per name
        headers: dict[str, Any] = d.headers.copy() if d.headers else {}
        headers["content-type"] = _JSON
        # bound to its request, so respx does not clone it
        return httpx.Response(d.status, headers=headers, content=json.dumps(d.body, separators=(",", ":")).encode(),
                              request=request)
