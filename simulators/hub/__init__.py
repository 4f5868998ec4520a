"""The NMVS simulator: both wire dialects (SOAP, REST) over one `MockHub`, on real HTTPS."""

from simulators.hub.accounts import AccountBook, Accounts, RestEquipment, SoapLogin
from simulators.hub.app import create_app
from simulators.hub.faults import Faults
from simulators.hub.server import HubSimulator
from simulators.hub.tls import Pki, make_pki

__all__ = [
    "AccountBook",
    "Accounts",
    "Faults",
    "HubSimulator",
    "Pki",
    "RestEquipment",
    "SoapLogin",
    "create_app",
    "make_pki",
]
