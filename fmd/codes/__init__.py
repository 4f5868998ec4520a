"""Pack identifiers: parsing and checking what a scanner read."""

from fmd.codes.model import Element, PackIdentifier, ParsedScan, Problem, ProblemCode, Scheme
from fmd.codes.parse import parse_scan

__all__ = [
    "Element",
    "PackIdentifier",
    "ParsedScan",
    "Problem",
    "ProblemCode",
    "Scheme",
    "parse_scan",
]
