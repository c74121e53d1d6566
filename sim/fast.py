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

#: request shapes prepared per vendor before the cache starts over (memory stays flat)
PREPARED = 4096


class FastVendorClient:
    """``send(org, api_key, request, timeout) -> VendorResponse`` against the vendor model."""

    __slots__ = ("_by_key", "_env", "_prepared", "_sleep", "_vendors")

    def __init__(self, hub: Hub, world: VendorWorld, config: MultiOrgConfig) -> None:
        self._env = hub.env
        self._sleep = hub.sleep
        self._by_key = world.by_key
        #: per vendor, what preparing a request needs: (config, model map, leaves the system
        #: prompt as the caller wrote it?, default max_tokens)
        self._vendors = {
            v.name: (v, v.model_map, not v.system_prompt_suffix and v.system_prompt_override is None,
                     DEFAULT_MAX_TOKENS if v.name == "anthropic" else 0)
            for v in config.vendors
        }
        #: per vendor, per request object (by id), what the vendor sees of it: (the request, model,
        #: prompt tokens, max_tokens). The simulator reuses one immutable ChatRequest per shape,
        #: so this is worked out once per shape, not per attempt. The entry holds the request:
        #: its id cannot be reused while cached (and ``is`` is checked anyway). Bounded. (A ChatRequest
        #: is immutable; one whose message dicts a caller mutates between sends is not supported.)
        self._prepared: dict[str, dict[int, tuple[ChatRequest, str, int, int]]] = {v: {} for v in self._vendors}

    def _prepare(self, vendor_name: str, request: ChatRequest) -> tuple[ChatRequest, str, int, int]:
        vendor, model_map, plain, default_max = self._vendors[vendor_name]
        model = model_map.get(request.model, request.model)
        system = request.system if plain else system_prompt_for(request, vendor)
        prompt = prompt_tokens_of(request.messages, system)
        max_tokens = request.max_tokens
        prep = (request, model, prompt, default_max if max_tokens is None else max_tokens)
        cache = self._prepared[vendor_name]
        if len(cache) >= PREPARED:
            cache.clear()
        cache[id(request)] = prep
        return prep

    def send(self, org: OrgConfig, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        om = self._by_key.get(api_key)
        vendor = org.vendor
        prep = self._prepared[vendor].get(id(request))
        if prep is None or prep[0] is not request:
            prep = self._prepare(vendor, request)
        _, model, prompt, max_tokens = prep
        if om is None:
            d = unknown_key(vendor, model)
        elif vendor == "openai" and org.org_id and org.org_id != om.org_id:
            d = om.refuse(wire.ORG_MISMATCH, model, timeout)
        else:
            d = om.decide(model, prompt, max_tokens, timeout, self._env._now)
        latency, status, _, exc, headers, body = d
        self._sleep(latency)
        if exc:
            if exc == TIMEOUT:
                raise httpx.ReadTimeout("timed out")
            raise httpx.ConnectError("[Errno 104] Connection reset by peer")
        # tuple.__new__: VendorResponse is a NamedTuple, whose generated __new__ is a Python call
        return _new(VendorResponse, (status, headers, body))  # type: ignore[arg-type]


_new = tuple.__new__


def unknown_key(vendor: str, model: str) -> Decision:
    """The answer to a key no simulated org owns (a misconfigured scenario): 401, no draws."""
    status, body = wire.vendor_error(vendor, wire.AUTH, model=model, org_id="")
    return Decision(0.0, status, wire.AUTH, 0, {}, body)


__all__ = ["CONNECT", "TIMEOUT", "FastVendorClient", "unknown_key"]
