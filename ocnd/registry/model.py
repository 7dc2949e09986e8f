"""Plain data types describing what the OCN Registry knows.

These are shared by the contract client, the local snapshot and the node's
routing code.  Addresses are EIP-55 checksum strings; country codes and party
ids are stored upper-case (the contract itself is case-sensitive, the OCPI
world is not, so we normalise at the edges).
"""

from __future__ import annotations

import enum

import attrs

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class Role(enum.IntEnum):
    """Registry role enum; the numeric order is part of the protocol."""

    CPO = 0
    EMSP = 1
    HUB = 2
    NAP = 3
    NSP = 4
    OTHER = 5
    SCSP = 6


class Module(enum.IntEnum):
    """Registry module enum; the numeric order is part of the protocol."""

    cdrs = 0
    chargingprofiles = 1
    commands = 2
    locations = 3
    sessions = 4
    tariffs = 5
    tokens = 6


def norm_party(country_code: str, party_id: str) -> tuple[str, str]:
    """Upper-case and strip a (country_code, party_id) pair."""
    return country_code.strip().upper(), party_id.strip().upper()


@attrs.frozen
class NodeListing:
    """A node operator: its address and the public URL it registered."""

    operator: str
    url: str


@attrs.frozen
class PartyListing:
    """An OCPI party as listed in the registry."""

    address: str
    country_code: str
    party_id: str
    roles: tuple[Role, ...]
    modules_sender: tuple[Module, ...]
    modules_receiver: tuple[Module, ...]
    operator: str
    # URL of the operator's node, resolved live by the contract ("" when the
    # operator deleted its node).
    url: str

    @property
    def key(self) -> tuple[str, str]:
        return norm_party(self.country_code, self.party_id)


@attrs.frozen
class Service:
    """A Permissions-contract service offered by a provider party."""

    provider: str
    country_code: str
    party_id: str
    name: str
    url: str
    permissions: tuple[int, ...]
