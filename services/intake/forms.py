"""Pure translation between HTML form fields and the one inbound model, with Swedish messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from services.intake.parts import MAX_MEETINGS
from shared.report import MAX_INSATSER

INSATS_FIELDS = ("ref", "title", "description", "status", "expected_effects", "actual_effects", "nsp_area")
MAX_FORM_MEETINGS = MAX_MEETINGS


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, the form field's name ("insatser.0.title")
    message: str

    @property
    def anchor(self) -> str:
        return field_id(self.field)


def field_id(name: str) -> str:
    return "f-" + name.replace(".", "-")


def _text(form: FormData, key: str) -> str:
    value = form.get(key, "")
    return value if isinstance(value, str) else ""


def count_from(form: FormData, key: str, default: int = 1, most: int = MAX_INSATSER) -> int:
    raw = _text(form, key)
    return max(1, min(most, int(raw))) if raw.isdigit() else default


def report_values(form: FormData, ruc_id: str) -> dict[str, Any]:
    """The form's fields as the nested shape of ReportIn (strings as typed; the model validates)."""
    count = count_from(form, "antal")
    insatser = []
    for i in range(count):
        item: dict[str, Any] = {f: _text(form, f"insatser.{i}.{f}") for f in INSATS_FIELDS}
        item["nsp_area"] = item["nsp_area"] or None
        item["school_forms"] = [v for v in form.getlist(f"insatser.{i}.school_forms") if isinstance(v, str)]
        insatser.append(item)
    return {
        "ruc_id": ruc_id,
        "year": _text(form, "year"),
        "huvudman": {k: _text(form, f"huvudman.{k}") for k in ("name", "lan_kod", "type")},
        "insatser": insatser,
    }


def blank_insats() -> dict[str, Any]:
    return dict.fromkeys(INSATS_FIELDS, "") | {"school_forms": [], "nsp_area": None}


def message_sv(error: Any) -> str:
    """A Swedish message for one pydantic error (the input itself is never echoed)."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in ("missing", "string_too_short") or (kind == "too_short" and ctx.get("min_length") == 1):
        return "Fältet måste fyllas i." if kind != "too_short" else "Välj minst ett alternativ."
    if kind == "string_too_long":
        return f"Texten är för lång: högst {ctx.get('max_length')} tecken."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "Ange ett heltal, till exempel 2020."
    if kind in ("greater_than_equal", "less_than_equal"):
        word = "minst" if kind == "greater_than_equal" else "högst"
        return f"Värdet måste vara {word} {ctx.get('ge', ctx.get('le'))}."
    if kind in ("literal_error", "enum"):
        return "Välj ett av alternativen."
    if kind == "string_pattern_mismatch":
        return "Endast bokstäver, siffror och tecknen . - / _ (inga mellanslag)."
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return "Ange ett datum som ÅÅÅÅ-MM-DD."
    if kind == "too_long":
        return f"För många: högst {ctx.get('max_length')}."
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", ""))).split(" / ")[0].rstrip(".") + "."
    return "Ogiltigt värde."


def field_errors(exc: ValidationError, fallback: str = "insatser.0.ref") -> list[FieldError]:
    """One entry per error, named by the form field it belongs to (report-level ones: ``fallback``)."""
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        # A list-level error on school_forms points at its first checkbox; a report-level one at fallback.
        name = ".".join(loc) if loc else fallback
        errors.append(FieldError(name, message_sv(err)))
    return errors


def by_field(errors: Sequence[FieldError]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for error in errors:
        merged[error.field] = (
            f"{merged[error.field]} {error.message}" if error.field in merged else error.message
        )
    return merged


def attendance_values(form: FormData, ruc_id: str) -> dict[str, Any]:
    """Members one per line; meetings each with a date and attendees one per line."""
    count = count_from(form, "antal", most=MAX_FORM_MEETINGS)
    meetings = []
    for i in range(count):
        date = _text(form, f"meetings.{i}.date")
        attendees = _lines(_text(form, f"meetings.{i}.attendees"))
        if date or attendees:
            meetings.append({"date": date, "attendees": attendees})
    return {
        "ruc_id": ruc_id,
        "year": _text(form, "year"),
        "members": _lines(_text(form, "members")),
        "meetings": meetings,
    }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
