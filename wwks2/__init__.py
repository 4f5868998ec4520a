"""The WWKS2 wire (BD Rowa and other pharmacy robots): escaping, framing, messages, codec. No I/O.

Imports nothing of ours, so the daemon's WWKS2 driver and the WWKS2 robot simulator share it.
Facts and sources: `../shared/reference/wwks2.md`; the summary is in ARCHITECTURE.md ("WWKS2 wire").
"""
