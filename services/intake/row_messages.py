"""Upload row errors that show the value found in the file and the values allowed."""

from __future__ import annotations

from typing import Any

from services.intake.cell_values import school_form_codes
from services.intake.forms import message_sv
from shared.reference import load_reference

HUVUDMAN_TYPES = ("kommunal", "region", "enskild", "statlig")
STATUS_WORDS_SV = ("påbörjad", "genomförd")


def allowed(key: str) -> str:
    """The values a column accepts, as the template's Koder sheet lists them."""
    reference = load_reference()
    if key == "status":
        return " eller ".join(STATUS_WORDS_SV)
    if key == "huvudman.type":
        return ", ".join(HUVUDMAN_TYPES[:-1]) + " eller " + HUVUDMAN_TYPES[-1]
    if key == "school_forms":
        return ", ".join(f.code for f in reference.school_forms)
    if key == "nsp_area":
        return ", ".join(a.code for a in reference.nsp_areas)
    if key == "huvudman.lan_kod":
        return ", ".join(lan.kod for lan in reference.lan)
    return ""


def _unknown_forms(found: str) -> list[str]:
    known = load_reference().school_form_codes
    typed = [f.strip() for f in found.replace(";", ",").split(",") if f.strip()]
    return [t for t, code in zip(typed, school_form_codes(found), strict=True) if code not in known]


def row_message(error: Any, key: str, found: str) -> str:
    """The Swedish message for one cell: what is wrong, the value found and what is allowed."""
    base = message_sv(error)
    if not found.strip():
        return base
    options = allowed(key)
    if key == "school_forms":
        unknown = _unknown_forms(found)
        word = "Okänd skolform" if len(unknown) == 1 else "Okända skolformer"
        shown = ", ".join(f"”{u}”" for u in unknown) or f"”{found}”"
        return f"{word}: {shown}. Tillåtna koder (eller namnen i fliken Koder): {options}."
    if options:
        return f"”{found}” är inte ett giltigt värde. Tillåtna värden: {options}."
    return f"{base} Värdet i filen: ”{found}”."
