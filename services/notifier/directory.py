"""Who to tell: each organisation's clerk. Two sources behind one interface: the bundle's
static directory, and (services/notifier/modern_gov.py) a council's Modern.Gov web service
that falls back to the static entry."""

from __future__ import annotations

from typing import Protocol

from signpost.bundle import Bundle, Clerk, Organisation


class UnknownOwner(LookupError):
    """The routed owner is not in this notifier's bundle (a permanent failure)."""


class Directory(Protocol):
    def organisation(self, owner_id: str) -> Organisation: ...

    async def clerk_for(self, organisation: Organisation) -> Clerk: ...


class StaticDirectory:
    def __init__(self, bundle: Bundle) -> None:
        self._organisations = bundle.organisations

    def organisation(self, owner_id: str) -> Organisation:
        try:
            return self._organisations[owner_id]
        except KeyError:
            raise UnknownOwner(f"organisation {owner_id!r} is not in the directory") from None

    async def clerk_for(self, organisation: Organisation) -> Clerk:
        return organisation.clerk
