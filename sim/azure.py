"""Azure OpenAI's world as the simulator knows it: which chat models each region offers.

In Azure a model is deployed into a resource, and a resource lives in one region; a model the
region does not offer cannot be deployed there (the seed's talk: "not every model is available in
every region"). A scenario's Azure orgs are checked against this table when it is loaded;
``vendors.azure.regions`` in a scenario adds or replaces regions.

Source: Azure OpenAI "Standard model availability" (regional standard deployments), the model
matrix of MicrosoftDocs/azure-ai-docs, articles/foundry/openai/includes/model-matrix/
standard-models.md (ms.date 2025-08-12, with gpt-5.1 added later). Chat models only; versions
merged (a region offering any version of gpt-4o offers gpt-4o).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_WIDE = ("eastus", "eastus2", "northcentralus", "southcentralus", "swedencentral", "westus", "westus3")

#: chat model → the regions offering it as a regional standard deployment
MODEL_REGIONS: dict[str, tuple[str, ...]] = {
    "gpt-4o-mini": _WIDE,
    "gpt-4o": (*_WIDE, "australiaeast", "canadaeast", "centralus", "francecentral", "japaneast", "norwayeast",
               "southindia", "switzerlandnorth", "uksouth"),
    "gpt-4.1": (*_WIDE, "switzerlandnorth"),
    "gpt-4.1-mini": (*_WIDE, "australiaeast", "canadaeast", "francecentral", "japaneast", "southindia",
                     "switzerlandnorth", "uksouth", "westeurope"),
    "gpt-4.1-nano": ("northcentralus", "swedencentral"),
    "o1": _WIDE,
    "o4-mini": _WIDE,
    "gpt-5.1": (*_WIDE, "centralus"),
}


def region_models(overrides: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """Region → the chat models it offers (sorted), ``overrides`` replacing whole regions."""
    out: dict[str, list[str]] = {}
    for model, regions in MODEL_REGIONS.items():
        for r in regions:
            out.setdefault(r, []).append(model)
    table = {r: tuple(sorted(ms)) for r, ms in out.items()}
    for r, ms in (overrides or {}).items():
        table[r] = tuple(ms)
    return table


def availability_error(org: str, region: str, models: Sequence[str],
                       overrides: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """Why ``org``'s deployments cannot exist in ``region`` (None: they can). No region: unchecked."""
    if not region:
        return None
    table = region_models(overrides)
    offered = table.get(region)
    if offered is None:
        return (f"azure org {org}: region {region!r} is not in the simulator's availability table "
                f"(known: {', '.join(sorted(table))}); declare it under vendors.azure.regions")
    for m in models:
        if m not in offered:
            return (f"azure org {org}: model {m!r} is not available in region {region!r} "
                    f"(it offers {', '.join(offered)})")
    return None
