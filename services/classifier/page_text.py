"""How an insats reads on the review page: its text without the title again, and the reasons
that help an analyst (whole words of the text, no stop words, no word fragments)."""

from __future__ import annotations

import re

# Function words a reason never rests on (the model may weigh them; an analyst learns nothing).
STOP_WORDS = frozenset(
    "alla att av blir de dem den denna dess det detta dig din där då efter eller en ett fler från för "
    "genom har hade hos hur i inom inte ju kan man med mellan men mer mot ni när och om oss på samt "
    "sedan sig sin sina sitt ska skulle som så till under upp ut utan vad var vara vi vid än är över "
    "insatsen insatser genomförs tillsammans".split()
)
MIN_LENGTH = 3
_WORD = re.compile(r"[\wåäöÅÄÖéÉ]+(?:-[\wåäöÅÄÖéÉ]+)*-?")


def body_without_title(title: str, text: str) -> str:
    """The classified text with the title taken out where it is only repeated."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if title and stripped.startswith(title):
            stripped = stripped[len(title) :].lstrip(" .:–-")
        if stripped:
            lines.append(stripped)
    return "\n".join(lines)


def shown_reasons(reasons: list[str], text: str, most: int = 6) -> list[str]:
    """Reasons worth showing: whole words or phrases of the text, never stop words or fragments
    (a reason "studie" out of "Studie- och yrkesvägledning" is not a word the samordnare wrote)."""
    words = {w.casefold() for w in _WORD.findall(text)}
    folded = " ".join(w.casefold() for w in _WORD.findall(text))
    shown: list[str] = []
    for reason in reasons:
        sv = reason.split(" / ")[0].strip()
        if " / " in reason:  # a flag such as "texten ser inte ut att vara svenska": keep, in Swedish
            shown.append(sv[:1].upper() + sv[1:])
            continue
        key = sv.casefold()
        if len(key) < MIN_LENGTH or key in STOP_WORDS:
            continue
        whole = key in words if " " not in key else f" {key} " in f" {folded} "
        if whole and key not in {s.casefold() for s in shown}:
            shown.append(sv)
    return shown[:most]


_ACTOR = re.compile(r"^(?P<role>[a-z]+)#(?P<id>\d+)(?: \((?P<label>.*)\))?$", re.DOTALL)
_ROLES = {"skolverket": "Skolverket", "admin": "administratör", "ruc": "RUC"}


def actor_label(analyst: str) -> str:
    """Who decided, as a reader says it: "Anna Analytiker (Skolverket)" for "skolverket#21 (Anna
    Analytiker)", "Skolverket, nyckel 21" when the token has no name."""
    found = _ACTOR.match(analyst)
    if found is None:
        return analyst
    role = _ROLES.get(found["role"], found["role"])
    return f"{found['label']} ({role})" if found["label"] else f"{role}, nyckel {found['id']}"
