"""Token-aware latency: published defaults per model family, and the lognormal's sigma.

An attempt's latency, token-aware (``latency: {ttft, tpot, output}`` or ``latency: {family}``,
:class:`sim.scenario.Latency`): time to first token + output tokens x time per output token,
each lognormal with its own noise; the output length is drawn per request as a share of its
``max_tokens``. :class:`sim.vendor_model.OrgModel` draws it.

Defaults per family (:data:`FAMILIES`), medians from Artificial Analysis's provider pages —
"Figures represent median (P50) measurement over the past 14 days", TTFT = "time to first token
received, in seconds, after API request sent", output speed = "tokens per second received while
the model is generating tokens" (so TPOT = 1 / output speed). Retrieved 2026-12-02 from stored
copies of the pages, which carry no date of their own; the figures move over time (another copy
of the Claude 3.5 Sonnet page says 95 t/s at 0.80 s):

=================  ========  ===============  ==================================================
family             TTFT      output speed     source (the vendor's own endpoint)
=================  ========  ===============  ==================================================
gpt-4o             0.39 s    81 t/s           artificialanalysis.ai/models/gpt-4o-2024-05-13/providers (OpenAI)
claude-3-5-sonnet  0.81 s    64 t/s           artificialanalysis.ai/models/claude-35-sonnet/providers (Anthropic)
claude-3-5-haiku   1.0 s *   68 t/s           artificialanalysis.ai/models/claude-3-5-haiku/providers (Anthropic)
gpt-4o-mini        0.39 s *  59 t/s *         see below
=================  ========  ===============  ==================================================

``*`` not a published figure:

- claude-3-5-haiku TTFT: the page ranks Anthropic's endpoint after Amazon (0.81 s) and Google
  Vertex (0.99 s) without its figure; 1.0 s is that lower bound, rounded.
- gpt-4o-mini: no Artificial Analysis figure could be found. Output speed: an OpenAI community
  measurement (community.openai.com/t/inference-speed-of-different-models/1307310: 500-token
  completions, mean 59.0 t/s, min 46.1, max 69.9). TTFT: none found; gpt-4o's is assumed.

The p99s are assumptions, not measurements (the pages publish medians): TTFT p99 = 5 x median
(the tail of the lab's shorthand default, 0.8 s / 4 s), TPOT p99 = 2 x median (the community
measurement of gpt-4o-2024-05-13 ranged 35.7-79.9 t/s around a median of 65.5: its slowest
request ~1.8x the median's time per token; community.openai.com/t/768559).
"""

from __future__ import annotations

import math

#: the standard normal's 99th percentile: sigma = ln(p99 / median) / Z99
Z99 = 2.3263478740408408

#: TTFT and TPOT tails assumed for the published medians (see the module's docstring)
_TTFT_TAIL = 5.0
_TPOT_TAIL = 2.0


def _family(ttft: float, tokens_per_second: float) -> dict[str, dict[str, float]]:
    tpot = 1.0 / tokens_per_second
    return {
        "ttft": {"median": ttft, "p99": round(ttft * _TTFT_TAIL, 6)},
        "tpot": {"median": round(tpot, 6), "p99": round(tpot * _TPOT_TAIL, 6)},
    }


#: family → the ``ttft`` and ``tpot`` (median, p99 in seconds) ``latency: {family: ...}`` takes
FAMILIES: dict[str, dict[str, dict[str, float]]] = {
    "gpt-4o": _family(0.39, 81.0),
    "gpt-4o-mini": _family(0.39, 59.0),
    "claude-3-5-sonnet": _family(0.81, 64.0),
    "claude-3-5-haiku": _family(1.0, 68.0),
}


def lognormal_sigma(median: float, p99: float) -> float:
    """The sigma of the lognormal with this median and 99th percentile."""
    return math.log(p99 / median) / Z99
