"""The durable verification log (SQLite or PostgreSQL), with its audit hash chain."""

from robot_controller.store.records import Intent, Unfinished
from robot_controller.store.store import Store

__all__ = ["Intent", "Store", "Unfinished"]
