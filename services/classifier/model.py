"""The NSP model: character n-gram TF-IDF and a calibrated multinomial logistic regression.

Pure and synchronous (scikit-learn and numpy only). Character n-grams inside word boundaries
(``char_wb``) carry Swedish compounds and inflections: "studiehandledningen" shares most of its
n-grams with "studiehandledning", and a coefficient on an n-gram can be traced back to the word it
came from, which is how a decision is explained. Scores are temperature-scaled on out-of-fold
predictions so that 0.8 means about 80 % right on the corpus.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from services.classifier.examples import Example
from services.classifier.rules import Scored
from shared.events import AreaScore

ALGORITHM = "charlr-1"
MAX_CHARS = 4_000  # an insats is a few sentences; a 100 kB paste is read by its beginning
EXPLAIN_CHARS = 1_500
SWEDISH_MIN_SHARE = 0.3
WORD_CACHE_SIZE = 200_000  # words whose n-gram columns are remembered for explanations
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
# Common Swedish words, so a short Swedish text about something new is not mistaken for a foreign one.
_SWEDISH = frozenset(
    "och i att det som en ett på är av för med till den de har inte om men var sig från vi så kan "
    "man när år under också efter eller nu sin sina där vid mot ska skulle kommer ut får fått blir "
    "blev bli alla mer här samt hur vad vilka vilket denna detta dessa deras vår våra oss hos genom "
    "mellan inom även utan bara både över arbete arbetet arbetar gjort göra gör tagit tillsammans "
    "elever eleverna elev eleven lärare lärarna skola skolan skolor skolorna barn barnen personal "
    "personalen ökad ökat bättre fler nya ny nytt stöd utveckling utvecklat insats insatsen".split()
)


def prepare(text: str) -> str:
    return unicodedata.normalize("NFC", text[: MAX_CHARS * 2])[:MAX_CHARS]


def fingerprint(examples: Iterable[Example]) -> str:
    digest = hashlib.sha256(ALGORITHM.encode())
    for ex in examples:
        digest.update(f"\x00{ex.label}\x01{ex.text}".encode())
    return digest.hexdigest()[:10]


def fit_pipeline(texts: Sequence[str], labels: Sequence[str]) -> tuple[TfidfVectorizer, LogisticRegression]:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float32)
    matrix = vectorizer.fit_transform([prepare(t) for t in texts])
    clf = LogisticRegression(C=20.0, max_iter=3000, class_weight="balanced", solver="newton-cg")
    clf.fit(matrix, list(labels))
    return vectorizer, clf


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The softmax temperature that minimises the log loss of out-of-fold predictions."""

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(truth)), truth].mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return float(result.x)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


@dataclass
class NspModel:
    version: str
    vectorizer: TfidfVectorizer
    clf: LogisticRegression
    temperature: float
    known_words: frozenset[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.clf.classes_)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to a scoring worker) without the caches: they are rebuilt where they are used."""
        state = dict(self.__dict__)
        state["meta"] = {k: v for k, v in self.meta.items() if not k.startswith("_")}
        return state

    def vectorise(self, texts: Sequence[str]) -> Any:
        """The fitted vectoriser's TF-IDF rows, assembled from cached per-word n-gram counts.

        ``char_wb`` n-grams never cross whitespace, so a text's counts are the sum of its words'
        and texts share most of their words: this gives the vectoriser's own numbers (sublinear tf,
        idf, l2) at a fraction of its per-character Python loop.
        """
        vectorizer = self.vectorizer
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        indptr = [0]
        for text in texts:
            parts = [self._token_grams(token) for token in prepare(text).lower().split()]
            parts = [p for p in parts if len(p[0])]
            if parts:
                columns, inverse = np.unique(np.concatenate([c for c, _ in parts]), return_inverse=True)
                tf = np.bincount(inverse, weights=np.concatenate([n for _, n in parts]))
                values = (np.log(tf) + 1.0) * idf[columns]
                values /= np.sqrt(values @ values)
                indices.append(columns)
                data.append(values)
            indptr.append(indptr[-1] + (len(indices[-1]) if parts else 0))
        shape = (len(texts), len(vectorizer.vocabulary_))
        if not indices:
            return csr_matrix(shape, dtype=np.float32)
        return csr_matrix(
            (np.concatenate(data).astype(np.float32), np.concatenate(indices), np.array(indptr)), shape=shape
        )

    def probabilities(self, matrix: Any) -> np.ndarray:
        # The linear part by hand: scikit-learn's per-call input validation costs more than the maths.
        logits = matrix @ np.asarray(self.clf.coef_).T + np.asarray(self.clf.intercept_)
        return softmax(np.asarray(logits) / self.temperature)

    def swedish_share(self, text: str) -> float | None:
        """The share of words that look Swedish; None when there are no words at all."""
        words = _LETTER_WORD.findall(prepare(text).casefold())
        if not words:
            return None
        return sum(w in self.known_words or w in _SWEDISH for w in words) / len(words)

    def score_many(self, texts: Sequence[str], allowed: frozenset[str] | None = None) -> list[Scored]:
        """Ranked areas per text, without reasons (the fast path for bulk use)."""
        if not texts:
            return []
        probs = self.probabilities(self.vectorise(texts))
        return [self._rank(text, row, allowed) for text, row in zip(texts, probs, strict=True)]

    def score(self, text: str, allowed: frozenset[str] | None = None) -> Scored:
        """Ranked areas and the words that decided the best one."""
        return self.score_batch([(text, allowed)])[0]

    def score_batch(self, items: Sequence[tuple[str, frozenset[str] | None]]) -> list[Scored]:
        """``score`` for many texts at once: one vectorisation and one matrix product for all."""
        if not items:
            return []
        matrix = self.vectorise([text for text, _ in items]).tocsr()
        probs = self.probabilities(matrix)
        out = []
        for i, (text, allowed) in enumerate(items):
            scored = self._rank(text, probs[i], allowed)
            if scored.readable:
                row = slice(matrix.indptr[i], matrix.indptr[i + 1])
                reasons = self._explain(text, (matrix.indices[row], matrix.data[row]), scored.best.code)
                if scored.foreign:
                    reasons = ("texten ser inte ut att vara svenska / text does not look Swedish", *reasons)
                scored = Scored(scored.areas, reasons, scored.readable, scored.foreign)
            out.append(scored)
        return out

    def _rank(self, text: str, row: np.ndarray, allowed: frozenset[str] | None) -> Scored:
        labels = self.labels
        keep = np.array([allowed is None or code in allowed for code in labels], dtype=bool)
        share = self.swedish_share(text)
        if share is None:  # empty, blank, emoji, digits: nothing to read, so no area is preferred
            probs = keep / max(1, keep.sum())
            reason = ("ingen läsbar text / no readable text",)
            return Scored(_ranked(labels, probs), reason, readable=False)
        probs = np.where(keep, row, 0.0)
        probs = probs / probs.sum() if probs.sum() > 0 else keep / max(1, keep.sum())
        foreign = share < SWEDISH_MIN_SHARE
        if foreign:  # the model has only seen Swedish: halve its say
            probs = 0.5 * probs + 0.5 * keep / max(1, keep.sum())
        return Scored(_ranked(labels, probs), (), readable=True, foreign=foreign)

    def explain(self, text: str, code: str, k: int = 5) -> tuple[str, ...]:
        """The words whose n-grams pushed the text towards ``code`` most, strongest first."""
        matrix = self.vectorise([text])
        return self._explain(text, (matrix.indices, matrix.data), code, k)

    def _explain(
        self, text: str, row: tuple[np.ndarray, np.ndarray], code: str, k: int = 5
    ) -> tuple[str, ...]:
        """``row``: the text's TF-IDF columns and values. A word's push sums its distinct n-grams'."""
        if code not in self.labels:
            return ()
        words = list(dict.fromkeys(_LETTER_WORD.findall(prepare(text)[:EXPLAIN_CHARS].casefold())))
        grams = [self._token_grams(word)[0] for word in words]
        if not words or not sum(len(g) for g in grams):
            return ()
        columns, values = row
        pushed = np.zeros(len(self.vectorizer.vocabulary_))
        pushed[columns] = values * self._weights(code)[columns]
        owner = np.repeat(np.arange(len(words)), [len(g) for g in grams])
        totals = np.bincount(owner, weights=pushed[np.concatenate(grams)], minlength=len(words)).tolist()
        best = sorted((i for i, v in enumerate(totals) if v > 0), key=lambda i: (-totals[i], words[i]))
        return tuple(words[i] for i in best[:k])

    def _weights(self, code: str) -> np.ndarray:
        """How much each n-gram pushes towards ``code`` rather than the average area (cached)."""
        cache: dict[str, np.ndarray] = self.meta.setdefault("_weights", {})
        if code not in cache:
            coef = np.asarray(self.clf.coef_)
            cache[code] = coef[self.labels.index(code)] - coef.mean(axis=0)
        return cache[code]

    def _token_grams(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """A whitespace-free token's vocabulary columns and the count of each (cached)."""
        cache: dict[str, tuple[np.ndarray, np.ndarray]] = self.meta.setdefault("_token_grams", {})
        found = cache.get(token)
        if found is None:
            if len(cache) >= WORD_CACHE_SIZE:
                cache.clear()
            vocabulary: dict[str, int] = self.vectorizer.vocabulary_
            counts = Counter(vocabulary.get(gram, -1) for gram in self._analyser()(token))
            counts.pop(-1, None)
            columns = np.array(sorted(counts), dtype=np.int64)
            found = cache[token] = (columns, np.array([counts[c] for c in columns], dtype=np.float64))
        return found

    def _analyser(self) -> Callable[[str], list[str]]:
        cached = self.meta.get("_analyser")
        if cached is None:
            cached = self.vectorizer.build_analyzer()
            self.meta["_analyser"] = cached
        analyse: Callable[[str], list[str]] = cached
        return analyse


def _ranked(labels: Sequence[str], probs: np.ndarray) -> tuple[AreaScore, ...]:
    pairs = sorted(zip(labels, probs.tolist(), strict=True), key=lambda p: (-p[1], p[0]))
    return tuple(AreaScore(code=code, score=round(float(p), 4)) for code, p in pairs)


def oof_logits(texts: Sequence[str], labels: Sequence[str], extra: Sequence[Example], folds: int = 5) -> Any:
    """Out-of-fold decision values over ``texts``; ``extra`` examples join every training fold."""
    y = np.array(labels)
    out = np.zeros((len(texts), len(set(labels) | {e.label for e in extra})))
    classes: list[str] = sorted(set(labels) | {e.label for e in extra})
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train, test in splitter.split(np.zeros(len(y)), y):
        vec, clf = fit_pipeline(
            [texts[i] for i in train] + [e.text for e in extra],
            [labels[i] for i in train] + [e.label for e in extra],
        )
        scores = np.asarray(clf.decision_function(vec.transform([prepare(texts[i]) for i in test])))
        cols = [classes.index(str(c)) for c in clf.classes_]
        out[np.ix_(test, cols)] = scores
    return out, classes


def train(examples: Sequence[Example], extra: Sequence[Example] = ()) -> NspModel:
    """Fit on ``examples`` (calibrated on their out-of-fold predictions) plus ``extra`` ones."""
    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    logits, classes = oof_logits(texts, labels, extra)
    truth = np.array([classes.index(label) for label in labels])
    temperature = fit_temperature(logits, truth)
    vectorizer, clf = fit_pipeline(texts + [e.text for e in extra], labels + [e.label for e in extra])
    known = frozenset(w for t in texts for w in _LETTER_WORD.findall(t.casefold()))
    version = f"{ALGORITHM}-{fingerprint([*examples, *extra])}"
    meta: dict[str, Any] = {"examples": len(examples), "extra": len(extra), "temperature": temperature}
    return NspModel(version, vectorizer, clf, temperature, known, meta)
