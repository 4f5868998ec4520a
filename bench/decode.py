"""Benchmark of the camera's DataMatrix decoding on a seeded synthetic corpus. Prints one JSON line.

The corpus (simulators.camera.corpus): 1280×720 BGR frames, a quarter of them empty, the others
holding 1–3 pack codes (GS1 with CSET 82 serials, some IFA format 06) at 3–9 px a module, any
angle, perspective, lighting gradient, glare, blur σ 0–1.8 and noise σ 2–14.

Contenders, each run on every frame in turn (so load from other processes weighs on all alike),
in one process pinned to one core with OpenCV held to one thread:
- zxing_pipeline: the camera scanner's per-frame work (`camera_pipeline`) with the default
  ZxingDecoder, which reads only the crops where `regions.candidates` sees codes;
- zxing_pipeline_whole_frame: the same without locating, to compare with
- zxing_bare: `zxingcpp.read_barcodes` on the BGR frame with the same zxing-cpp options
  (`overhead` is the whole-frame pipeline's extra mean time over it);
- libdmtx_pipeline: the pipeline with the default LibdmtxDecoder (FNC1 on, located, 200 ms);
- pylibdmtx_plain: `pylibdmtx.pylibdmtx.decode(frame)` as a user of that library writes it
  (no timeout; seconds on a hard frame), on the first `--plain-libdmtx-frames` frames.
`--sweep` adds the zxing option sets that were tried when the defaults were chosen.

Figures per contender: decode_rate = share of frames with codes where every code was found
(compared without GS and identifier, so that plain pylibdmtx is judged fairly); exact = share of
those where every text (GS included) and identifier is right (pylibdmtx reports no identifier);
false_reads = codes reported that are not in the frame; ms per frame p50/p95/p99 over all
frames; p50 ms per empty frame.
Usage: python bench/decode.py [--frames 300] [--seed 2016] [--plain-libdmtx-frames N] [--sweep]
The full run takes about half an hour, nearly all of it plain pylibdmtx (about 5 s a frame).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import cv2
import numpy as np
import zxingcpp
from pylibdmtx import pylibdmtx

from scanners.decoders import Decoded, Decoder, Frame, make_decoder
from simulators.camera import SceneSettings, SyntheticFrame, corpus

GS = "\x1d"
Read = Callable[[Frame], list[tuple[str | None, str]]]
SWEEP: dict[str, dict[str, Any]] = {
    "whole_frame_no_invert": {"locate": False, "try_invert": False},
    "whole_frame_no_rotate": {"locate": False, "try_rotate": False},
    "whole_frame_no_downscale": {"locate": False, "try_downscale": False},
    "whole_frame_global_histogram": {"locate": False, "binarizer": "global-histogram"},
    "no_invert": {"try_invert": False},
    "no_rotate": {"try_rotate": False},
    "no_downscale": {"try_downscale": False},
    "global_histogram": {"binarizer": "global-histogram"},
}


def camera_pipeline(decoder: Decoder) -> Callable[[Frame], list[Decoded]]:
    """The camera scanner's per-frame work (ROI crop, grey conversion, decode, results).
    The one place that ties this benchmark to scanners.camera."""
    from scanners.camera import CodeReader

    return CodeReader(decoder).read


def through(read: Callable[[Frame], list[Decoded]]) -> Read:
    return lambda frame: [(code.symbology_id, code.text) for code in read(frame)]


def zxing_bare(frame: Frame) -> list[tuple[str | None, str]]:
    found = zxingcpp.read_barcodes(
        frame,
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix),
        text_mode=zxingcpp.TextMode.Plain,
    )
    return [(code.symbology_identifier, code.text) for code in found]


def pylibdmtx_plain(frame: Frame) -> list[tuple[str | None, str]]:
    return [(None, code.data.decode("latin-1")) for code in pylibdmtx.decode(frame)]


@dataclass
class Tally:
    """What one contender did over the corpus."""

    limit: int | None = None  # frames to run on (None: all)
    identifier: bool = True  # reports AIM identifiers, judged in `exact`
    ms: list[float] = field(default_factory=list)
    empty_ms: list[float] = field(default_factory=list)
    found_all: list[bool] = field(default_factory=list)  # per frame with codes, in corpus order
    exact: int = 0
    false_reads: int = 0

    def add(self, frame: SyntheticFrame, read: Read) -> None:
        began = time.perf_counter()
        got = read(frame.image)
        elapsed = (time.perf_counter() - began) * 1000
        self.ms.append(elapsed)
        truth = [(scan[:3], scan[3:]) for scan in frame.codes]
        loose = Counter(_loose(text) for _, text in got)
        self.false_reads += sum((loose - Counter(_loose(text) for _, text in truth)).values())
        if not truth:
            self.empty_ms.append(elapsed)
            return
        self.found_all.append(all(loose[_loose(text)] for _, text in truth))
        if self.found_all[-1]:
            self.exact += Counter(map(self._key, got)) == Counter(map(self._key, truth))

    def _key(self, code: tuple[str | None, str]) -> tuple[str | None, str]:
        return code if self.identifier else (None, code[1])

    def rate(self, first: int | None = None) -> float | None:
        """The decode rate over the first `first` frames with codes (None: all)."""
        found = self.found_all[:first]
        return round(sum(found) / len(found), 4) if found else None

    def figures(self) -> dict[str, Any]:
        def cut(values: Sequence[float], q: float) -> float | None:
            return round(float(np.percentile(values, q)), 2) if values else None

        return {
            "frames": len(self.ms),
            "decode_rate": self.rate(),
            "exact": round(self.exact / sum(self.found_all), 4) if any(self.found_all) else None,
            "false_reads": self.false_reads,
            "p50_ms": cut(self.ms, 50),
            "p95_ms": cut(self.ms, 95),
            "p99_ms": cut(self.ms, 99),
            "mean_ms": round(float(np.mean(self.ms)), 2) if self.ms else None,
            "empty_p50_ms": cut(self.empty_ms, 50),
        }


def _loose(text: str) -> str:
    return text.replace(GS, "")


def one_core() -> int | None:
    """Pin this process to one CPU (the last) and OpenCV to one thread; the CPU, if pinned."""
    cv2.setNumThreads(1)
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--plain-libdmtx-frames", type=int, default=None)
    parser.add_argument("--sweep", action="store_true")
    options = parser.parse_args()
    cpu = one_core()
    settings = SceneSettings(colour=True)
    contenders: dict[str, tuple[Read, Tally]] = {
        "zxing_pipeline": (through(camera_pipeline(make_decoder("zxing"))), Tally()),
        "zxing_pipeline_whole_frame": (
            through(camera_pipeline(make_decoder("zxing", locate=False))),
            Tally(),
        ),
        "zxing_bare": (zxing_bare, Tally()),
        "libdmtx_pipeline": (through(camera_pipeline(make_decoder("libdmtx"))), Tally()),
        "pylibdmtx_plain": (
            pylibdmtx_plain,
            Tally(limit=options.plain_libdmtx_frames, identifier=False),
        ),
    }
    for name, zxing_options in SWEEP.items() if options.sweep else ():
        decoder = make_decoder("zxing", **zxing_options)
        contenders[f"zxing_pipeline_{name}"] = (through(camera_pipeline(decoder)), Tally())
    frames = codes = empty = 0
    for frame in corpus(options.frames, options.seed, settings):
        if frames == 0:  # warm up: libraries loaded, caches filled
            for read, _ in contenders.values():
                read(frame.image)
        for read, tally in contenders.values():
            if tally.limit is None or frames < tally.limit:
                tally.add(frame, read)
        frames, codes, empty = frames + 1, codes + len(frame.codes), empty + (not frame.codes)
    figures = {name: tally.figures() for name, (_, tally) in contenders.items()}
    ours, whole, bare = (
        figures[k] for k in ("zxing_pipeline", "zxing_pipeline_whole_frame", "zxing_bare")
    )
    plain = contenders["pylibdmtx_plain"][1]
    ours_on_plain_frames = contenders["zxing_pipeline"][1].rate(len(plain.found_all))
    print(
        json.dumps(
            {
                "frames": frames,
                "empty_frames": empty,
                "codes": codes,
                "seed": options.seed,
                "frame": f"{settings.width}x{settings.height} BGR",
                "module_px": settings.module_px,
                "pinned_cpu": cpu,
                "opencv_threads": cv2.getNumThreads(),
                "overhead_vs_bare": round(whole["mean_ms"] / bare["mean_ms"] - 1, 4),
                "located_time_vs_bare": round(ours["mean_ms"] / bare["mean_ms"], 4),
                "zxing_pipeline_rate_on_plain_libdmtx_frames": ours_on_plain_frames,
                "contenders": figures,
                "targets_met": {
                    "p99_le_50ms": ours["p99_ms"] <= 50,
                    "empty_p50_le_5ms": ours["empty_p50_ms"] <= 5,
                    "rate_ge_plain_libdmtx": (ours_on_plain_frames or 0) >= (plain.rate() or 0),
                    "exact_100pct": ours["exact"] == 1,
                    "overhead_le_10pct": whole["mean_ms"] <= 1.1 * bare["mean_ms"],
                },
                "zxing_cpp": version("zxing-cpp"),
                "pylibdmtx": version("pylibdmtx"),
                "opencv": cv2.__version__,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
