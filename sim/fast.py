"""Fast mode: an in-process ``VendorClient`` that asks the vendor model directly.

No HTTP, no JSON: the router's request goes straight to :meth:`OrgModel.decide`, the calling
request greenlet sleeps for the decided latency through the hub, and the answer comes back as
a ``VendorResponse`` with the very headers and body dicts full mode would have encoded (timeouts
and connection resets are raised as the same httpx exceptions). So the router classifies
identically in both modes. The vendor sees what the wire would carry: the vendor's model name
(``model_map``), the prompt as the vendor would count it (system prompt adjusted per vendor),
``max_tokens`` (Anthropic's default when unset), the ``OpenAI-Organization`` header.
"""

from __future__ import annotations

import httpx

from multiorg.client import VendorResponse
from multiorg.config import MultiOrgConfig, OrgConfig
from multiorg.vendors import DEFAULT_MAX_TOKENS, ChatRequest, system_prompt_for

from . import wire
from .bridge import Hub
from .vendor_model import CONNECT, TIMEOUT, Decision, VendorWorld, prompt_tokens_of


class FastVendorClient:
    """``send(org, api_key, request, timeout) -> VendorResponse`` against the vendor model."""

    __slots__ = ("_by_key", "_env", "_plain", "_sleep", "_vendors")

    def __init__(self, hub: Hub, world: VendorWorld, config: MultiOrgConfig) -> None:
        self._env = hub.env
        self._sleep = hub.sleep
        self._by_key = world.by_key
        self._vendors = {v.name: v for v in config.vendors}
        #: vendors that leave the system prompt as the caller wrote it
        self._plain = {
            v.name for v in config.vendors if not v.system_prompt_suffix and v.system_prompt_override is None
        }

    def send(self, org: OrgConfig, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        om = self._by_key.get(api_key)
        vname = org.vendor
        vendor = self._vendors[vname]
        model = vendor.model_map.get(request.model, request.model)
        if om is None:
            d = unknown_key(vname, model)
        elif org.org_id and vname == "openai" and org.org_id != om.org_id:
            d = om.refuse(wire.ORG_MISMATCH, model)
        else:
            system = request.system if vname in self._plain else system_prompt_for(request, vendor)
            prompt = prompt_tokens_of(request.messages, system)
            max_tokens = request.max_tokens
            if max_tokens is None:
                max_tokens = DEFAULT_MAX_TOKENS if vname == "anthropic" else 0
            d = om.decide(model, prompt, max_tokens, timeout, self._env._now)
        latency, status, _, exc, headers, body = d
        self._sleep(latency)
        if exc:
            if exc == TIMEOUT:
                raise httpx.ReadTimeout("timed out")
            raise httpx.ConnectError("[Errno 104] Connection reset by peer")
        return VendorResponse(status, headers, body)  # type: ignore[arg-type]


def unknown_key(vendor: str, model: str) -> Decision:
    """The answer to a key no simulated org owns (a misconfigured scenario): 401, no draws."""
    if vendor == "openai":
        status, body = wire.openai_error(wire.AUTH, model=model, org_id="")
    else:
        status, body = wire.anthropic_error(wire.AUTH, model=model, org_id="")
    return Decision(0.0, status, wire.AUTH, 0, {}, body)


__all__ = ["CONNECT", "TIMEOUT", "FastVendorClient", "unknown_key"]
