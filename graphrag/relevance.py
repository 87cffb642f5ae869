"""Whether anything retrieved fits the question at all: the abstention signal.

Retrieval always returns its best passages, even when the corpus holds nothing about the question;
an answer quoted from them is then confident, cited and unrelated. `judge` scores how well the
closest passages fit, from what retrieval already computed and the passages' own words, and says
`answerable=False` below a threshold, so the faces can say "nothing in the documents answers this"
and still list the closest passages.

The score adds four parts, each read over the first `WINDOW` passages (the ones an answer is built
from), none needing a model:

- `similarity`: the best dense cosine of those passages to the question (`Passage.similarity`,
  which the vector index measured; the ranking's own scores are not comparable across questions);
- a quarter of `names`: the share of the question's names (capitalised words or numbers after its
  first word) that the passages contain;
- a quarter of `words`: the share of the question's content words that the passages contain;
- a quarter of `titled`: 1 when the question names one of the passages' titles, else 0.

A question from another corpus can land on a passage about something near it (a cosine of 0.45 is
common), but its names and words are then missing from the passages, and no title is named; the
three lexical parts separate what the cosine alone cannot. The weights and the default threshold
were calibrated on the two dev sets, each set's questions asked of the other set's corpus
(benchmarks/abstention.py; docs/answering.md has the numbers).

Pure logic: no I/O, no models.
"""

from __future__ import annotations

from graphrag.normalize import strip_title_qualifier
from graphrag.types import Passage, Relevance
from graphrag.words import content_words, name_words, words

WINDOW = 5  # passages judged: the API's default top_k, and the extractive answer's reach
LEXICAL_WEIGHT = 0.25  # of each of names, words and titled
DEFAULT_THRESHOLD = 0.78  # calibrated by benchmarks/abstention.py; GRAPHRAG_ANSWER_MIN_RELEVANCE overrides it


def _phrase(text: str) -> str:
    return f" {' '.join(words(text))} "


def judge(question: str, passages: list[Passage], threshold: float = DEFAULT_THRESHOLD, *,
          floor: float | None = None) -> Relevance:
    """How well the first `WINDOW` passages fit `question`, and whether that is enough to answer.

    Args:
        floor: the similarity of the farthest chunk the vector index returned for this question,
            when it answered in full: a passage it did not return is no nearer than that (the graph
            ranked it up from farther away). None: a passage without a similarity is unmeasured.

    No passage at all is unanswerable. When no passage has a similarity and there is no `floor`
    (the vector index did not answer, or a keyword-only ranking), the fit is unknown and counts as
    answerable, since abstaining on a missing measurement would hide answers.

    Example:
        >>> p = Passage(chunk_id="w#0", document_id="w", title="Warsaw", score=1.0, similarity=0.62,
        ...             text="Warsaw is the capital of Poland. The city stands on the Vistula River.")
        >>> judge("Which river flows through Warsaw?", [p]).answerable
        True
    """
    shown = passages[:WINDOW]
    if not shown:
        return Relevance(score=0.0, threshold=threshold, answerable=False)
    similarities = [p.similarity if p.similarity is not None else floor for p in shown]
    similarities = [s for s in similarities if s is not None]
    if not similarities:
        return Relevance(score=None, threshold=threshold, answerable=True)
    found = set(words(" ".join(f"{p.title} {p.text}" for p in shown)))
    names = name_words(question)
    asked = list(dict.fromkeys(content_words(question)))
    word_share = sum(w in found for w in asked) / len(asked) if asked else 0.0
    # a question without names is judged on its words twice, rather than given the names' quarter free
    name_share = sum(w in found for w in names) / len(names) if names else word_share
    phrase = _phrase(question)
    titles = (_phrase(strip_title_qualifier(p.title)) for p in shown if p.title)
    titled = any(t.strip() and t in phrase for t in titles)
    similarity = max(similarities)
    score = similarity + LEXICAL_WEIGHT * (name_share + word_share + float(titled))
    return Relevance(score=round(score, 4), threshold=threshold, answerable=score >= threshold,
                     similarity=round(similarity, 4), names=round(name_share, 4), words=round(word_share, 4),
                     titled=titled)
