"""`--source` specs of the diagnostic commands, read into the same scanner configuration the
daemon uses: `serial:PORT`, `camera:INDEX|URL`, `file:PATH` (a video, or a text file of scans)
and `stdin`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from robot_controller.config import ConfigError, ScannerConfig
from robot_controller.config_problems import first_problem

VIDEO_SUFFIXES = frozenset({".avi", ".mkv", ".mp4", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg"})
SOURCE_HELP = "serial:PORT, camera:INDEX|URL, file:PATH (video or text file of scans) or stdin"
_SCANNER_CONFIG: TypeAdapter[ScannerConfig] = TypeAdapter(ScannerConfig)


def source_config(
    spec: str,
    *,
    baudrate: int = 9600,
    suffix: str = "CR",
    decoder: str = "zxing",
    gs_substitute: str | None = None,
) -> ScannerConfig:
    """The scanner configuration a `--source` spec names; `ConfigError` when it names none."""
    kind, _, target = spec.partition(":")
    settings: dict[str, Any]
    if spec == "stdin":
        settings = {"kind": "keyboard", "gs_substitute": gs_substitute}
    elif kind == "serial" and target:
        settings = {"kind": "serial", "port": target, "baudrate": baudrate, "suffix": suffix}
    elif kind == "camera" and target:
        source = int(target) if target.isdigit() else target
        settings = {"kind": "camera", "source": source, "decoder": decoder}
    elif kind == "file" and target and Path(target).suffix.lower() in VIDEO_SUFFIXES:
        settings = {"kind": "camera", "source": target, "decoder": decoder}
    elif kind == "file" and target:
        settings = {"kind": "script", "path": target}
    else:
        raise ConfigError(f"--source {spec!r}: expected {SOURCE_HELP}")
    try:
        return _SCANNER_CONFIG.validate_python(settings)
    except ValidationError as error:
        raise ConfigError(f"--source {spec}: {first_problem(error, ScannerConfig)}") from None
