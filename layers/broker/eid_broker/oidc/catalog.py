"""What the OpenID Provider knows of each method: its family (and scope), `amr`, `acr`, page support."""

from __future__ import annotations

from dataclasses import dataclass

ACR_LEVELS = ("low", "substantial", "high")


@dataclass(frozen=True)
class Offer:
    method: str
    family: str  # one per client; also the scope that limits the chooser to it
    amr: str
    acr: str
    page: bool  # the hosted page has its steps (the others come with the next pages)


OFFERS: dict[str, Offer] = {
    offer.method: offer
    for offer in (
        Offer("dokobit-mobile-id", "mid", "mID", "high", True),
        Offer("marksign-mobile-id", "mid", "mID", "high", True),
        Offer("dokobit-smart-id", "smartid", "smartid", "high", True),
        Offer("marksign-smart-id", "smartid", "smartid", "high", True),
        Offer("eeid", "eeid", "eeid", "substantial", False),
        Offer("mobbid-face", "face", "face", "substantial", False),
        Offer("mosip-otp", "otp", "otp", "low", False),
    )
}
FAMILY_SCOPES = frozenset(offer.family for offer in OFFERS.values())


def meets(acr: str, wanted: str) -> bool:
    return ACR_LEVELS.index(acr) >= ACR_LEVELS.index(wanted)
