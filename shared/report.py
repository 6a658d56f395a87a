"""The one inbound model of a report: the JSON API, the web form and the upload all validate with it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.events import HuvudmanType, InsatsStatus
from shared.reference import load_reference

MIN_YEAR, MAX_YEAR = 2015, 2100
MAX_INSATSER = 500

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
Ref = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.\-/]+$")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HuvudmanIn(_In):
    name: ShortText
    lan_kod: str = Field(description="two-character länskod, e.g. '14'")
    type: HuvudmanType

    @field_validator("lan_kod")
    @classmethod
    def _known_lan(cls, value: str) -> str:
        if value not in load_reference().lan_codes:
            raise ValueError(f"okänd länskod / unknown län code {value!r}")
        return value


class InsatsIn(_In):
    ref: Ref
    title: ShortText
    description: LongText = ""
    status: InsatsStatus
    school_forms: list[str] = Field(min_length=1, max_length=11)
    expected_effects: LongText = ""
    actual_effects: LongText = ""
    nsp_area: str | None = None

    @field_validator("school_forms")
    @classmethod
    def _known_forms(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - load_reference().school_form_codes)
        if unknown:
            raise ValueError(f"okänd skolform / unknown school form {unknown}")
        return sorted(set(value))

    @field_validator("nsp_area")
    @classmethod
    def _known_area(cls, value: str | None) -> str | None:
        if value is not None and value not in load_reference().nsp_codes:
            raise ValueError(f"okänt NSP-område / unknown NSP area {value!r}")
        return value


class ReportIn(_In):
    ruc_id: str
    year: int = Field(ge=MIN_YEAR, le=MAX_YEAR)
    huvudman: HuvudmanIn
    insatser: list[InsatsIn] = Field(min_length=1, max_length=MAX_INSATSER)

    @field_validator("ruc_id")
    @classmethod
    def _known_ruc(cls, value: str) -> str:
        if value not in load_reference().ruc_ids:
            raise ValueError(f"okänt RUC / unknown RUC {value!r}")
        return value

    @model_validator(mode="after")
    def _unique_refs(self) -> ReportIn:
        refs = [i.ref for i in self.insatser]
        duplicates = sorted({r for r in refs if refs.count(r) > 1})
        if duplicates:
            raise ValueError(f"samma ref flera gånger / duplicate refs in one report: {duplicates}")
        return self


class Accepted(_In):
    report_id: str
    status: Literal["accepted"] = "accepted"
