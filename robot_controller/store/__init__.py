"""The durable verification log (SQLite or PostgreSQL), with its audit hash chain."""

from robot_controller.store.store import Intent, Store, Unfinished

__all__ = ["Intent", "Store", "Unfinished"]
