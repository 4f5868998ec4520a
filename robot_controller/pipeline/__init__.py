"""The loading pipeline: scans in, verified and decided packs out to the robot, every step logged.

- `lifecycle`: `Pipeline`, recover → load → drain → shut down, over a bounded window of packs.
- `steps`: one pack's steps (parse, check, verify, decommission, robot job, route).
- `hub_calls`: the hub under invariant 3 (every call traced, a decommission sent at most once).
- `recovery`: what a crash left half done.
- `background`: outbox replay and retrieve-to-quarantine beside loading.
"""

from robot_controller.pipeline.context import Prepared, Routed, utc_now
from robot_controller.pipeline.lifecycle import Pipeline, ScannerFailed

__all__ = ["Pipeline", "Prepared", "Routed", "ScannerFailed", "utc_now"]
