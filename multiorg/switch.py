"""The vendor switch: one key in the store selects the active vendor for every pod (the seed's
"one click" fallback to Anthropic, and one click back)."""

from __future__ import annotations

from .stores.base import StateStore

VENDORS = ("openai", "anthropic", "azure")


class VendorSwitch:
    __slots__ = ("_default", "_key", "_store")

    def __init__(self, store: StateStore, default: str = "openai", namespace: str = "multiorg") -> None:
        self._store = store
        self._default = default
        self._key = f"{namespace}:switch:vendor"

    def active(self) -> str:
        return self._store.get_flag(self._key) or self._default

    def set(self, vendor: str | None) -> None:
        """Point every pod at ``vendor`` (``None``: back to each pod's configured default)."""
        if vendor is not None and vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r} (expected one of {', '.join(VENDORS)})")
        self._store.set_flag(self._key, vendor)
