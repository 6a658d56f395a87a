"""The NSP model as pure functions: areas, the overlap decided by level of change, reasons, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.classifier.examples import load_corpus, load_shared_real, vocabulary_examples
from services.classifier.model import ALGORITHM, EXPLAIN_CHARS, LETTER_WORD, NspModel, fingerprint, prepare
from services.classifier.registry import shipped_default
from services.classifier.rules import decide, score_text
from shared.events import Insats, InsatsClassification
from shared.reference import load_reference

REFERENCE = load_reference()
AREAS_2020 = frozenset(REFERENCE.nsp_codes_for(2020))


@pytest.fixture(scope="module")
def model() -> NspModel:
    shipped = shipped_default()
    assert isinstance(shipped, NspModel)  # the n-gram model's own parts are tested here
    return shipped


def classified(model: NspModel, insats: Insats) -> InsatsClassification:
    """What the handler decides for an insats of a 2020 report."""
    return decide(insats, model.score(insats.text, AREAS_2020), 0.5)


def _insats(text: str, nsp_area: str | None = None) -> Insats:
    return Insats(
        ref="gu-2020-001", title=text, status="completed", school_forms=("grundskola",), nsp_area=nsp_area
    )


# Written for these tests, not taken from the corpus: new wording for each area.
@pytest.mark.parametrize(
    ("text", "area"),
    [
        (
            "Pedagogerna har utbildats i betygssättning och sambedömning av elevarbeten i SO.",
            "bedomning-och-betyg",
        ),
        ("Lärarna använder nu Teams och digitala läromedel i undervisningen på distans.", "digitalisering"),
        (
            "Personalen har lärt sig ett traumamedvetet bemötande och elevhälsoteamet möter eleverna tidigt.",
            "elevhalsa",
        ),
        (
            "Föräldramöten med tolk har stärkt samarbetet mellan hem och skola och tryggheten ökat.",
            "kunskaper-och-varden",
        ),
        ("Mottagandet av nyanlända elever och kartläggningen av deras språk har utvecklats.", "nyanlanda"),
        ("Syv-samtal om gymnasieval och praktik har hjälpt eleverna mot arbetslivet.", "skola-och-arbetsliv"),
        (
            "Förvaltningen och rektorerna har tagit fram en gemensam organisation och ansvarsfördelning.",
            "styrning-och-ledning",
        ),
        (
            "Resultaten har följts upp och analyserats i kvalitetsdialoger med rektorerna två gånger per år.",
            "systematiskt-kvalitetsarbete",
        ),
    ],
)
def test_each_area_is_recognised_in_new_wording(model: NspModel, text: str, area: str) -> None:
    assert model.score(text, AREAS_2020).best.code == area


@pytest.mark.parametrize(
    ("text", "area"),
    [
        # the same subject, two levels of change: the classroom is nyanlanda, the organisation is styrning
        (
            "Studiehandledaren sitter med på lektionerna och förklarar begreppen på elevernas modersmål.",
            "nyanlanda",
        ),
        (
            "Studiehandledningen i kommunen samordnas nu centralt med rutiner för beställning och resursfördelning.",
            "styrning-och-ledning",
        ),
        (
            "Sva-läraren och ämnesläraren planerar undervisningen tillsammans och arbetar med ämnesord i klassen.",
            "nyanlanda",
        ),
        (
            "Huvudmannen har beslutat om riktlinjer för vilka elever som ska läsa svenska som andraspråk.",
            "styrning-och-ledning",
        ),
    ],
)
def test_the_level_of_change_decides_the_overlap(model: NspModel, text: str, area: str) -> None:
    assert model.score(text, AREAS_2020).best.code == area


def test_the_reasons_are_words_of_the_text_that_drove_the_decision(model: NspModel) -> None:
    text = "Huvudmannen har tagit fram rutiner för studiehandledning och en ny ansvarsfördelning."
    scored = model.score(text, AREAS_2020)
    assert scored.best.code == "styrning-och-ledning"
    assert scored.reasons
    assert set(scored.reasons) <= set(text.casefold().replace(".", "").split())
    assert {"huvudmannen", "rutiner"} & set(scored.reasons)


def test_scores_are_a_distribution_best_first_over_the_years_areas(model: NspModel) -> None:
    scored = model.score("Läslyftet och läsförståelse i lågstadiet.", AREAS_2020)
    assert {a.code for a in scored.areas} == set(model.labels)
    assert math.isclose(sum(a.score for a in scored.areas), 1.0, abs_tol=1e-3)
    assert [a.score for a in scored.areas] == sorted((a.score for a in scored.areas), reverse=True)
    assert next(a for a in scored.areas if a.code == "lasa-skriva-rakna").score == 0.0


BAD_TEXTS = {
    "empty": "",
    "whitespace": " \n\t  ",
    "emoji": "🙂🎉👍 🚀",
    "digits": "2020 - 12 / 31",
    "english": "The teachers improved their assessment practice and the pupils are happier now.",
    "100 kB of one letter": "x" * 100_000,
    "100 kB of Swedish": "Studiehandledning på modersmålet i matematik. " * 2_300,
}


@pytest.mark.parametrize("text", BAD_TEXTS.values(), ids=BAD_TEXTS.keys())
def test_bad_input_gets_a_valid_answer_and_never_a_crash(model: NspModel, text: str) -> None:
    result = classified(model, _insats(text or "-"))
    assert result.nsp_area in AREAS_2020
    assert 0.0 <= result.confidence <= 1.0
    assert len(result.candidates) == 3
    scored = model.score(text, AREAS_2020)
    assert math.isclose(sum(a.score for a in scored.areas), 1.0, abs_tol=1e-3)


@pytest.mark.parametrize("key", ["empty", "whitespace", "emoji", "digits", "english", "100 kB of one letter"])
def test_unreadable_or_foreign_text_is_low_confidence_and_flagged(model: NspModel, key: str) -> None:
    result = classified(model, _insats(BAD_TEXTS[key]))
    assert result.needs_review
    assert result.confidence < 0.5


def test_a_declared_area_is_kept_as_declared(model: NspModel) -> None:
    insats = _insats("Studiehandledning på modersmålet i klassrummet.", nsp_area="elevhalsa")
    result = classified(model, insats)
    assert (result.nsp_area, result.source, result.needs_review) == ("elevhalsa", "declared", False)
    assert result.candidates[0].code == "nyanlanda"


def test_a_confident_decision_is_not_flagged(model: NspModel) -> None:
    insats = _insats("Sambedömning av nationella prov och betygssättning i årskurs 9.")
    result = classified(model, insats)
    assert (result.nsp_area, result.source, result.needs_review) == (
        "bedomning-och-betyg",
        "classifier",
        False,
    )


def test_the_version_names_the_algorithm_and_the_training_data(model: NspModel) -> None:
    expected = fingerprint([*load_corpus(), *vocabulary_examples(REFERENCE), *load_shared_real()])
    assert model.version == f"{ALGORITHM}-{expected}"


def test_bulk_scoring_agrees_with_single_scoring(model: NspModel) -> None:
    texts = ["Rutiner för mottagande av nyanlända", "", "Digitala verktyg i klassrummet"]
    bulk = model.score_many(texts, None)
    assert [s.areas for s in bulk] == [model.score(t, None).areas for t in texts]


def test_the_cached_vectorisation_gives_the_fitted_vectorisers_numbers(model: NspModel) -> None:
    texts = [e.text for e in load_corpus()[:80]] + [
        "",
        "   ",
        "ÅÄÖ  Läslyftet\n\tSTUDIEHANDLEDNING!!",
        "🙂 42",
    ]
    ours = model.vectorise(texts).toarray()
    fitted = model.vectorizer.transform([prepare(t) for t in texts]).toarray()
    assert ours.shape == fitted.shape
    assert np.abs(ours - fitted).max() < 1e-6


def plain_explanation(model: NspModel, text: str, code: str, k: int = 5) -> tuple[str, ...]:
    """The oracle of ``batch_scoring.explain``, one text at a time: the words whose n-grams push the
    text's TF-IDF row towards ``code`` (rather than the average area) most, strongest first."""
    if code not in model.labels:
        return ()
    words = list(dict.fromkeys(LETTER_WORD.findall(prepare(text)[:EXPLAIN_CHARS].casefold())))
    grams = [model._token_grams(word)[0] for word in words]
    if not words or not sum(len(g) for g in grams):
        return ()
    row = model.vectorise([text])
    coef = np.asarray(model.clf.coef_)
    pushed = np.zeros(len(model.vectorizer.vocabulary_))
    pushed[row.indices] = row.data * (coef[model.labels.index(code)] - coef.mean(axis=0))[row.indices]
    owner = np.repeat(np.arange(len(words)), [len(g) for g in grams])
    totals = np.bincount(owner, weights=pushed[np.concatenate(grams)], minlength=len(words)).tolist()
    best = sorted((i for i, v in enumerate(totals) if v > 0), key=lambda i: (-totals[i], words[i]))
    return tuple(words[i] for i in best[:k])


def test_a_batch_is_scored_and_explained_as_each_text_alone(model: NspModel) -> None:
    texts = [e.text for e in load_corpus()[:40]] + ["", "The teachers met twice a month."]
    batch = model.score_batch([(t, AREAS_2020) for t in texts])
    alone = [model.score(t, AREAS_2020) for t in texts]
    assert [s.areas for s in batch] == [s.areas for s in alone]
    assert [s.reasons for s in batch] == [s.reasons for s in alone]
    explained = [
        plain_explanation(model, t, s.best.code) for t, s in zip(texts[:40], batch[:40], strict=True)
    ]
    assert [s.reasons for s in batch[:40]] == explained


def test_the_lexicon_baseline_calls_blank_text_unreadable() -> None:
    assert not score_text("   ", REFERENCE).readable
    assert score_text("betyg och bedömning", REFERENCE).best.code == "bedomning-och-betyg"
