"""The shipped corpus and evaluation set: real-input shaped, labelled by the 2020 convention, apart."""

from __future__ import annotations

import re
from collections import Counter

from services.classifier.examples import load_corpus, load_eval_set
from shared.reference import load_reference

REFERENCE = load_reference()
# The 2020 shares of completed insatser (domain.md): nyanlanda 59, styrning 35 of 141.
NATIONAL_2020 = {"nyanlanda": 59, "styrning-och-ledning": 35, "bedomning-och-betyg": 17}


def test_the_corpus_covers_every_area_with_provenance_and_a_writing_theme() -> None:
    corpus = load_corpus()
    assert len(corpus) >= 300
    assert {e.label for e in corpus} == REFERENCE.nsp_codes
    assert all(e.provenance and e.group for e in corpus)
    assert min(Counter(e.label for e in corpus).values()) >= 12


def test_the_corpus_follows_the_2020_distribution_in_its_largest_areas() -> None:
    counts = Counter(e.label for e in load_corpus())
    ranked = [code for code, _ in counts.most_common(3)]
    assert ranked == list(NATIONAL_2020)


def test_corpus_texts_are_short_effects_that_seldom_name_their_area() -> None:
    corpus = load_corpus()
    sentences = [len(re.findall(r"[.!?](\s|$)", e.text)) for e in corpus]
    assert max(sentences) <= 3
    names = {a.code: a.name_sv.casefold() for a in REFERENCE.nsp_areas}
    naming = [e for e in corpus if names[e.label] in e.text.casefold()]
    assert len(naming) / len(corpus) < 0.05


def test_most_texts_of_the_two_overlapping_areas_concern_newly_arrived_pupils() -> None:
    topic = re.compile(r"nyanl|studiehandled|modersmål|andraspråk|sva|kartlägg|flerspråk", re.IGNORECASE)
    overlapping = [e for e in load_corpus() if e.label in {"nyanlanda", "styrning-och-ledning"}]
    assert sum(bool(topic.search(e.text)) for e in overlapping) / len(overlapping) > 0.5


def test_the_evaluation_set_is_separate_from_the_corpus() -> None:
    corpus_texts = {e.text.casefold() for e in load_corpus()}
    eval_set = load_eval_set()
    assert len(eval_set) >= 100
    assert not corpus_texts & {e.text.casefold() for e in eval_set}
    assert {e.label for e in eval_set} == REFERENCE.nsp_codes
    assert all("aldrig" in e.provenance for e in eval_set)
