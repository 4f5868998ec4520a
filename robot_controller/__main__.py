"""`python -m robot_controller` is `fmd-robot`."""

from robot_controller.cli import main

main()
