"""The HTTP status a gateway sees for an outcome: the peer policies (``litellm``, ``portkey``) decide
on status codes, not on outcome classes.

The router passes the vendor's status with each result (see ``BreakerBoard.record``). A transport
failure has none (status 0), and a policy driven directly (tests, the stateful models) may pass
none: then the status a gateway would have seen stands in — a timeout is a 408 in both LiteLLM
(``litellm.Timeout``) and Portkey (``fetchWithTimeout``), a refused connection a 500 (LiteLLM's
``APIConnectionError``; Portkey's ``retryRequest`` turns a fetch error into a 500).
"""

from __future__ import annotations

from ..outcomes import Outcome

__all__ = ["STATUS_OF", "status_code"]

#: outcome → the status a gateway sees when the router passed none
STATUS_OF: dict[Outcome, int] = {
    Outcome.SUCCESS: 200,
    Outcome.SLOW: 200,
    Outcome.RATE_LIMITED: 429,
    Outcome.QUOTA: 429,
    Outcome.AUTH: 401,
    Outcome.SERVER: 500,
    Outcome.TIMEOUT: 408,
    Outcome.CONNECTION: 500,
    Outcome.CLIENT_ERROR: 400,
}


def status_code(outcome: Outcome, status: int) -> int:
    """``status`` when the vendor sent one (non-zero), else the stand-in for ``outcome``."""
    return status if status else STATUS_OF[outcome]
