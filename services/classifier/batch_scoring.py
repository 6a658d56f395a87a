"""The n-gram model's scoring of a whole batch in array operations (model.py's hot path).

Per batch, not per text: the TF-IDF rows are assembled from cached per-word n-gram counts into one
sparse matrix (one sort and one sum for the whole batch), the allowed areas, the foreign-text mix
and the ranking are matrix operations, and the deciding words of every text are looked up in the
matrix at once. What is left per text is reading its words (cached dictionary lookups) and building
its small result. Results are those of scoring each text alone (tests/unit/test_classifier_model.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csr_matrix

from services.classifier.rules import Scored
from shared.events import AreaScore

if TYPE_CHECKING:
    from services.classifier.model import NspModel

UNREADABLE = ("ingen läsbar text / no readable text",)
FOREIGN = "texten ser inte ut att vara svenska / text does not look Swedish"
CHUNK = 256  # texts scored together: the explanation reads their rows as a dense array
_AREA_SCORES: dict[tuple[str, float], AreaScore] = {}  # frozen, so shared: labels × 10 001 scores


def _grams(model: NspModel) -> Any:
    """The model's per-word n-gram lookup, its cache read directly (a miss fills it)."""
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = model.meta.setdefault("_token_grams", {})
    fill = model._token_grams

    def grams(token: str) -> tuple[np.ndarray, np.ndarray]:
        found = cache.get(token)
        return found if found is not None else fill(token)

    return grams


def vectorise(model: NspModel, texts: Sequence[str]) -> csr_matrix:
    """The fitted vectoriser's TF-IDF rows (sublinear tf, idf, l2) for every text, as one matrix.

    Counts are (texts × the batch's distinct words) @ (those words × n-grams): one sparse product,
    so the only per-token Python is numbering the token.
    """
    from services.classifier.model import prepare

    words: dict[str, int] = {}
    ids: list[int] = []
    indptr = [0]
    for text in texts:
        ids.extend([words.setdefault(token, len(words)) for token in prepare(text).lower().split()])
        indptr.append(len(ids))
    width = len(model.vectorizer.vocabulary_)
    grams = _grams(model)
    per_word = [grams(word) for word in words]
    if not sum(len(c) for c, _ in per_word):
        return csr_matrix((len(texts), width), dtype=np.float32)
    word_grams = csr_matrix(
        (
            np.concatenate([n for _, n in per_word]),
            np.concatenate([c for c, _ in per_word]),
            np.concatenate(([0], np.cumsum([len(c) for c, _ in per_word]))),
        ),
        shape=(len(words), width),
    )
    occurrences = csr_matrix(
        (np.ones(len(ids)), np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(texts), len(words)),
    )
    counts = (occurrences @ word_grams).tocsr()  # a product has each column once per row, none zero
    row_of = np.repeat(np.arange(len(texts)), np.diff(counts.indptr))
    values = (np.log(counts.data) + 1.0) * np.asarray(model.vectorizer.idf_, dtype=np.float64)[counts.indices]
    norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
    values /= norms[row_of]
    return csr_matrix((values.astype(np.float32), counts.indices, counts.indptr), shape=counts.shape)


def _allowed_mask(labels: tuple[str, ...], alloweds: Sequence[frozenset[str] | None]) -> np.ndarray:
    """One row per text: which of the model's labels its year allows."""
    masks: dict[frozenset[str] | None, np.ndarray] = {}
    for allowed in alloweds:
        if allowed not in masks:
            masks[allowed] = np.array([allowed is None or code in allowed for code in labels], dtype=bool)
    return np.stack([masks[a] for a in alloweds]) if alloweds else np.zeros((0, len(labels)), dtype=bool)


def area_score(code: str, score: float) -> AreaScore:
    """``AreaScore(code=code, score=score)``, one shared instance per value (they are frozen)."""
    found = _AREA_SCORES.get((code, score))
    if found is None:
        found = _AREA_SCORES[(code, score)] = AreaScore(code=code, score=score)
    return found


@dataclasses.dataclass(frozen=True)
class Words:
    """The letter words of a batch's texts: each distinct word numbered once, each text's words as
    ids (``ids[starts[i]:starts[i + 1]]``), so per-word facts are looked up once per batch."""

    distinct: list[str]
    ids: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, texts: Sequence[str]) -> Words:
        numbers: dict[str, int] = {}
        ids: list[int] = []
        starts = [0]
        for text in texts:
            ids.extend([numbers.setdefault(w, len(numbers)) for w in _letter_words(text)])
            starts.append(len(ids))
        return cls(list(numbers), np.asarray(ids, dtype=np.int64), np.asarray(starts, dtype=np.int64))

    def text_of_each(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.starts) - 1), np.diff(self.starts))


def _letter_words(text: str, limit: int | None = None) -> list[str]:
    from services.classifier.model import LETTER_WORD, prepare

    return LETTER_WORD.findall((prepare(text) if limit is None else prepare(text)[:limit]).casefold())


def swedish_shares(model: NspModel, words: Words) -> list[float | None]:
    """``model.swedish_share`` of every text: each distinct word judged once."""
    from services.classifier.model import _SWEDISH

    known = model.known_words
    swedish = np.array([w in known or w in _SWEDISH for w in words.distinct], dtype=np.float64)
    n = len(words.starts) - 1
    hits = np.bincount(words.text_of_each(), weights=swedish[words.ids], minlength=n)
    counts = np.diff(words.starts)
    return [float(h / c) if c else None for h, c in zip(hits.tolist(), counts.tolist(), strict=True)]


def rank(
    model: NspModel,
    probs: np.ndarray,
    alloweds: Sequence[frozenset[str] | None],
    shares: Sequence[float | None],
) -> list[Scored]:
    """Each text's areas best first, restricted to what its year allows, without reasons."""
    from services.classifier.model import SWEDISH_MIN_SHARE, _plausible

    labels = model.labels
    keep = _allowed_mask(labels, alloweds)
    uniform = keep / np.maximum(1, keep.sum(axis=1, keepdims=True))
    readable = np.array([s is not None for s in shares], dtype=bool)
    foreign = np.array([s is not None and s < SWEDISH_MIN_SHARE for s in shares], dtype=bool)
    kept = np.where(keep, probs, 0.0)
    total = kept.sum(axis=1, keepdims=True)
    kept = np.where(total > 0, kept / np.where(total > 0, total, 1.0), uniform)
    kept = np.where(foreign[:, None], 0.5 * kept + 0.5 * uniform, kept)
    kept = np.where(readable[:, None], kept, uniform)
    # best first, ties by code, as sorting (-score, code) one text at a time does
    order = np.lexsort((np.broadcast_to(np.argsort(np.argsort(labels)), kept.shape), -kept), axis=-1)
    ranked_values = np.take_along_axis(kept, order, axis=1).tolist()
    out = []
    for i, (columns, values) in enumerate(zip(order.tolist(), ranked_values, strict=True)):
        ranked = tuple(area_score(labels[c], round(v, 4)) for c, v in zip(columns, values, strict=True))
        if not readable[i]:
            out.append(Scored(ranked, UNREADABLE, readable=False))
            continue
        uncertain = ranked[0].score < model.cutoff
        plausible = _plausible(ranked, model.set_level, uncertain)
        out.append(Scored(ranked, (), True, bool(foreign[i]), uncertain, plausible))
    return out


def explain(
    model: NspModel, words: Words, matrix: csr_matrix, codes: Sequence[str | None], k: int = 5
) -> list[tuple[str, ...]]:
    """Per text, the words whose n-grams pushed it towards its code most, strongest first
    (``model._explain`` for every text at once). ``words``: each text's explained words, in order."""
    labels = model.labels
    n = len(codes)
    classes = np.array([labels.index(c) if c in labels else -1 for c in codes], dtype=np.int64)
    # each (text, distinct word) pair once, in the text's order
    pair_text_all = words.text_of_each()
    _, first = np.unique(pair_text_all * max(1, len(words.distinct)) + words.ids, return_index=True)
    first.sort()
    first = first[classes[pair_text_all[first]] >= 0]
    pair_text, pair_word = pair_text_all[first], words.ids[first]
    grams = _grams(model)
    per_word = [grams(w)[0] for w in words.distinct]
    lengths = np.array([len(c) for c in per_word], dtype=np.int64)
    if not len(first) or not lengths[pair_word].sum():
        return [() for _ in range(n)]
    flat = np.concatenate(per_word)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    pair_lengths = lengths[pair_word]
    owner = np.repeat(np.arange(len(first)), pair_lengths)
    offsets = np.concatenate(([0], np.cumsum(pair_lengths)[:-1]))
    gram_column = flat[np.repeat(starts[pair_word] - offsets, pair_lengths) + np.arange(pair_lengths.sum())]
    gram_text = pair_text[owner]
    # the vocabulary is small (≈ 11 000 n-grams): the batch's rows as a dense array, indexed directly
    values = matrix.toarray()[gram_text, gram_column]
    pushed = values * _pushes(model)[classes[gram_text], gram_column]
    totals = np.bincount(owner, weights=pushed, minlength=len(first))
    # strongest first per text, ties by the word; only words that pushed towards the code
    alphabetical = np.empty(len(words.distinct), dtype=np.int64)
    alphabetical[np.argsort(np.array(words.distinct, dtype=object))] = np.arange(len(words.distinct))
    chosen = np.flatnonzero(totals > 0)
    chosen = chosen[np.lexsort((alphabetical[pair_word[chosen]], -totals[chosen], pair_text[chosen]))]
    out: list[list[str]] = [[] for _ in range(n)]
    for t, w in zip(pair_text[chosen].tolist(), pair_word[chosen].tolist(), strict=True):
        if len(out[t]) < k:
            out[t].append(words.distinct[w])
    return [tuple(o) for o in out]


def _pushes(model: NspModel) -> np.ndarray:
    """How much each n-gram pushes towards each area rather than the average one (cached)."""
    found = model.meta.get("_pushes")
    if found is None:
        coef = np.asarray(model.clf.coef_)
        found = model.meta["_pushes"] = coef - coef.mean(axis=0)
    pushes: np.ndarray = found
    return pushes


def score_batch(model: NspModel, items: Sequence[tuple[str, frozenset[str] | None]]) -> list[Scored]:
    """Ranked areas and, for every readable text, the words that decided its best area."""
    from services.classifier.model import EXPLAIN_CHARS, prepare

    out: list[Scored] = []
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        texts = [text for text, _ in chunk]
        matrix = vectorise(model, texts)
        words = Words.of(texts)
        shares = swedish_shares(model, words)
        scored = rank(model, model.probabilities(matrix), [allowed for _, allowed in chunk], shares)
        if any(len(prepare(t)) > EXPLAIN_CHARS for t in texts):  # explained by their beginning only
            words = Words.of([" ".join(_letter_words(t, EXPLAIN_CHARS)) for t in texts])
        reasons = explain(model, words, matrix, [s.best.code if s.readable else None for s in scored])
        for s, why in zip(scored, reasons, strict=True):
            out.append(
                dataclasses.replace(s, reasons=(FOREIGN, *why) if s.foreign else why) if s.readable else s
            )
    return out


def score_many(model: NspModel, texts: Sequence[str], allowed: frozenset[str] | None) -> list[Scored]:
    """Ranked areas without reasons."""
    shares = swedish_shares(model, Words.of(texts))
    return rank(model, model.probabilities(vectorise(model, texts)), [allowed] * len(texts), shares)
