"""The NSP model: character n-gram TF-IDF and a calibrated multinomial logistic regression.

Pure and synchronous (scikit-learn and numpy only). Character n-grams inside word boundaries
(``char_wb``) carry Swedish compounds and inflections: "studiehandledningen" shares most of its
n-grams with "studiehandledning", and a coefficient on an n-gram can be traced back to the word it
came from, which is how a decision is explained. Scores are temperature-scaled on held-out
predictions (calibration.py); the model also carries its review cut-off and prediction-set level.
Training lives in training.py; this module only scores, saves and loads.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from services.classifier.calibration import softmax
from services.classifier.examples import Example
from services.classifier.rules import Scored
from shared.events import AreaScore

ALGORITHM = "charlr-3"  # 3: real-style calibration and the 2020 prior (issue 22)
MODEL_FILE = "model.joblib"
MAX_CHARS = 4_000  # an insats is a few sentences; a 100 kB paste is read by its beginning
EXPLAIN_CHARS = 1_500
SWEDISH_MIN_SHARE = 0.3
WORD_CACHE_SIZE = 200_000  # words whose n-gram columns are remembered for explanations
LETTER_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
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


def fit_pipeline(
    texts: Sequence[str], labels: Sequence[str], weights: Sequence[float] | None = None
) -> tuple[TfidfVectorizer, LogisticRegression]:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float32)
    matrix = vectorizer.fit_transform([prepare(t) for t in texts])
    clf = LogisticRegression(C=20.0, max_iter=3000, class_weight="balanced", solver="newton-cg")
    clf.fit(matrix, list(labels), sample_weight=None if weights is None else np.asarray(weights))
    return vectorizer, clf


def decision_values(vectorizer: TfidfVectorizer, clf: LogisticRegression, texts: Sequence[str]) -> np.ndarray:
    return np.asarray(clf.decision_function(vectorizer.transform([prepare(t) for t in texts])))


@dataclass
class NspModel:
    version: str
    vectorizer: TfidfVectorizer
    clf: LogisticRegression
    temperature: float
    known_words: frozenset[str]
    meta: dict[str, Any] = field(default_factory=dict)
    cutoff: float = 0.0  # calibrated: a best score below it is flagged for review
    set_level: float = 1.0  # calibrated: areas scoring at least this form the prediction set

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.clf.classes_)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to a scoring worker) without the caches: they are rebuilt where they are used."""
        state = dict(self.__dict__)
        state["meta"] = {k: v for k, v in self.meta.items() if not k.startswith("_")}
        return state

    def save(self, directory: Path) -> None:
        """The fitted parts into ``directory`` (which exists); ``load_model`` reads them back."""
        state = {
            "algorithm": ALGORITHM,
            "version": self.version,
            "vectorizer": self.vectorizer,
            "clf": self.clf,
            "temperature": self.temperature,
            "cutoff": self.cutoff,
            "set_level": self.set_level,
            "known_words": sorted(self.known_words),
        }
        joblib.dump(state, directory / MODEL_FILE, compress=3)

    def vectorise(self, texts: Sequence[str]) -> Any:
        """The fitted vectoriser's TF-IDF rows, assembled from cached per-word n-gram counts.

        ``char_wb`` n-grams never cross whitespace, so a text's counts are the sum of its words'
        and texts share most of their words: this gives the vectoriser's own numbers (sublinear tf,
        idf, l2) at a fraction of its per-character Python loop, for a whole batch at once.
        """
        from services.classifier import batch_scoring

        return batch_scoring.vectorise(self, texts)

    def probabilities(self, matrix: Any) -> np.ndarray:
        # The linear part by hand: scikit-learn's per-call input validation costs more than the maths.
        logits = matrix @ np.asarray(self.clf.coef_).T + np.asarray(self.clf.intercept_)
        return softmax(np.asarray(logits) / self.temperature)

    def swedish_share(self, text: str) -> float | None:
        """The share of words that look Swedish; None when there are no words at all."""
        words = LETTER_WORD.findall(prepare(text).casefold())
        if not words:
            return None
        return sum(w in self.known_words or w in _SWEDISH for w in words) / len(words)

    def score_many(self, texts: Sequence[str], allowed: frozenset[str] | None = None) -> list[Scored]:
        """Ranked areas per text, without reasons (the fast path for bulk use)."""
        from services.classifier import batch_scoring

        return batch_scoring.score_many(self, texts, allowed) if texts else []

    def score(self, text: str, allowed: frozenset[str] | None = None) -> Scored:
        """Ranked areas and the words that decided the best one."""
        return self.score_batch([(text, allowed)])[0]

    def score_batch(self, items: Sequence[tuple[str, frozenset[str] | None]]) -> list[Scored]:
        """``score`` for many texts at once: array operations over the whole batch (batch_scoring.py)."""
        from services.classifier import batch_scoring

        return batch_scoring.score_batch(self, items) if items else []

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
        ranked = _ranked(labels, probs)
        uncertain = ranked[0].score < self.cutoff
        plausible = _plausible(ranked, self.set_level, uncertain)
        return Scored(ranked, (), readable=True, foreign=foreign, uncertain=uncertain, plausible=plausible)

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


def _plausible(ranked: Sequence[AreaScore], level: float, uncertain: bool) -> tuple[str, ...]:
    """The conformal set (areas at or above ``level``); for a flagged text, so the analyst has a
    choice, the best areas until they hold 90 % of the score, two at least and three at most."""
    found = [a.code for a in ranked if a.score >= level] or [ranked[0].code]
    if not uncertain:
        return tuple(found)
    chosen, total = [], 0.0
    for area in ranked[:3]:
        chosen.append(area.code)
        total += area.score
        if len(chosen) >= 2 and total >= 0.9:
            break
    return tuple(dict.fromkeys([*found, *chosen]))[:3]


def _ranked(labels: Sequence[str], probs: np.ndarray) -> tuple[AreaScore, ...]:
    pairs = sorted(zip(labels, probs.tolist(), strict=True), key=lambda p: (-p[1], p[0]))
    return tuple(AreaScore(code=code, score=round(float(p), 4)) for code, p in pairs)


def load_model(directory: Path, meta: dict[str, Any] | None = None) -> NspModel:
    """A model saved by ``NspModel.save`` (a version from before calibration gets no review cut-off)."""
    state = joblib.load(directory / MODEL_FILE)
    return NspModel(
        version=state["version"],
        vectorizer=state["vectorizer"],
        clf=state["clf"],
        temperature=float(state["temperature"]),
        known_words=frozenset(state["known_words"]),
        meta={k: v for k, v in (meta or {}).items() if not k.startswith("_")},
        cutoff=float(state.get("cutoff", 0.0)),
        set_level=float(state.get("set_level", 1.0)),
    )
