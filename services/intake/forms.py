"""Pure translation between HTML form fields and the one inbound model, with Swedish messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from services.intake.parts import MAX_MEETINGS
from shared.inbound import MAX_INSATSER

INSATS_FIELDS = (
    "ref", "title", "description", "status", "expected_effects", "actual_effects", "nsp_area", "participants",
    "started_on",
)  # fmt: skip
MAX_FORM_MEETINGS = MAX_MEETINGS


# What each field is called on the page, and what to do when a required one is empty.
FIELD_LABELS = {
    "ruc_id": "RUC", "year": "Rapporteringsår", "huvudman.name": "Huvudmannens namn",
    "huvudman.lan_kod": "Län", "huvudman.type": "Typ av huvudman", "ref": "Er beteckning (ref)",
    "title": "Aktivitet (rubrik)", "description": "Beskrivning", "status": "Status",
    "school_forms": "Skolformer", "expected_effects": "Förväntade effekter",
    "actual_effects": "Faktiska effekter", "nsp_area": "NSP-område", "participants": "Antal deltagare",
    "started_on": "Startdatum",
    "members": "Huvudmän i nätverket", "date": "Datum", "attendees": "Närvarande",
    "narrative": "Beskrivning", "email": "E-postadress", "password": "Lösenord",
}  # fmt: skip
WHEN_EMPTY = {
    "year": "Fyll i rapporteringsåret, till exempel 2020.",
    "huvudman.name": "Fyll i huvudmannens namn.",
    "huvudman.lan_kod": "Välj län.",
    "huvudman.type": "Välj typ av huvudman.",
    "ref": "Fyll i er beteckning (ref), till exempel gu-2020-001.",
    "title": "Fyll i aktiviteten (rubrik).",
    "status": "Välj status: påbörjad eller genomförd.",
    "school_forms": "Välj minst en skolform.",
    "actual_effects": "Beskriv de faktiska effekterna: de krävs för en genomförd insats.",
    "members": "Skriv nätverkets huvudmän, en per rad.",
    "date": "Fyll i datum för träffen som ÅÅÅÅ-MM-DD.",
    "narrative": "Beskriv nätverkets arbete med systematiskt kvalitetsarbete.",
}
GROUPS = {"insatser": "Insats", "meetings": "Träff"}


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, the form field's name ("insatser.0.title")
    message: str
    names_itself: bool = False  # the message already says which field (no label in the summary)

    @property
    def anchor(self) -> str:
        return field_id(self.field)

    @property
    def summary(self) -> str:
        """The error summary's entry: which insats or meeting, which field, what to do."""
        parts = self.field.split(".")
        place = ""
        if len(parts) >= 3 and parts[0] in GROUPS and parts[1].isdigit():
            place, parts = f"{GROUPS[parts[0]]} {int(parts[1]) + 1}: ", parts[2:]
        label = FIELD_LABELS.get(".".join(parts), "")
        if not label or self.names_itself or self.message in WHEN_EMPTY.values():
            return place + self.message
        return f"{place}{label}: {self.message}"


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
        item["participants"] = item["participants"].strip() or None
        item["started_on"] = item["started_on"].strip() or None
        item["school_forms"] = [v for v in form.getlist(f"insatser.{i}.school_forms") if isinstance(v, str)]
        insatser.append(item)
    return {
        "ruc_id": ruc_id,
        "year": _text(form, "year"),
        "huvudman": {k: _text(form, f"huvudman.{k}") for k in ("name", "lan_kod", "type")},
        "insatser": insatser,
    }


def blank_insats() -> dict[str, Any]:
    return dict.fromkeys(INSATS_FIELDS, "") | {
        "school_forms": [],
        "nsp_area": None,
        "participants": None,
        "started_on": None,
    }


def _field_key(loc: Sequence[Any]) -> str:
    """The field's name without its group and index: ("insatser", 1, "title") -> "title"."""
    parts = [str(p) for p in loc]
    if len(parts) >= 3 and parts[0] in GROUPS and parts[1].isdigit():
        parts = parts[2:]
    return ".".join(parts)


def _empty(kind: str, ctx: dict[str, Any], error: Any) -> bool:
    if kind in ("missing", "string_too_short") or (kind == "too_short" and ctx.get("min_length") == 1):
        return True
    return kind in ("value_error", "literal_error", "enum", "int_parsing", "date_from_datetime_parsing",
                    "date_parsing") and error.get("input") in ("", None)  # fmt: skip


def message_sv(error: Any) -> str:
    """A Swedish message for one pydantic error that says what to do (the input is never echoed)."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    key = _field_key(error.get("loc", ()))
    if _empty(kind, ctx, error) and key in WHEN_EMPTY:
        return WHEN_EMPTY[key]
    if kind in ("missing", "string_too_short") or (kind == "too_short" and ctx.get("min_length") == 1):
        return "Fältet måste fyllas i." if kind != "too_short" else "Välj minst ett alternativ."
    if kind == "string_too_long":
        return f"Texten är för lång: högst {ctx.get('max_length')} tecken."
    if kind in ("int_parsing", "int_type", "int_from_float") and key == "year":
        return "Fel format: skriv året med fyra siffror, utan mellanslag, till exempel 2026."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "Fel format: skriv ett heltal, till exempel 12."
    if kind in ("greater_than_equal", "less_than_equal"):
        word = "minst" if kind == "greater_than_equal" else "högst"
        return f"Värdet måste vara {word} {ctx.get('ge', ctx.get('le'))}."
    if kind in ("literal_error", "enum"):
        return "Välj ett av alternativen."
    if kind == "string_pattern_mismatch":
        return "Endast bokstäver, siffror och tecknen . - / _ (inga mellanslag)."
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return "Fel format: skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-03-15."
    if kind == "too_long":
        return f"För många: högst {ctx.get('max_length')}."
    if kind == "value_error":
        text = str(ctx.get("error", error.get("msg", ""))).split(" / ")[0].rstrip(".")
        return text[:1].upper() + text[1:] + "."
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


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


MIN_PARTIAL = 3  # "Göt" may stand for "Göteborgs stad"; "G" stands for nothing


def match_member(typed: str, members: Sequence[str]) -> list[str]:
    """The members ``typed`` can mean: the one it equals (case and spacing aside), else those whose
    name contains it. One is a match; none or several the form asks about."""
    key = _name_key(typed)
    exact = [m for m in members if _name_key(m) == key]
    if exact or len(key) < MIN_PARTIAL:
        return exact[:1]
    return [m for m in members if key in _name_key(m)]


def resolve_attendees(values: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Attendees written as the members list spells them, where they mean one member; the rest
    stay as typed and are named in a message on their meeting (not found, or which ones)."""
    members = values["members"]
    problems, meetings = [], []
    for i, meeting in enumerate(values["meetings"]):
        resolved, strangers, ambiguous = [], [], []
        for typed in meeting.get("attendees", []):
            found = match_member(typed, members)
            resolved.append(found[0] if len(found) == 1 else typed)
            if not found:
                strangers.append(typed)
            elif len(found) > 1:
                ambiguous.append(f"”{typed}” kan vara {' eller '.join(f'”{m}”' for m in found)}")
        meetings.append(meeting | {"attendees": resolved})
        field = f"meetings.{i}.attendees"
        if strangers and members:
            names = ", ".join(f"”{s}”" for s in strangers)
            problems.append(FieldError(field, (
                f"{names} finns inte bland nätverkets huvudmän. Lägg till "
                f"{'huvudmannen' if len(strangers) == 1 else 'dem'} i listan ovan eller rätta stavningen."
            ), names_itself=True))  # fmt: skip
        if ambiguous:
            problems.append(
                FieldError(field, f"{'; '.join(ambiguous)}. Skriv hela namnet.", names_itself=True)
            )
    return values | {"meetings": meetings}, problems


def attendance_problems(values: dict[str, Any]) -> list[FieldError]:
    """What the attendance form flags on the meeting it concerns, in page order: a meeting dated
    outside the reporting year, and attendees who are not (or not unambiguously) members."""
    year = str(values.get("year", ""))
    problems = resolve_attendees(values)[1]
    for i, meeting in enumerate(values["meetings"]):
        date = str(meeting.get("date", ""))
        if year.isdigit() and len(date) == 10 and date[4] == "-" and date[:4] != year:
            problems.append(FieldError(
                f"meetings.{i}.date",
                f"Träffen är daterad {date}, utanför rapporteringsåret {year}. Rätta datumet eller året.",
                names_itself=True,
            ))  # fmt: skip
    return in_page_order(problems)


def in_page_order(errors: list[FieldError]) -> list[FieldError]:
    """The error summary in the order of the page: the report's fields, then Träff 1 (or Insats 1)
    before Träff 2, each one's fields in the order they are shown."""
    top = ("ruc_id", "year", "huvudman.name", "huvudman.lan_kod", "huvudman.type", "members", "narrative")
    inner = (*INSATS_FIELDS[:4], "school_forms", *INSATS_FIELDS[4:], "date", "attendees")

    def place(error: FieldError) -> tuple[int, int, int]:
        parts = error.field.split(".")
        if len(parts) >= 3 and parts[0] in GROUPS and parts[1].isdigit():
            rest = ".".join(parts[2:])
            return 1, int(parts[1]), inner.index(rest) if rest in inner else len(inner)
        return 0, top.index(error.field) if error.field in top else len(top), 0

    return sorted(errors, key=place)


def with_problems(errors: list[FieldError], problems: list[FieldError]) -> list[FieldError]:
    """The model's errors and the form's own. The form's say more (the date found, the people
    named) and take the field's place: the model's report-level "attendees not among the members"
    (put on the members field) gives way to the per-meeting message naming them, and its "date
    outside the year" to the form's message with the date."""
    strangers = any(p.field.endswith(".attendees") for p in problems)
    own = {p.field for p in problems}
    kept = [
        e
        for e in errors
        if e.field not in own and not (strangers and e.field == "members" and "medlemmar" in e.message)
    ]
    return in_page_order(kept + problems)
