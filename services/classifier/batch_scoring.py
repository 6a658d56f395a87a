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
    """The fitted vectoriser's TF-IDF rows (sublinear tf, idf, l2) for every text, as one matrix."""
    from services.classifier.model import prepare

    grams = _grams(model)
    columns: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        n = 0
        for token in prepare(text).lower().split():
            c, k = grams(token)
            columns.append(c)
            counts.append(k)
            n += len(c)
        lengths[i] = n
    width = len(model.vectorizer.vocabulary_)
    shape = (len(texts), width)
    if not lengths.sum():
        return csr_matrix(shape, dtype=np.float32)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    keys, inverse = np.unique(rows * width + np.concatenate(columns), return_inverse=True)
    tf = np.bincount(inverse, weights=np.concatenate(counts))
    row_of, column_of = np.divmod(keys, width)
    values = (np.log(tf) + 1.0) * np.asarray(model.vectorizer.idf_, dtype=np.float64)[column_of]
    norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
    values /= norms[row_of]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=len(texts)))))
    return csr_matrix((values.astype(np.float32), column_of, indptr), shape=shape)


def _allowed_mask(labels: tuple[str, ...], alloweds: Sequence[frozenset[str] | None]) -> np.ndarray:
    """One row per text: which of the model's labels its year allows."""
    masks: dict[frozenset[str] | None, np.ndarray] = {}
    for allowed in alloweds:
        if allowed not in masks:
            masks[allowed] = np.array([allowed is None or code in allowed for code in labels], dtype=bool)
    return np.stack([masks[a] for a in alloweds]) if alloweds else np.zeros((0, len(labels)), dtype=bool)


def _area(code: str, score: float) -> AreaScore:
    found = _AREA_SCORES.get((code, score))
    if found is None:
        found = _AREA_SCORES[(code, score)] = AreaScore(code=code, score=score)
    return found


def rank(
    model: NspModel, texts: Sequence[str], probs: np.ndarray, alloweds: Sequence[frozenset[str] | None]
) -> list[Scored]:
    """Each text's areas best first, restricted to what its year allows, without reasons."""
    from services.classifier.model import SWEDISH_MIN_SHARE, _plausible

    labels = model.labels
    keep = _allowed_mask(labels, alloweds)
    uniform = keep / np.maximum(1, keep.sum(axis=1, keepdims=True))
    shares = [model.swedish_share(t) for t in texts]
    readable = np.array([s is not None for s in shares], dtype=bool)
    foreign = np.array([s is not None and s < SWEDISH_MIN_SHARE for s in shares], dtype=bool)
    kept = np.where(keep, probs, 0.0)
    total = kept.sum(axis=1, keepdims=True)
    kept = np.where(total > 0, kept / np.where(total > 0, total, 1.0), uniform)
    kept = np.where(foreign[:, None], 0.5 * kept + 0.5 * uniform, kept)
    kept = np.where(readable[:, None], kept, uniform)
    # best first, ties by code (labels are sorted), as sorting (-score, code) one text at a time does
    order = np.lexsort((np.broadcast_to(np.argsort(np.argsort(labels)), kept.shape), -kept), axis=-1)
    ranked_values = np.take_along_axis(kept, order, axis=1).tolist()
    out = []
    for i, (columns, values) in enumerate(zip(order.tolist(), ranked_values, strict=True)):
        ranked = tuple(_area(labels[c], round(v, 4)) for c, v in zip(columns, values, strict=True))
        if not readable[i]:
            out.append(Scored(ranked, UNREADABLE, readable=False))
            continue
        uncertain = ranked[0].score < model.cutoff
        plausible = _plausible(ranked, model.set_level, uncertain)
        out.append(Scored(ranked, (), True, bool(foreign[i]), uncertain, plausible))
    return out


def explain(
    model: NspModel, texts: Sequence[str], matrix: csr_matrix, codes: Sequence[str | None], k: int = 5
) -> list[tuple[str, ...]]:
    """Per text, the words whose n-grams pushed it towards its code most (``model._explain`` for
    every text at once: one lookup of all the words' n-grams in the batch's matrix)."""
    from services.classifier.model import EXPLAIN_CHARS, LETTER_WORD, prepare

    labels = model.labels
    grams = _grams(model)
    width = matrix.shape[1]
    texts_words: list[list[str]] = []
    columns: list[np.ndarray] = []
    word_lengths: list[int] = []
    text_of_word: list[int] = []
    classes: list[int] = []
    for i, (text, code) in enumerate(zip(texts, codes, strict=True)):
        words = list(dict.fromkeys(LETTER_WORD.findall(prepare(text)[:EXPLAIN_CHARS].casefold())))
        if code not in labels:
            words = []
        texts_words.append(words)
        for word in words:
            c = grams(word)[0]
            columns.append(c)
            word_lengths.append(len(c))
            text_of_word.append(i)
        classes.append(labels.index(code) if code in labels else 0)
    if not sum(word_lengths):
        return [() for _ in texts]
    owner = np.repeat(np.arange(len(word_lengths)), word_lengths)
    gram_text = np.asarray(text_of_word, dtype=np.int64)[owner]
    gram_column = np.concatenate(columns)
    # the text's TF-IDF value of each gram (0 where the text has none), by a search in the sorted keys
    matrix.sort_indices()
    stored = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * width
    stored += matrix.indices
    wanted = gram_text * width + gram_column
    at = np.minimum(np.searchsorted(stored, wanted), max(len(stored) - 1, 0))
    present = stored[at] == wanted if len(stored) else np.zeros(len(wanted), dtype=bool)
    values = np.where(present, matrix.data[at] if len(stored) else 0.0, 0.0)
    pushes = _pushes(model)
    pushed = values * pushes[np.asarray(classes, dtype=np.int64)[gram_text], gram_column]
    totals = np.bincount(owner, weights=pushed, minlength=len(word_lengths)).tolist()
    out: list[tuple[str, ...]] = []
    start = 0
    for words in texts_words:
        mine = totals[start : start + len(words)]
        start += len(words)
        best = sorted((j for j, v in enumerate(mine) if v > 0), key=lambda j: (-mine[j], words[j]))
        out.append(tuple(words[j] for j in best[:k]))
    return out


def _pushes(model: NspModel) -> np.ndarray:
    """How much each n-gram pushes towards each area rather than the average one (cached)."""
    found = model.meta.get("_pushes")
    if found is None:
        coef = np.asarray(model.clf.coef_, dtype=np.float64)
        found = model.meta["_pushes"] = coef - coef.mean(axis=0)
    pushes: np.ndarray = found
    return pushes


def score_batch(model: NspModel, items: Sequence[tuple[str, frozenset[str] | None]]) -> list[Scored]:
    """Ranked areas and, for every readable text, the words that decided its best area."""
    texts = [text for text, _ in items]
    matrix = vectorise(model, texts)
    scored = rank(model, texts, model.probabilities(matrix), [allowed for _, allowed in items])
    codes = [s.best.code if s.readable else None for s in scored]
    reasons = explain(model, texts, matrix, codes)
    out = []
    for s, why in zip(scored, reasons, strict=True):
        if s.readable:
            s = dataclasses.replace(s, reasons=(FOREIGN, *why) if s.foreign else why)
        out.append(s)
    return out


def score_many(model: NspModel, texts: Sequence[str], allowed: frozenset[str] | None) -> list[Scored]:
    """Ranked areas without reasons."""
    return rank(model, texts, model.probabilities(vectorise(model, texts)), [allowed] * len(texts))
