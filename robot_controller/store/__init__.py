"""The durable verification log (SQLite or PostgreSQL), with its audit hash chain."""

from robot_controller.store.errors import StoreBusy, StoreError, StoreMissing, StoreUnwritable
from robot_controller.store.records import DEFAULT_ROBOT, Intent, ShelvedPack, Unfinished
from robot_controller.store.store import Store

__all__ = [
    "DEFAULT_ROBOT",
    "Intent",
    "ShelvedPack",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreMissing",
    "StoreUnwritable",
    "Unfinished",
]
