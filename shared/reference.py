"""Reference data (NSP areas, skolformer, län, the RUC registry), loaded from versioned JSON files.

The files under ``shared/data`` are the source of truth; they are validated when loaded, so a
broken edit fails loudly at start-up instead of silently miscounting.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cached_property, lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NspArea(_Frozen):
    code: str = Field(pattern=r"^[a-z][a-z-]+$")
    name_sv: str
    official: bool
    valid_from: int
    valid_to: int | None
    covers: str
    vocabulary: tuple[str, ...]
    # completed insatser under it in Skolverket's 2020 PM: the classifier's prior on real reports
    completed_2020: int = Field(default=0, ge=0)

    def valid_in(self, year: int) -> bool:
        return self.valid_from <= year and (self.valid_to is None or year <= self.valid_to)


class DatedName(_Frozen):
    name_sv: str
    valid_from: dt.date


class SchoolForm(_Frozen):
    code: str = Field(pattern=r"^[a-z]+$")
    names: tuple[DatedName, ...] = Field(min_length=1)
    legally_school_form: bool

    def name_on(self, day: dt.date) -> str:
        """The Swedish name in force on ``day`` (the 2020 data use the 2020 names)."""
        current = self.names[0]
        for name in self.names:
            if name.valid_from <= day:
                current = name
        return current.name_sv


class Lan(_Frozen):
    kod: str = Field(pattern=r"^\d{2}$")
    name_sv: str
    letter: str


class Ruc(_Frozen):
    id: str = Field(pattern=r"^[a-z]+$")
    host: str
    lan: tuple[str, ...] = Field(min_length=1)
    active_years: tuple[int, ...]


class ReferenceData(_Frozen):
    nsp_areas: tuple[NspArea, ...]
    school_forms: tuple[SchoolForm, ...]
    lan: tuple[Lan, ...]
    ruc: tuple[Ruc, ...]
    nsp_version: str

    @model_validator(mode="after")
    def _consistent(self) -> ReferenceData:
        lan_codes = {lan.kod for lan in self.lan}
        for ruc in self.ruc:
            unknown = set(ruc.lan) - lan_codes
            if unknown:
                raise ValueError(f"RUC {ruc.id} serves unknown län {sorted(unknown)}")
        for name, codes in (
            ("NSP area", [a.code for a in self.nsp_areas]),
            ("school form", [s.code for s in self.school_forms]),
            ("län", [lan.kod for lan in self.lan]),
            ("RUC", [r.id for r in self.ruc]),
        ):
            if len(codes) != len(set(codes)):
                raise ValueError(f"duplicate {name} codes")
        return self

    # The code sets are asked for with every insats validated: built once, on first use.
    @cached_property
    def nsp_codes(self) -> frozenset[str]:
        return frozenset(a.code for a in self.nsp_areas)

    @cached_property
    def school_form_codes(self) -> frozenset[str]:
        return frozenset(s.code for s in self.school_forms)

    @cached_property
    def lan_codes(self) -> frozenset[str]:
        return frozenset(lan.kod for lan in self.lan)

    @cached_property
    def ruc_ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.ruc)

    def nsp_codes_for(self, year: int) -> tuple[str, ...]:
        return tuple(a.code for a in self.nsp_areas if a.valid_in(year))

    def area(self, code: str) -> NspArea:
        return next(a for a in self.nsp_areas if a.code == code)

    def ruc_by_id(self, ruc_id: str) -> Ruc:
        return next(r for r in self.ruc if r.id == ruc_id)


def _read(name: str) -> dict[str, object]:
    text = resources.files("shared").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, object] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def load_reference() -> ReferenceData:
    nsp = _read("nsp_areas.json")
    return ReferenceData.model_validate(
        {
            "nsp_areas": nsp["areas"],
            "nsp_version": nsp["version"],
            "school_forms": _read("school_forms.json")["school_forms"],
            "lan": _read("lan.json")["lan"],
            "ruc": _read("ruc_registry.json")["ruc"],
        }
    )
