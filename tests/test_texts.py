"""The operator texts: a text for every reason in every language, robot lines that fit a display,
German that is German, catalogue files that match the code, and the language chosen in config."""

from __future__ import annotations

import tomllib
from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest

from fmd.codes.model import PackIdentifier
from fmd.policy import Why
from robot_controller.config import ConfigError, load_config
from robot_controller.operator_console import instruction
from robot_controller.pipeline import Routed
from robot_controller.states import Route
from robot_controller.texts import (
    LANGUAGES,
    REASONS,
    REFUSALS,
    ROBOT_LINE,
    Language,
    Step,
    StockInWhy,
    catalogue,
)

UI = PackIdentifier("GTIN", "09506000134352", "SN1", "B1", date(2028, 12, 31), "281231")


def raw(language: Language) -> dict[str, dict[str, str]]:
    text = (files("robot_controller.texts") / f"{language}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_the_stock_in_reasons_are_not_spelt_like_a_policy_reason() -> None:
    assert not {why.value for why in Why} & {extra.value for extra in StockInWhy}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("reason", REFUSALS)
def test_every_refusal_has_words_and_a_robot_line_in_every_language(
    language: Language, reason: Why | StockInWhy
) -> None:
    texts = catalogue(language)
    assert texts.why(reason).strip()
    line = texts.robot_reject(reason)
    assert line.startswith("FMD: ")
    assert len(line) <= ROBOT_LINE
    assert line.isprintable()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_robot_line_keeps_its_detail_within_the_display_and_free_of_control_characters(
    language: Language,
) -> None:
    texts = catalogue(language)
    for reason in REFUSALS:
        line = texts.robot_reject(reason, "NMVS_NC_PC_02\r\n\x1d" + "x" * 200)
        assert len(line) <= ROBOT_LINE
        assert line.isprintable()
        assert line.startswith(texts.robot_reject(reason))
    short = texts.robot_reject(Why.ALERT, "NMVS_NC_PC_02")
    assert short == f"{texts.robot_reject(Why.ALERT)} (NMVS_NC_PC_02)"
    assert texts.robot_reject(Why.ALERT, "\r\n") == texts.robot_reject(Why.ALERT)


def test_the_robot_lines_read_as_a_pharmacy_reads_them() -> None:
    assert catalogue("en").robot_reject(Why.ALERT) == (
        "FMD: alert – possible falsification, quarantine"
    )
    assert catalogue("de").robot_reject(Why.ALERT) == "FMD: Alarm – mögliche Fälschung, Quarantäne"


@pytest.mark.parametrize(
    ("table", "keys"), [("why", REASONS), ("robot", REFUSALS), ("instruction", Step)]
)
def test_german_is_translated_not_copied(table: str, keys: tuple[str, ...]) -> None:
    english, german = raw("en")[table], raw("de")[table]
    copied = [key for key in keys if english[key] == german[key]]
    assert not copied


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_files_hold_exactly_the_keys_the_code_knows(language: Language) -> None:
    tables = raw(language)
    assert set(tables) == {"why", "robot", "instruction"}
    assert set(tables["why"]) == {str(reason) for reason in REASONS}
    assert set(tables["robot"]) == {str(reason) for reason in REFUSALS}
    assert set(tables["instruction"]) == {str(step) for step in Step}


def routed(route: Route, why: Why, *, flagged: bool = False, message: str = "") -> Routed:
    return Routed(1, route, why, UI, message, flagged)


def test_the_bench_speaks_german_when_told() -> None:
    german = catalogue("de")
    told = instruction(routed(Route.QUARANTINED, Why.ALERT), german)
    assert told == (
        "das Verifizierungssystem meldet einen Alarm: mögliche Fälschung: "
        "Packung im Quarantänefach lassen, die verantwortliche Person entscheidet"
    )
    caps = routed(Route.REJECTED, Why.DAMAGED_SCAN, message="Feststelltaste ist an")
    assert "(Feststelltaste ist an): Packung aus dem Abweisfach nehmen" in instruction(caps, german)
    assert instruction(routed(Route.SHELVED, Why.VERIFIED), german) == "nichts zu tun"
    flagged = routed(Route.SHELVED, Why.DECOMMISSIONED, flagged=True, message="undo it")
    assert instruction(flagged, german).startswith("Packung prüfen: ")


def site_config(tmp_path: Path, language: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f'[site]\nlocation = "bench"\nlanguage = "{language}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_site_chooses_its_language(tmp_path: Path, language: Language) -> None:
    assert load_config(site_config(tmp_path, language)).site.language == language


def test_the_language_defaults_to_english() -> None:
    assert load_config().site.language == "en"


def test_an_unknown_language_is_one_line_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"site\.language: Input should be 'en' or 'de'"
    ) as caught:
        load_config(site_config(tmp_path, "fr"))
    assert "\n" not in str(caught.value)
