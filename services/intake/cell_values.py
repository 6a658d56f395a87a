"""What Excel users type in a code column, read as the code it means.

Excel drops a länskod's leading zero ("1" for "01"); people write a skolform or an NSP area by its
name ("Anpassad grundskola", "Gymnasieskola") and in any case. A value that means exactly one code
becomes that code; anything else is left as typed, so the row's error shows what the file said.
Only the upload reads cells this way: the JSON API keeps its codes strict (docs/contract.md).
"""

from __future__ import annotations

import re
from functools import cache

from shared.reference import load_reference

EXAMPLE_REF = "EXEMPEL"  # the template's example row: shown in the template, never sent
STATUS_WORDS = {
    "påbörjad": "started",
    "started": "started",
    "genomförd": "completed",
    "genomförd och avslutad/uppföljd": "completed",
    "genomförd och avslutad": "completed",
    "genomförd och uppföljd": "completed",
    "avslutad": "completed",
    "completed": "completed",
}


def _key(text: str) -> str:
    """Case, spacing and a trailing "(SKA)"-style note do not matter."""
    return " ".join(text.replace("\u00a0", " ").split()).casefold()


def _without_note(text: str) -> str:
    return re.sub(r"\s*\([^)]*\)\s*$", "", text)


@cache
def _school_forms() -> dict[str, str]:
    names: dict[str, str] = {}
    for form in load_reference().school_forms:
        names[_key(form.code)] = form.code
        for dated in form.names:
            names[_key(dated.name_sv)] = form.code
    return names


@cache
def _nsp_areas() -> dict[str, str]:
    names: dict[str, str] = {}
    for area in load_reference().nsp_areas:
        for text in (area.code, area.name_sv, _without_note(area.name_sv)):
            names[_key(text)] = area.code
    return names


@cache
def _lan() -> dict[str, str]:
    names: dict[str, str] = {}
    for lan in load_reference().lan:
        for text in (lan.kod, lan.kod.lstrip("0"), lan.name_sv, lan.name_sv.removesuffix(" län"), lan.letter):
            names[_key(text)] = lan.kod
    return names


def lan_code(cell: str) -> str:
    """ "1", "01", "Stockholms län", "stockholms", "AB" → "01"."""
    return _lan().get(_key(cell), cell.strip())


def school_form_codes(cell: str) -> list[str]:
    """ "Gymnasieskola, Anpassad grundskola" → ["gymnasieskola", "grundsarskola"]."""
    parts = [p.strip() for p in cell.replace(";", ",").split(",") if p.strip()]
    return [_school_forms().get(_key(p), p) for p in parts]


def nsp_code(cell: str) -> str | None:
    """An area's code or its name, in any case; empty → None."""
    if not cell.strip():
        return None
    return _nsp_areas().get(_key(cell), cell.strip())


def status_code(cell: str) -> str:
    return STATUS_WORDS.get(_key(cell), _key(cell))


def is_example(ref: str) -> bool:
    return _key(ref) == EXAMPLE_REF.casefold()
