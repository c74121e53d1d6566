"""Circuit breakers: one protocol (:mod:`.base`), one small module per policy, one board.

Policies (see each module for the exact semantics): ``none`` (:class:`NoBreaker`),
``consecutive`` (:class:`ConsecutiveBreaker`), ``exponential`` (:class:`ExponentialBreaker`,
the seed's), ``failure-rate`` (:class:`FailureRateBreaker`, Resilience4j-style), ``outlier``
(:class:`OutlierDetector`, Envoy-style, one record per model) and ``adaptive``
(:class:`AdaptiveThrottle`, Google SRE client-side throttling); and two peer gateways modelled
from their sources, ``litellm`` (:class:`LiteLLMCooldowns`, the LiteLLM Router's cooldowns) and
``portkey`` (:class:`PortkeyBreaker`, the Portkey gateway's circuit breaker), one record per
model each. Build one by name with
:func:`make_policy`, optionally from a preset in :data:`PRESETS`.
"""

from .adaptive import AdaptiveState, AdaptiveThrottle
from .base import STATE_CODES, Admission, BreakerPolicy, BreakerView, State, params_summary
from .board import BreakerBoard
from .common import BreakerParams
from .consecutive import ConsecutiveBreaker
from .exponential import ExponentialBreaker, TripBreaker, TripState
from .failure_rate import FailureRateBreaker, RateState
from .litellm import LiteLLMCooldowns, LiteLLMState
from .none import NoBreaker, NoState
from .outlier import OutlierDetector, OutlierState
from .portkey import PortkeyBreaker, PortkeyState
from .registry import POLICIES, PRESET_DOCS, PRESETS, list_policies, list_presets, make_policy

__all__ = [
    "POLICIES",
    "PRESETS",
    "PRESET_DOCS",
    "STATE_CODES",
    "AdaptiveState",
    "AdaptiveThrottle",
    "Admission",
    "BreakerBoard",
    "BreakerParams",
    "BreakerPolicy",
    "BreakerView",
    "ConsecutiveBreaker",
    "ExponentialBreaker",
    "FailureRateBreaker",
    "LiteLLMCooldowns",
    "LiteLLMState",
    "NoBreaker",
    "NoState",
    "OutlierDetector",
    "OutlierState",
    "PortkeyBreaker",
    "PortkeyState",
    "RateState",
    "State",
    "TripBreaker",
    "TripState",
    "list_policies",
    "list_presets",
    "make_policy",
    "params_summary",
]
