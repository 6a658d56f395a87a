"""Spreadsheet upload: the template, and rows → reports per huvudman, validated by ReportIn.

One row is one insats; rows with the same year and huvudman form one report. Errors are named by
spreadsheet row (the header is row 1) and column, in Swedish.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import ValidationError

from services.intake.cell_values import (
    EXAMPLE_REF,
    is_example,
    lan_code,
    nsp_code,
    school_form_codes,
    status_code,
)
from services.intake.forms import message_sv
from services.intake.limits import report_draft_overflow
from services.intake.row_messages import HUVUDMAN_TYPES, row_message
from services.intake.sheets import COLUMNS, HEADERS, MAX_ROWS
from shared.budget import DEFAULT_MAX_MESSAGE_BYTES
from shared.inbound import MAX_INSATSER, ReportIn
from shared.reference import load_reference

HEADER_OF = dict(COLUMNS)
KEYS = [key for key, _h in COLUMNS]
EXAMPLE_ROW = {
    "year": "2026", "huvudman.name": "Exempelkommun", "huvudman.lan_kod": "01", "huvudman.type": "kommunal",
    "ref": EXAMPLE_REF, "title": "Studiehandledning på modersmål (exempelrad: skriv över eller ta bort)",
    "description": "Fortbildning för studiehandledare", "status": "genomförd",
    "school_forms": "Grundskola, Anpassad grundskola", "expected_effects": "Fler elever når målen",
    "actual_effects": "Rutiner för studiehandledning finns i alla skolor",
    "nsp_area": "Nyanlända och flerspråkiga barns och elevers lärande",
    "participants": "12", "started_on": "2026-02-02",
}  # fmt: skip
TEXT_COLUMNS = ("huvudman.lan_kod", "ref", "school_forms", "nsp_area")  # "01" stays "01" in Excel


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str


@dataclass
class DryRun:
    reports: list[ReportIn] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    examples: list[int] = field(default_factory=list)  # rows that are the template's example
    report_rows: list[list[int]] = field(default_factory=list)  # each report's spreadsheet rows

    @property
    def insatser(self) -> int:
        return sum(len(r.insatser) for r in self.reports)


def xlsx_template() -> bytes:
    reference = load_reference()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Insatser"
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.append([EXAMPLE_ROW[key] for key, _h in COLUMNS])
    for key in TEXT_COLUMNS:  # a column styled as text: Excel keeps "01" and a code as typed
        letter = get_column_letter(KEYS.index(key) + 1)
        sheet.column_dimensions[letter].number_format = "@"
        sheet[f"{letter}2"].number_format = "@"
    status = DataValidation(type="list", formula1='"påbörjad,genomförd"', allow_blank=False)
    kinds = DataValidation(type="list", formula1=f'"{",".join(HUVUDMAN_TYPES)}"', allow_blank=False)
    sheet.add_data_validation(status)
    sheet.add_data_validation(kinds)
    status.add(f"H2:H{MAX_ROWS}")
    kinds.add(f"D2:D{MAX_ROWS}")
    codes = book.create_sheet("Koder")
    codes.append(["Lista", "Kod", "Namn"])
    for form in reference.school_forms:
        codes.append(["Skolform", form.code, form.names[-1].name_sv])
    for area in reference.nsp_areas:
        codes.append(["NSP-område", area.code, area.name_sv])
    for lan in reference.lan:
        codes.append(["Län", lan.kod, lan.name_sv])
    for kind in HUVUDMAN_TYPES:
        codes.append(["Huvudmannatyp", kind, kind.capitalize()])
    codes.append(["Status", "påbörjad", "Påbörjad"])
    codes.append(["Status", "genomförd", "Genomförd och avslutad/uppföljd"])
    help_sheet = book.create_sheet("Instruktioner")
    for line in (
        "En rad per insats. Rader med samma år och huvudman blir en rapport.",
        f"Rad 2 är ett exempel (Ref {EXAMPLE_REF}): den skickas aldrig. Skriv över den eller ta bort den.",
        "Status: påbörjad eller genomförd.",
        "Skolformer: koder eller namn med komma emellan, t.ex. grundskola, Anpassad grundskola.",
        "Länskod: två siffror (01) eller länets namn; 1 läses som 01.",
        "Huvudmannatyp: kommunal, region, enskild eller statlig.",
        "NSP-område är frivilligt (kod eller namn från fliken Koder). Ref är er egen beteckning på insatsen.",
    ):
        help_sheet.append([line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_template() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(HEADERS)
    writer.writerow([EXAMPLE_ROW[key] for key, _h in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _insats(values: dict[str, str]) -> dict[str, Any]:
    return {
        "ref": values["ref"],
        "title": values["title"],
        "description": values["description"],
        "status": status_code(values["status"]),
        "school_forms": school_form_codes(values["school_forms"]),
        "expected_effects": values["expected_effects"],
        "actual_effects": values["actual_effects"],
        "nsp_area": nsp_code(values["nsp_area"]),
        "participants": values["participants"] or None,
        "started_on": values["started_on"] or None,
    }


def dry_run(
    rows: list[tuple[int, dict[str, str]]], ruc_id: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> DryRun:
    """Group rows into reports and validate each with ReportIn (and the size budget of its
    events); nothing is sent from here."""
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    examples = [number for number, values in rows if is_example(values["ref"])]
    rows = [(number, values | {"huvudman.lan_kod": lan_code(values["huvudman.lan_kod"])})
            for number, values in rows if not is_example(values["ref"])]  # fmt: skip
    for number, values in rows:
        key = (values["year"], " ".join(values["huvudman.name"].split()).casefold(),
               values["huvudman.lan_kod"], " ".join(values["huvudman.type"].split()).casefold())  # fmt: skip
        groups[key].append((number, values))
    result = DryRun(rows=len(rows), examples=examples)
    for members in groups.values():
        first = members[0][1]
        data = {
            "ruc_id": ruc_id,
            "year": first["year"],
            "huvudman": {
                "name": first["huvudman.name"],
                "lan_kod": first["huvudman.lan_kod"],
                "type": " ".join(first["huvudman.type"].split()).casefold(),
            },
            "insatser": [_insats(v) for _n, v in members],
        }
        try:
            report = ReportIn.model_validate(data)
        except ValidationError as exc:
            result.errors.extend(_row_errors(exc, members))
            continue
        overflow = report_draft_overflow(report, max_message_bytes)
        if overflow is None:
            result.reports.append(report)
            result.report_rows.append([n for n, _v in members])
        else:
            result.errors.extend(RowError(n, "Ref", overflow.message().split(" / ")[0]) for n, _v in members)
    result.errors.sort(key=lambda e: (e.row, e.column))
    return result


def _row_errors(exc: ValidationError, members: list[tuple[int, dict[str, str]]]) -> list[RowError]:
    errors = []
    numbers = [n for n, _v in members]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        message = message_sv(err)
        if loc[:1] == ["insatser"] and len(loc) >= 3:
            found = members[int(loc[1])][1].get(loc[2], "")
            message = row_message(err, loc[2], found)
            errors.append(RowError(numbers[int(loc[1])], HEADER_OF.get(loc[2], loc[2]), message))
        elif loc[:1] == ["insatser"] and len(loc) == 1:
            too_many = f"Högst {MAX_INSATSER} insatser per huvudman och år."
            errors.extend(RowError(n, "Ref", too_many) for n in numbers)
        elif loc and loc[0] in ("year", "huvudman"):
            column = HEADER_OF.get(".".join(loc), loc[0])
            message = row_message(err, ".".join(loc), members[0][1].get(".".join(loc), ""))
            errors.extend(RowError(n, column, message) for n in numbers)
        else:  # a report-level rule: duplicate refs within one huvudman's report
            refs = [v["ref"] for _n, v in members]
            errors.extend(RowError(n, "Ref", message) for n, v in members if refs.count(v["ref"]) > 1)
    return errors
