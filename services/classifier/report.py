"""The evaluation report (docs/classifier-evaluation.md): Markdown, deterministic for one corpus."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.classifier.evaluation import CvReport, RecipeScore
from services.classifier.examples import Example
from services.classifier.model import ALGORITHM, fingerprint
from shared.reference import ReferenceData


@dataclass(frozen=True)
class Measured:
    name: str
    top1: float
    top2: float
    hard_top1: float


def _pct(x: float) -> str:
    return f"{x:.3f}"


def render_evaluation(
    corpus: Sequence[Example],
    chosen: CvReport,
    methods: Sequence[Measured],
    lexicon: RecipeScore,
    threshold: float,
    reference: ReferenceData,
) -> str:
    names = {a.code: a.name_sv for a in reference.nsp_areas}
    flagged, unflagged_top1 = chosen.review_share(threshold)
    lines = [
        "# Utvärdering av NSP-klassificeraren",
        "",
        "Genererad av `rucnet classifier-eval` – redigera inte för hand. "
        f"Algoritm `{ALGORITHM}`, korpus `services/classifier/corpus/nsp_corpus.jsonl` "
        f"({len(corpus)} texter, varav {sum(e.hard for e in corpus)} svåra fall; "
        f"fingeravtryck `{fingerprint(corpus)}`), stratifierad 5-faldig korsvalidering (seed 0).",
        "",
        "Korpusen är handskriven i samordnarnas stil; siffrorna här är därför en övre gräns för hur "
        "modellen klarar verkliga rapporter (se docs/classifier.md).",
        "",
        "## Metoder (samma veck)",
        "",
        "| metod | top-1 | top-2 | top-1 svåra fall |",
        "|---|---|---|---|",
        f"| lexikon (rules.py, referensordlistan; ingen träning) | {_pct(lexicon.top1)} | "
        f"{_pct(lexicon.top2)} | – |",
    ]
    lines += [f"| {m.name} | {_pct(m.top1)} | {_pct(m.top2)} | {_pct(m.hard_top1)} |" for m in methods]
    lines += [
        "",
        "## Kalibrering (vald metod)",
        "",
        f"- temperatur {chosen.temperature:.3f}, förväntat kalibreringsfel (ECE, 10 intervall) "
        f"{chosen.calibration_error():.3f}",
        f"- under tröskeln {threshold:.2f} (`needs_review`): {flagged:.1%} av texterna; "
        f"top-1 bland övriga {unflagged_top1:.3f}",
        "",
        "## Per område (vald metod)",
        "",
        "| område | texter | recall top-1 | top-2 |",
        "|---|---|---|---|",
    ]
    for code in chosen.labels:
        n = sum(t == code for t in chosen.truth)
        top2 = chosen.top_k(2, [t == code for t in chosen.truth])
        lines.append(
            f"| {names.get(code, code)} (`{code}`) | {n} | {_pct(chosen.recall(code))} | {_pct(top2)} |"
        )
    short = {code: f"{i + 1}" for i, code in enumerate(chosen.labels)}
    lines += [
        "",
        "## Förväxlingsmatris (rad: rätt område, kolumn: modellens förstaval)",
        "",
        "Kolumner: " + ", ".join(f"{short[c]} = `{c}`" for c in chosen.labels),
        "",
        "| rätt \\ gissat | " + " | ".join(short[c] for c in chosen.labels) + " |",
        "|---|" + "---|" * len(chosen.labels),
    ]
    for truth, row in chosen.confusion().items():
        lines.append(f"| {short[truth]} `{truth}` | " + " | ".join(str(row[c]) for c in chosen.labels) + " |")
    lines += ["", "## Svåra fall", "", "| rätt | modellens val | text |", "|---|---|---|"]
    for example, ranked in zip(corpus, chosen.ranked, strict=True):
        if example.hard:
            mark = "✓" if ranked[0] == example.label else "✗"
            text = example.text.replace("|", "/")[:160]
            lines.append(f"| `{example.label}` | {mark} `{ranked[0]}` | {text} |")
    return "\n".join(lines) + "\n"
