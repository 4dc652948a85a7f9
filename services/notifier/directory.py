"""Who to tell: the clerk of each organisation, from the bundle's static directory."""

from __future__ import annotations

from signpost.bundle import Bundle, Clerk, Organisation


class UnknownOwner(LookupError):
    """The routed owner is not in this notifier's bundle (a permanent failure)."""


class StaticDirectory:
    def __init__(self, bundle: Bundle) -> None:
        self._organisations = bundle.organisations

    def organisation(self, owner_id: str) -> Organisation:
        try:
            return self._organisations[owner_id]
        except KeyError:
            raise UnknownOwner(f"organisation {owner_id!r} is not in the directory") from None

    def clerk_for(self, owner_id: str) -> Clerk:
        return self.organisation(owner_id).clerk
