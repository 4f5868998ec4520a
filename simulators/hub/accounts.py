"""Who may log in to the hub simulator, and which pharmacy (location) each login stands for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar


@dataclass(frozen=True, slots=True)
class SoapLogin:
    """Arvato-style login fields sent in every SOAP body (besides the client certificate)."""

    client_login_id: str
    user_id: str
    password: str
    location: str


@dataclass(frozen=True, slots=True)
class RestEquipment:
    """Solidsoft-style OAuth2 client credentials of one registered piece of equipment."""

    client_id: str
    client_secret: str
    location: str


_Found = TypeVar("_Found")

SIM_LOCATION = "hospital-pharmacy-1"
SIM_SOAP_LOGIN = ("PHARMACY01", "robot01", "sim-password-1")
"""The simulator's SOAP login: client login id, user id, password."""
SIM_REST_EQUIPMENT = ("robot-equipment-01", "sim-secret-1")
"""The simulator's REST equipment: client id, client secret."""


@dataclass(frozen=True, slots=True)
class Accounts:
    soap: tuple[SoapLogin, ...] = field(default=(SoapLogin(*SIM_SOAP_LOGIN, SIM_LOCATION),))
    rest: tuple[RestEquipment, ...] = field(
        default=(RestEquipment(*SIM_REST_EQUIPMENT, SIM_LOCATION),)
    )

    @classmethod
    def for_location(cls, location: str) -> Accounts:
        """The simulator's logins, standing for the pharmacy at `location`."""
        return cls(
            soap=(SoapLogin(*SIM_SOAP_LOGIN, location),),
            rest=(RestEquipment(*SIM_REST_EQUIPMENT, location),),
        )

    def soap_login(self, client_login_id: str, user_id: str, password: str) -> SoapLogin | None:
        """The login these fields match, or None."""
        for login in self.soap:
            if (login.client_login_id, login.user_id, login.password) == (
                client_login_id,
                user_id,
                password,
            ):
                return login
        return None

    def equipment(self, client_id: str, client_secret: str) -> RestEquipment | None:
        """The equipment these client credentials match, or None."""
        for equipment in self.rest:
            if (equipment.client_id, equipment.client_secret) == (client_id, client_secret):
                return equipment
        return None


class AccountBook:
    """The accounts the simulator accepts now, and how many logins it refused.

    A test changes `accounts` while the simulator runs (a password reset, a secret rotated at
    the national system): SOAP logins are checked on every request, and REST tokens issued to
    equipment that is no longer registered stop working.
    """

    def __init__(self, accounts: Accounts | None = None) -> None:
        self.accounts = accounts or Accounts()
        self.refused = 0

    def soap_login(self, client_login_id: str, user_id: str, password: str) -> SoapLogin | None:
        """The login these fields match now, or None (counted as refused)."""
        return self._counted(self.accounts.soap_login(client_login_id, user_id, password))

    def equipment(self, client_id: str, client_secret: str) -> RestEquipment | None:
        """The equipment these client credentials match now, or None (counted as refused)."""
        return self._counted(self.accounts.equipment(client_id, client_secret))

    def registered(self, equipment: RestEquipment) -> bool:
        """Is this equipment (a token's holder) still registered?"""
        return equipment in self.accounts.rest

    def _counted(self, found: _Found | None) -> _Found | None:
        if found is None:
            self.refused += 1
        return found
