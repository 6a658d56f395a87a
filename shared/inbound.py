"""The one inbound model of a report: the JSON API, the web form and the upload all validate with it."""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.events import HuvudmanType, InsatsStatus
from shared.period import in_span, year_span
from shared.reference import load_reference

MIN_YEAR, MAX_YEAR = 2015, 2100  # what a query may ask for; a report's year: ``ReportingYear``
MAX_INSATSER = 500


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here rather than a 500 at the insert
    if "\x00" in value:
        raise ValueError("otillåtet tecken (NUL) / NUL character not allowed")
    return value


NoNul = AfterValidator(_no_nul)  # for any free text that reaches the database


ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NoNul]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000), NoNul]
Ref = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.\-/]+$")
]


# A report's year lies in the registry's span (shared.period), and the error names the span.
ReportingYear = Annotated[
    int,
    AfterValidator(in_span),
    Field(description="a year within the RUC registry's span (GET /api/v1/deadlines)"),
]
_YEAR: ContextVar[int | None] = ContextVar("reporting_year", default=None)


def _known_ruc(value: str) -> str:
    if value not in load_reference().ruc_ids:
        raise ValueError(f"okänt RUC / unknown RUC {value!r}")
    return value


def _known_lan(value: str) -> str:
    if value not in load_reference().lan_codes:
        raise ValueError(f"okänd länskod / unknown län code {value!r}")
    return value


# Codes from the reference data (shared/data), checked once here for every inbound model.
KnownRuc = Annotated[str, AfterValidator(_known_ruc)]
KnownLan = Annotated[str, Field(description="two-character länskod, e.g. '14'"), AfterValidator(_known_lan)]


def reporting_year() -> int | None:
    """The year of the report being validated, for a rule on one of its parts (an NSP area, a
    meeting date) that depends on it; the rule's error then names that part's own field."""
    return _YEAR.get()


def _nullable_optionals(schema: dict[str, Any]) -> None:
    """In the JSON schema, an optional field also takes ``null`` (``Inbound`` reads it as absent)."""
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        if name in required or {"type": "null"} in prop.get("anyOf", ()):
            continue
        outer = {k: prop.pop(k) for k in ("title", "description", "default") if k in prop}
        schema["properties"][name] = outer | {"anyOf": [prop, {"type": "null"}]}


class Inbound(BaseModel):
    """An inbound model: unknown fields refused, ``null`` for an optional field taken as absent
    (JSON clients send null for what they do not have)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_nullable_optionals)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {k: v for k, v in data.items() if v is not None or k not in fields or fields[k].is_required()}


class YearScoped(Inbound):
    """A model with a ``year`` whose parts are checked against it (``reporting_year``)."""

    @model_validator(mode="wrap")
    @classmethod
    def _in_year(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        raw = data.get("year") if isinstance(data, dict) else None
        year = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() and len(str(raw)) == 4 else None
        # a year out of range has its own error; the rules that depend on it stay silent
        first, last = year_span()
        token = _YEAR.set(year if year is not None and first <= year <= last else None)
        try:
            return handler(data)
        finally:
            _YEAR.reset(token)


class HuvudmanIn(Inbound):
    name: ShortText
    lan_kod: KnownLan
    type: HuvudmanType


class InsatsIn(Inbound):
    ref: Ref
    title: ShortText
    description: LongText = ""
    status: InsatsStatus
    school_forms: list[str] = Field(min_length=1, max_length=11)
    expected_effects: LongText = ""
    actual_effects: LongText = Field(default="", validate_default=True)
    nsp_area: str | None = None
    started_on: dt.date | None = Field(default=None, description="when the insats started (optional)")
    participants: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="how many took part (optional; summed per completed insats)",
    )

    @field_validator("school_forms")
    @classmethod
    def _known_forms(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - load_reference().school_form_codes)
        if unknown:
            raise ValueError(f"okänd skolform / unknown school form {unknown}")
        return sorted(set(value))

    @field_validator("actual_effects")
    @classmethod
    def _completed_is_followed_up(cls, value: str, info: ValidationInfo) -> str:
        # "genomförd och uppföljd": a completed insats is counted with the effects it reports
        if info.data.get("status") == "completed" and not value:
            raise ValueError(
                "faktiska effekter krävs för en genomförd insats / "
                "a completed insats needs its actual_effects"
            )
        return value

    @field_validator("nsp_area")
    @classmethod
    def _known_area(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value not in load_reference().nsp_codes:
            raise ValueError(f"okänt NSP-område / unknown NSP area {value!r}")
        year = reporting_year()
        if year is not None and not load_reference().area(value).valid_in(year):
            raise ValueError(f"NSP-området {value!r} gäller inte år {year} / not an NSP area in {year}")
        return value


class ReportIn(YearScoped):
    ruc_id: KnownRuc
    year: ReportingYear
    huvudman: HuvudmanIn
    insatser: list[InsatsIn] = Field(min_length=1, max_length=MAX_INSATSER)

    @model_validator(mode="after")
    def _unique_refs(self) -> ReportIn:
        refs = [i.ref for i in self.insatser]
        duplicates = sorted({r for r in refs if refs.count(r) > 1})
        if duplicates:
            raise ValueError(f"samma ref flera gånger / duplicate refs in one report: {duplicates}")
        return self


class Accepted(Inbound):
    report_id: str
    status: Literal["accepted"] = "accepted"
