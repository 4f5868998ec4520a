"""Encoders: GS1 element strings, IFA format 06 and GS1 Digital Link from a pack identifier."""

from __future__ import annotations

from datetime import date

import pytest

from fmd.codes import PackIdentifier
from fmd.codes.encode import encode_digital_link, encode_gs1, encode_ifa

GS, RS, EOT = "\x1d", "\x1e", "\x04"
GTIN = "09506000134352"
UI = PackIdentifier("GTIN", GTIN, "SN123", "LOT42", date(2027, 5, 31), "270531")
PPN_UI = PackIdentifier("PPN", "110375286414", "SER1", "B-1", date(2027, 5, 31), "270531")


def test_gs1_default_order_puts_separators_only_after_variable_fields_not_last() -> None:
    assert encode_gs1(UI) == f"]d201{GTIN}21SN123{GS}1727053110LOT42"


def test_gs1_custom_order_separator_and_no_symbology() -> None:
    raw = encode_gs1(UI, order=("10", "21", "01", "17"), separator="|", symbology=None)
    assert raw == f"10LOT42|21SN123|01{GTIN}17270531"


def test_gs1_trailing_separator() -> None:
    assert encode_gs1(UI, symbology=None, trailing_separator=True).endswith(f"10LOT42{GS}")


def test_gs1_nhrn_goes_last_unless_ordered() -> None:
    ui = PackIdentifier("GTIN", GTIN, "SN123", "LOT42", None, "270531", "03752864", "710")
    assert encode_gs1(ui).endswith(f"10LOT42{GS}71003752864")
    placed = encode_gs1(ui, order=("01", "710", "21", "17", "10"), symbology=None)
    assert placed == f"01{GTIN}71003752864{GS}21SN123{GS}1727053110LOT42"


def test_gs1_refuses_a_ppn() -> None:
    with pytest.raises(ValueError, match="PPN"):
        encode_gs1(PPN_UI)


def test_ifa_default_order_in_an_envelope() -> None:
    raw = encode_ifa(PPN_UI)
    assert raw == f"[)>{RS}06{GS}9N110375286414{GS}1TB-1{GS}D270531{GS}SSER1{RS}{EOT}"


def test_ifa_puts_a_gtin_under_8p_where_9n_is_ordered() -> None:
    raw = encode_ifa(UI, order=("S", "9N", "D", "1T"), symbology="]d1")
    assert raw == f"]d1[)>{RS}06{GS}SSN123{GS}8P{GTIN}{GS}D270531{GS}1TLOT42{RS}{EOT}"


def test_digital_link_with_percent_encoding_and_nhrn() -> None:
    ui = PackIdentifier("GTIN", GTIN, "S/1", "L%1", None, "270531", "3400930000120", "711")
    raw = encode_digital_link(ui, domain="https://id.gs1.org/")
    assert raw == f"https://id.gs1.org/01/{GTIN}/10/L%251/21/S%2F1?17=270531&711=3400930000120"
