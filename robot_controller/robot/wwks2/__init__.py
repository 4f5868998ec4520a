"""The WWKS2 driver: the link to the robot, its status, our answers to its InputRequests."""

from robot_controller.robot.wwks2.link import BrokenInputRequest, LinkSettings, Wwks2Link
from robot_controller.robot.wwks2.robot import Arrival, Output, Wwks2Robot, Wwks2Settings

__all__ = [
    "Arrival",
    "BrokenInputRequest",
    "LinkSettings",
    "Output",
    "Wwks2Link",
    "Wwks2Robot",
    "Wwks2Settings",
]
