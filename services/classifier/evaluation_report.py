"""The evaluation report (docs/classifier-evaluation.md): Markdown, deterministic for one corpus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.classifier.evaluation import HeldOut, RealCrossValidation, RecipeScore
from services.classifier.examples import Example
from services.classifier.model import ALGORITHM, fingerprint
from shared.reference import ReferenceData


@dataclass(frozen=True)
class Measured:
    name: str
    score: RecipeScore


@dataclass(frozen=True)
class Figures:
    corpus: Sequence[Example]
    eval_set: Sequence[Example]
    methods: Sequence[Measured]
    chosen: HeldOut
    second: HeldOut  # the chosen model on the curve set (a third writing style)
    corpus_held_out: RecipeScore  # the chosen recipe on its own corpus, whole themes held out
    curve: Mapping[int, float]
    with_title: RecipeScore  # the evaluation texts behind a topic-only title
    real_cv: RealCrossValidation  # Skolverket's shared real texts, 5-fold
    holdout: HeldOut  # the shipped model on our own real-style set, never trained or tuned on


def _f(x: float) -> str:
    return f"{x:.3f}"


def _header(f: Figures) -> list[str]:
    return [
        "# Utvärdering av NSP-klassificeraren",
        "",
        "Genererad av `rucnet classifier-eval` – redigera inte för hand. "
        f"Algoritm `{ALGORITHM}`, träningskorpus `nsp_corpus.jsonl` + `real_style_corpus.jsonl` "
        f"({len(f.corpus)} texter, fingeravtryck `{fingerprint(f.corpus)}`), separat utvärderingsmängd "
        f"`services/classifier/corpus/eval_set.jsonl` ({len(f.eval_set)} texter, aldrig tränad eller "
        "justerad på). Alla nio områden är tillåtna (som `rucnet classify` utan `--year`).",
        "",
        "Båda mängderna är skrivna av projektet, i olika stil; verkliga samordnartexter är svårare, "
        "så siffrorna är en övre gräns (se docs/classifier.md). Domaren är de verkliga texterna nedan.",
        *_real(f),
        "",
        "## Metoder på utvärderingsmängden",
        "",
        "| metod | top-1 | top-2 |",
        "|---|---|---|",
        *[f"| {m.name} | {_f(m.score.top1)} | {_f(m.score.top2)} |" for m in f.methods],
        "",
        f"Vald metod på sin egen korpus med hela skrivteman utelämnade (5 veck): top-1 "
        f"{_f(f.corpus_held_out.top1)}, top-2 {_f(f.corpus_held_out.top2)}. "
        f"Med en ämnesrubrik före effekttexten (titel + effekter): top-1 {_f(f.with_title.top1)}, "
        f"top-2 {_f(f.with_title.top2)}.",
    ]


_REVIEW_HEAD = [
    "| mängd | texter | top-1 | top-2 | flaggade | top-1 oflaggade | rätt efter granskning |",
    "|---|---|---|---|---|---|---|",
]


def _review_row(name: str, h: HeldOut) -> str:
    flagged, unflagged = h.review()
    return (
        f"| {name} | {len(h.truth)} | {_f(h.top_k(1))} | {_f(h.top_k(2))} | {flagged:.1%} | "
        f"{_f(unflagged)} | {h.after_review():.1%} |"
    )


def _real(f: Figures) -> list[str]:
    return [
        "",
        "## Verkliga texter: Skolverkets 23 delade effekter 2020 (korsvaliderat, 5 veck)",
        "",
        "Varje veck bedöms av en modell som aldrig sett den: den levererade metoden tränar på den "
        "skrivna korpusen och kalibreras (temperatur, granskningsgräns) på de andra veckens verkliga "
        "texter; raden *lär sig* tränar dessutom på dem (vad `classifier-train --examples` ger). "
        "Målet: högst hälften flaggade och minst 90 % rätt efter att analytikerna granskat de flaggade. "
        "Den egna mängden i verklig stil (`real_style_holdout.jsonl`) är skriven för sig och aldrig "
        "tränad eller justerad på; den levererade modellen bedömer den.",
        "",
        *_REVIEW_HEAD,
        _review_row("delade verkliga, levererad metod (kalibrerad på övriga veck)", f.real_cv.unlearned),
        _review_row("delade verkliga, lär sig övriga veck", f.real_cv.learned),
        _review_row("egen utelämnad mängd i verklig stil", f.holdout),
        _review_row("utvärderingsmängden", f.chosen),
        _review_row("kurvmängden", f.second),
    ]


def _review(f: Figures) -> list[str]:
    lines = ["", "## Säkerhet och granskning (vald metod)", ""]
    lines += [
        "| mängd | texter | top-1 | top-2 | flaggade | top-1 oflaggade | mängden rätt | storlek | ECE |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|"]
    for name, h in (
        ("delade verkliga (5 veck)", f.real_cv.unlearned),
        ("egen mängd i verklig stil", f.holdout),
        ("utvärderingsmängden", f.chosen),
        ("kurvmängden (berättande stil)", f.second),
    ):
        flagged, unflagged = h.review()
        covered, size = h.set_coverage()
        ranks = f"{_f(h.top_k(1))} | {_f(h.top_k(2))}"
        review = f"{flagged:.1%} | {_f(unflagged)} | {covered:.1%} | {size:.2f} | {_f(h.calibration_error())}"
        lines.append(f"| {name} | {len(h.truth)} | {ranks} | {review} |")
    return lines + [
        "",
        "Flaggade: `needs_review` (under modellens kalibrerade gräns). Mängden: de rimliga områdena "
        "(`plausible`: den konforma prediktionsmängden för 90 %, för en flaggad insats utökad till två "
        "eller tre), hur ofta den innehåller rätt område och hur många områden den har i snitt. "
        "ECE: förväntat kalibreringsfel, 10 intervall.",
        "",
        "## Inlärningskurva",
        "",
        "Top-1 på utelämnade texter i verklig stil när k granskade exempel läggs till (utvärderings- och "
        "kurvmängden tillsammans, slumpvis delade, 5 frön; testdelen är alltid utanför träningen).",
        "",
        "| granskade exempel | " + " | ".join(str(k) for k in f.curve) + " |",
        "|---|" + "---|" * len(f.curve),
        "| top-1 | " + " | ".join(_f(v) for v in f.curve.values()) + " |",
    ]


def _areas(f: Figures, reference: ReferenceData) -> list[str]:
    names = {a.code: a.name_sv for a in reference.nsp_areas}
    h = f.chosen
    codes = [c for c in h.labels if c in h.truth]
    lines = ["", "## Per område (vald metod)", "", "| område | texter | top-1 | top-2 |", "|---|---|---|---|"]
    for code in codes:
        mask = [t == code for t in h.truth]
        name = f"{names.get(code, code)} (`{code}`)"
        lines.append(f"| {name} | {sum(mask)} | {_f(h.top_k(1, mask))} | {_f(h.top_k(2, mask))} |")
    short = {code: f"{i + 1}" for i, code in enumerate(h.labels)}
    lines += [
        "",
        "## Förväxlingsmatris (rad: rätt område, kolumn: modellens förstaval)",
        "",
        "Kolumner: " + ", ".join(f"{short[c]} = `{c}`" for c in h.labels),
        "",
        "| rätt \\ gissat | " + " | ".join(short[c] for c in h.labels) + " |",
        "|---|" + "---|" * len(h.labels),
    ]
    for truth, row in h.confusion().items():
        if truth in codes:
            lines.append(f"| {short[truth]} `{truth}` | " + " | ".join(str(row[c]) for c in h.labels) + " |")
    lines += [
        "",
        "## Fel på utvärderingsmängden",
        "",
        "| rätt | modellens val | flaggad | text |",
        "|---|---|---|---|",
    ]
    for example, scored in zip(f.eval_set, h.scored, strict=True):
        if scored.best.code != example.label:
            flag = "ja" if scored.needs_review() else "nej"
            text = example.text.replace("|", "/")[:160]
            lines.append(
                f"| `{example.label}` | `{scored.best.code}` {scored.best.score:.2f} | {flag} | {text} |"
            )
    return lines


def render_evaluation(figures: Figures, reference: ReferenceData) -> str:
    return "\n".join([*_header(figures), *_review(figures), *_areas(figures, reference)]) + "\n"


TOPIC_TITLE = "Insats för nyanlända elever: studiehandledning, modersmål och svenska som andraspråk."


def gather_figures(reference: ReferenceData) -> Figures:
    """Every figure of the report: each recipe trained on its corpus, judged on the evaluation set."""
    from services.classifier.evaluation import (
        compare_recipes,
        cross_validate_real,
        held_out,
        learning_curve,
        rank_with,
    )
    from services.classifier.examples import (
        load_corpus,
        load_curve_set,
        load_eval_set,
        load_legacy_corpus,
        load_real_style_holdout,
        load_shared_real,
        vocabulary_examples,
    )
    from services.classifier.registry import train_default
    from services.classifier.rules import score_text
    from services.classifier.training import train

    corpus, eval_set, vocabulary = load_corpus(), load_eval_set(), vocabulary_examples(reference)
    legacy, curve_set = load_legacy_corpus(), load_curve_set()

    def on_eval(examples: Sequence[Example], extra: Sequence[Example]) -> RecipeScore:
        return held_out(train(examples, extra, calibrated=False), eval_set).as_score("eval")

    chosen_model = train_default(reference)
    chosen = held_out(chosen_model, eval_set)
    methods = [
        Measured(
            "lexikon (rules.py, referensordlistan; ingen träning)",
            rank_with(lambda t: [a.code for a in score_text(t, reference).areas], eval_set),
        ),
        Measured("tecken-n-gram + LR, gamla korpusen (issue 4) + ordlistan", on_eval(legacy, vocabulary)),
        Measured("tecken-n-gram + LR, nya korpusen utan ordlistan", on_eval(corpus, [])),
        Measured(
            "tecken-n-gram + LR, nya + gamla korpusen + ordlistan", on_eval([*corpus, *legacy], vocabulary)
        ),
        Measured("**tecken-n-gram + LR, nya korpusen + ordlistan (vald)**", chosen.as_score("eval")),
    ]
    titled = [Example(f"{TOPIC_TITLE}\n{e.text}", e.label) for e in eval_set]
    return Figures(
        corpus=corpus,
        eval_set=eval_set,
        methods=methods,
        chosen=chosen,
        second=held_out(chosen_model, curve_set),
        corpus_held_out=compare_recipes(corpus, [], [], vocabulary)[0],
        curve=learning_curve(corpus, vocabulary, [*eval_set, *curve_set]),
        with_title=held_out(chosen_model, titled).as_score("eval"),
        real_cv=cross_validate_real(corpus, load_shared_real(), vocabulary),
        holdout=held_out(chosen_model, load_real_style_holdout()),
    )
