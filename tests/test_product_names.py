"""The site's own product names (`[site] products`): read from a pharmacy system's export, each
line that cannot be used named by its number, and told with a pack whose hub answer has none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmd.hub import MockHub
from fmd.hub.master_data import Product, load_master_data
from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy
from robot_controller.pipeline import Pipeline, Routed
from robot_controller.product_names import (
    ProductNamesError,
    load_product_names,
    product_codes,
    read_product_names,
    write_product_names,
)
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from scanners.script import ScriptedScanner
from simulators.delivery import generate_delivery, master_data

GTIN, PPN = "09506000134352", "110375286414"


@pytest.mark.parametrize(
    "text",
    [
        f"product_code,name\n{GTIN},Aspirin 100 mg\n{PPN},Ibuprofen 400\n",
        f"\ufeffGTIN;Bezeichnung\r\n{GTIN};Aspirin 100 mg\r\n\r\n{PPN};Ibuprofen 400\r\n",
        f"{GTIN}\tAspirin  100 mg\r{PPN}\tIbuprofen 400\r",
        f'9506000134352,"Aspirin 100 mg"\n{PPN},"Ibuprofen 400"\n{GTIN},Aspirin 100 mg\n',
    ],
    ids=["comma with header", "semicolon, BOM and CRLF", "tab and CR", "GTIN-13, quoted, twice"],
)
def test_an_export_is_read_in_the_shapes_pharmacy_systems_write(text: str) -> None:
    assert dict(read_product_names(text)) == {GTIN: "Aspirin 100 mg", PPN: "Ibuprofen 400"}


def test_a_semicolon_export_keeps_the_commas_of_its_names_and_a_ppn_stays_a_ppn() -> None:
    names = read_product_names("04150123456782;Ibuprofen 400 mg, 50 St.\n111000001604;Para\n")
    assert names["04150123456782"] == "Ibuprofen 400 mg, 50 St."
    assert names["111000001604"] == "Para"  # an IFA pack's product code (twelve digits that are
    assert names["00111000001604"] == "Para"  # a valid GTIN-12 too: kept under both)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (f"code,name\n{GTIN}\n", "line 2: give a product code and a name"),
        (f"code,name\n{GTIN},Aspirin\n09506000134353,Typo\n", "line 3: '09506000134353' is not"),
        ("09506000134353,Typo\n", "line 1: '09506000134353' is not a GTIN or a PPN"),
        (f"{GTIN},\n", f"line 1: the name of {GTIN} must be printable text"),
        (f"{GTIN},Asp\x07irin\n", "must be printable text of 1 to 200 characters"),
        (f"{GTIN},{'x' * 201}\n", "must be printable text of 1 to 200 characters"),
        (f"{GTIN},Aspirin\n{GTIN},Ibuprofen\n", f"line 2: {GTIN} is named 'Aspirin' already"),
        (f"{GTIN},Aspirin\n{PPN},{'x' * 200_000}\n", "line 2: not readable as CSV (field larger"),
        (f'{GTIN},"Aspirin 100 mg\n{PPN},Ibu\n', "line 1: not readable as CSV"),
        (f'{GTIN},"Aspirin 100 mg\n{PPN},Ibu\n04150123456782,"Para"\n', "line 1: not readable"),
        (f'{GTIN},"Aspirin\n100 mg"\n', "line 1: a quote is not closed on its line"),
    ],
)
def test_a_line_that_cannot_be_used_is_named_by_its_number(text: str, said: str) -> None:
    with pytest.raises(ProductNamesError) as refused:
        read_product_names(text)
    assert said in str(refused.value)


@given(st.text())
def test_any_text_is_names_or_one_clear_error(text: str) -> None:
    try:
        names = read_product_names(text)
    except ProductNamesError as error:
        refusal = str(error)
    else:
        assert all(code in product_codes(code) and name for code, name in names.items())
        return
    assert refusal.startswith("line ")


def test_a_file_is_written_as_it_is_read_and_an_unreadable_one_says_so(tmp_path: Path) -> None:
    names = {GTIN: "Aspirin, 100 mg", PPN: 'Ibuprofen "400"'}
    assert dict(load_product_names(write_product_names(names, tmp_path / "p.csv"))) == names
    (tmp_path / "latin1.csv").write_bytes(f"{GTIN},Ibuprof\xe8ne\n".encode("latin-1"))
    with pytest.raises(ProductNamesError, match="not UTF-8 text"):
        load_product_names(tmp_path / "latin1.csv")
    with pytest.raises(ProductNamesError, match="cannot read it"):
        load_product_names(tmp_path / "missing.csv")


async def load(
    store_url: str, hub: MockHub, raws: list[str], names: dict[str, str]
) -> list[Routed]:
    told: list[Routed] = []
    pipeline = Pipeline(store=Store.open(store_url), hub=ResilientHub(hub.client("here")),
                        robot=SimRobot(), site=SitePolicy(), on_routed=told.append,
                        product_names=names)  # fmt: skip
    await pipeline.run([ScriptedScanner(raws)])
    await pipeline.aclose()
    return told


async def test_the_site_names_a_pack_the_hub_does_not_and_the_hub_wins_where_it_does(
    sqlite_url: str, tmp_path: Path
) -> None:
    delivery = generate_delivery(6, seed=4, suspect_rate=0.0)
    data = master_data(delivery)
    ours = {p.product_code: f"our name of {p.product_code}" for p in data.products}
    unnamed = MockHub(seed=1)  # as a SOAP hub: its answers name no product
    load_master_data(unnamed, replace(data, products=tuple(Product(p.product_code)
                                                           for p in data.products)))  # fmt: skip
    named = MockHub(seed=1)
    load_master_data(named, data)

    by_site = await load(sqlite_url, unnamed, delivery.raws, ours)
    by_hub = await load(f"sqlite:///{tmp_path / 'other.db'}", named, delivery.raws, ours)

    assert [r.product_name for r in by_site] == [ours[r.ui.product_code] for r in by_site if r.ui]
    hub_names = {p.product_code: p.name for p in data.products}
    assert [r.product_name for r in by_hub] == [
        hub_names[r.ui.product_code] for r in by_hub if r.ui
    ]
    assert len(by_site) == len(by_hub) == 6
