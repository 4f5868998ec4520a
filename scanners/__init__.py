"""Where scans come from: serial scanners, cameras, keyboard wedges and scripts."""

from scanners.base import Scan, Scanner

__all__ = ["Scan", "Scanner"]
