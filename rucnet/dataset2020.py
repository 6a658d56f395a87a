"""A synthetic 2020 reporting round whose national totals are Skolverket's published 2020 figures.

18 RUC submit reports per huvudman; some insatser were reported as started in 2019, some reports
are first sent with mistakes and corrected by resubmitting the same refs. Only the final state
counts, so the national stats must come out at exactly the PM's numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from shared.reference import load_reference

STARTED_2020 = {
    "forskoleklass": 73, "fritidshem": 50, "grundskola": 155, "grundsarskola": 56,
    "gymnasieskola": 71, "gymnasiesarskola": 28, "komvux": 27, "sarvux": 10,
}  # fmt: skip
STARTED_TOTAL_2020 = 172
COMPLETED_2020 = {
    "bedomning-och-betyg": 17, "digitalisering": 4, "elevhalsa": 9, "kunskaper-och-varden": 5,
    "nyanlanda": 59, "skola-och-arbetsliv": 2, "styrning-och-ledning": 35, "systematiskt-kvalitetsarbete": 10,
}  # fmt: skip
COMPLETED_TOTAL_2020 = 141

_TITLES = {
    "bedomning-och-betyg": "Sambedömning och formativ bedömning i ämneslag",
    "digitalisering": "Digitala verktyg för fjärrundervisning och studiehandledning",
    "elevhalsa": "Traumamedvetet förhållningssätt i elevhälsoteamet",
    "kunskaper-och-varden": "Samverkan med vårdnadshavare och trygghet i mottagandet",
    "nyanlanda": "Språk- och kunskapsutvecklande undervisning för nyanlända elever",
    "skola-och-arbetsliv": "Studie- och yrkesvägledning för nyanlända på introduktionsprogram",
    "styrning-och-ledning": "Kommungemensamma rutiner för mottagande och styrkedjan",
    "systematiskt-kvalitetsarbete": "Uppföljning och resultatanalys av nyanländas måluppfyllelse",
}
_TYPES = ("kommunal", "kommunal", "kommunal", "enskild", "region")


@dataclass(frozen=True)
class Submission:
    """One POST /api/v1/reports as a RUC would send it."""

    ruc_id: str
    payload: dict[str, Any]


def _spread_school_forms(rng: random.Random, n: int) -> list[list[str]]:
    """Each insats targets at least one form; per-form totals are exactly STARTED_2020."""
    forms: list[list[str]] = [[] for _ in range(n)]
    for form, count in sorted(STARTED_2020.items(), key=lambda kv: -kv[1]):
        order = sorted(range(n), key=lambda i: (len(forms[i]), rng.random()))
        for i in order[:count]:
            forms[i].append(form)
    assert all(forms), "every insats needs a school form"
    return forms


def _insats(ref: str, status: str, forms: list[str], area: str | None, declare: bool) -> dict[str, Any]:
    title = _TITLES[area] if area else "Nätverksträffar om mottagande av nyanlända"
    body: dict[str, Any] = {
        "ref": ref,
        "title": title,
        "description": f"{title}. Insatsen genomförs tillsammans med RUC.",
        "status": status,
        "school_forms": forms,
        "expected_effects": "Ökad måluppfyllelse för nyanlända och flerspråkiga elever.",
        "nsp_area": area if declare else None,
    }
    if status == "completed":
        body["actual_effects"] = "Personalen har utvecklat sitt arbete; effekterna är uppföljda."
    return body


def plan_2020(seed: int = 2020) -> list[Submission]:
    """Submissions in the order they are sent: 2019 starts, 2020 first versions, then corrections."""
    rng = random.Random(seed)
    reference = load_reference()
    rucs = sorted(reference.ruc, key=lambda r: r.id)
    huvudmen = {
        r.id: [(f"{r.id.upper()}-huvudman {k}", rng.choice(r.lan), rng.choice(_TYPES)) for k in range(1, 5)]
        for r in rucs
    }
    started_forms = _spread_school_forms(rng, STARTED_TOTAL_2020)
    areas = [a for a, c in COMPLETED_2020.items() for _ in range(c)]
    rng.shuffle(areas)
    records: list[tuple[str, int, dict[str, Any]]] = []  # (ruc, huvudman index, final insats)
    for i, forms in enumerate(started_forms):
        area = rng.choice(list(COMPLETED_2020))
        records.append((rucs[i % len(rucs)].id, rng.randrange(4), _insats("", "started", forms, area, False)))
    for area in areas:
        forms = rng.sample(sorted(STARTED_2020), rng.choice((1, 1, 2)))
        records.append((rng.choice(rucs).id, rng.randrange(4), _insats("", "completed", forms, area, True)))
    numbers: dict[str, int] = {}
    for ruc_id, _hm, insats in records:
        numbers[ruc_id] = numbers.get(ruc_id, 0) + 1
        insats["ref"] = f"{ruc_id}-{numbers[ruc_id]:03d}"

    def report(ruc_id: str, hm: int, year: int, insatser: list[dict[str, Any]]) -> Submission:
        name, lan, kind = huvudmen[ruc_id][hm]
        huvudman = {"name": name, "lan_kod": lan, "type": kind}
        return Submission(
            ruc_id, {"ruc_id": ruc_id, "year": year, "huvudman": huvudman, "insatser": insatser}
        )

    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for ruc_id, hm, insats in records:
        groups.setdefault((ruc_id, hm), []).append(insats)
    early, first, corrections = [], [], []
    for (ruc_id, hm), insatser in sorted(groups.items()):
        # Completed in 2020 after being started in 2019: the same ref, reported again.
        begun = [dict(i, status="started", actual_effects="") for i in insatser if i["status"] == "completed"]
        if begun and rng.random() < 0.5:
            early.append(report(ruc_id, hm, 2019, begun))
        if rng.random() < 0.3:
            first.append(report(ruc_id, hm, 2020, [_mistaken(rng, i) for i in insatser]))
            corrections.append(report(ruc_id, hm, 2020, insatser))
        else:
            first.append(report(ruc_id, hm, 2020, insatser))
    return early + first + corrections


def _mistaken(rng: random.Random, insats: dict[str, Any]) -> dict[str, Any]:
    """A first version with the kinds of mistakes a correction fixes."""
    wrong = dict(insats)
    choice = rng.randrange(3)
    if choice == 0:
        wrong["school_forms"] = ["forskola"]
    elif choice == 1:
        wrong["status"] = "started" if insats["status"] == "completed" else "completed"
        wrong["actual_effects"] = "Delvis uppföljd." if wrong["status"] == "completed" else ""
        wrong["nsp_area"] = "digitalisering" if wrong["status"] == "completed" else None
    else:
        wrong["nsp_area"] = "elevhalsa" if insats["nsp_area"] else None
    return wrong


def expected_national_2020() -> dict[str, Any]:
    """The contract's national stats body for 2020, as the PM publishes it."""
    return {
        "started": {"insatser": STARTED_TOTAL_2020, "by_school_form": STARTED_2020},
        "completed": {"insatser": COMPLETED_TOTAL_2020, "by_nsp": COMPLETED_2020},
    }


def classified_events_2020(seed: int = 2020, secret: str = "dataset-2020") -> list[Any]:
    """The plan as the aggregator receives it (ReportClassified events, in order), for loading a
    database directly in tests and benchmarks of the read side."""
    import uuid

    from services.classifier.rules import classify_by_lexicon
    from services.intake.store import to_event
    from shared.inbound import ReportIn
    from shared.pseudonym import pseudonymise

    events = []
    for version, submission in enumerate(plan_2020(seed), start=1):
        report = ReportIn.model_validate(submission.payload)
        submitted = to_event(report, pseudonymise(secret, report.huvudman.name), version, uuid.uuid4())
        events.append(classify_by_lexicon(submitted, 0.5))
    return events
