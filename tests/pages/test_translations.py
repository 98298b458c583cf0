"""Every string of the pages is in the catalogue, translated into Spanish, and compiled."""

from __future__ import annotations

from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from open311.i18n import LANGUAGES, TRANSLATIONS

REPO = Path(__file__).resolve().parents[2]


def _ids(catalog: object) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}  # type: ignore[attr-defined]


def _pairs(catalog: object) -> dict[object, object]:
    """id -> translation; a plural's ids and forms as tuples (.mo files read them as lists)."""

    def flat(value: object) -> object:
        return value if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]

    return {flat(m.id): flat(m.string) for m in catalog if m.id}  # type: ignore[attr-defined]


def test_the_catalogue_holds_every_string_of_the_code(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(REPO / "babel.cfg"), "-o", str(pot)]
        + [str(REPO / "open311")]
    )
    with pot.open("rb") as f:
        extracted = _ids(read_po(f))
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        shipped = _ids(read_po(f))
    assert extracted == shipped, f"run `make translations`: {sorted(extracted ^ shipped)[:5]}"


def test_every_language_translates_every_string_and_its_mo_is_compiled() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        wanted = _ids(read_po(f))
    for code in set(LANGUAGES) - {"en"}:
        folder = TRANSLATIONS / code / "LC_MESSAGES"
        with (folder / "messages.po").open("rb") as f:
            po = read_po(f)
        untranslated = sorted(str(m.id) for m in po if m.id and (not all(m.string) or m.fuzzy))
        assert not untranslated, (code, untranslated[:5])
        assert _ids(po) >= wanted, (code, sorted(wanted - _ids(po))[:5])
        with (folder / "messages.mo").open("rb") as f:
            mo = read_mo(f)
        assert _pairs(mo) == _pairs(po), (
            f"{code}: messages.mo is older than messages.po: run `make translations`"
        )
