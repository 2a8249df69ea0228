"""What the OpenID Provider knows of each method: its family (and scope), `amr` and `acr`."""

from __future__ import annotations

from dataclasses import dataclass

ACR_LEVELS = ("low", "substantial", "high")


@dataclass(frozen=True)
class Offer:
    method: str
    family: str  # one per client; also the scope that limits the chooser to it
    amr: str
    acr: str


OFFERS: dict[str, Offer] = {
    offer.method: offer
    for offer in (
        Offer("dokobit-mobile-id", "mid", "mID", "high"),
        Offer("marksign-mobile-id", "mid", "mID", "high"),
        Offer("dokobit-smart-id", "smartid", "smartid", "high"),
        Offer("marksign-smart-id", "smartid", "smartid", "high"),
        Offer("eeid", "eeid", "eeid", "substantial"),
        Offer("mobbid-face", "face", "face", "substantial"),
        Offer("mosip-otp", "otp", "otp", "low"),
    )
}
FAMILY_SCOPES = frozenset(offer.family for offer in OFFERS.values())


def meets(acr: str, wanted: str) -> bool:
    return ACR_LEVELS.index(acr) >= ACR_LEVELS.index(wanted)
