"""The fmd-robot daemon: wiring, pipeline, store, robot drivers and the command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fmd-robot")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
