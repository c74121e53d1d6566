"""multiorg: a multi-org, multi-vendor LLM router with pluggable, Redis-shared circuit breakers.

    from multiorg import Router, load_config
    router = Router(load_config("orgs.yaml"))
    client = openai.OpenAI(http_client=httpx.Client(transport=router.transport()), max_retries=0)
"""

from .alerts import BreakerEvent, EventKind, LoggingNotifier, MemoryNotifier, SlackNotifier
from .client import AsyncHttpVendorClient, HttpVendorClient, VendorResponse
from .clock import Clock, ManualClock, SystemClock
from .config import MultiOrgConfig, OrgConfig, RouterConfig, VendorConfig, load_config
from .errors import ConfigError, MultiOrgError, NoOrgAvailable, UnknownModel
from .outcomes import Classification, Outcome, classify_exception, classify_response
from .router import AsyncRouter, Router, RouteResult, RoutingCore
from .switch import VendorSwitch
from .vendors import ChatRequest

__all__ = [
    "AsyncHttpVendorClient",
    "AsyncRouter",
    "BreakerEvent",
    "ChatRequest",
    "Classification",
    "Clock",
    "ConfigError",
    "EventKind",
    "HttpVendorClient",
    "LoggingNotifier",
    "ManualClock",
    "MemoryNotifier",
    "MultiOrgConfig",
    "MultiOrgError",
    "NoOrgAvailable",
    "OrgConfig",
    "Outcome",
    "RouteResult",
    "Router",
    "RouterConfig",
    "RoutingCore",
    "SlackNotifier",
    "SystemClock",
    "UnknownModel",
    "VendorConfig",
    "VendorResponse",
    "VendorSwitch",
    "classify_exception",
    "classify_response",
    "load_config",
]
