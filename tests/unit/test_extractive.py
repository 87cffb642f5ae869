"""Extractive answers: sentence splitting and lexical scoring (the embedding scorer is tested with the
real model in tests/integration/test_llm_fallback.py)."""

from __future__ import annotations

from graphrag.extractive import LexicalScorer, extract, format_extract, split_sentences
from graphrag.prompts import number_passages
from graphrag.types import Passage


def test_split_sentences() -> None:
    text = "Paris is the capital of France. It has 2.1 million people! Is it very big? \"Yes,\" they say."
    assert split_sentences(text) == ["Paris is the capital of France.", "It has 2.1 million people!",
                                     "Is it very big?", "\"Yes,\" they say."]
    assert split_sentences("short") == ["short"]
    assert split_sentences("") == []


def test_lexical_scorer_prefers_rare_question_words() -> None:
    scores = LexicalScorer().score("Where was Marie Curie born?", [
        "Marie Curie was born in Warsaw.", "Marie Antoinette was a queen.", "Nothing relevant here at all."])
    assert scores[0] > scores[1] > scores[2] == 0.0


def test_extract_quotes_one_sentence_per_passage_with_its_number() -> None:
    passages = [
        Passage(chunk_id="a", document_id="d", title="Curie", score=0.9,
                text="Marie Curie was a physicist. Curie was born in Warsaw in 1867."),
        Passage(chunk_id="b", document_id="d", title="Warsaw", score=0.5,
                text="Warsaw is the capital of Poland. Marie Curie was born in Warsaw, then part of Russia."),
    ]
    ctx = number_passages(passages, 10_000)
    picked = extract("Where was Marie Curie born?", ctx, LexicalScorer(), max_sentences=2)
    assert [p.n for p in picked] == [2, 1] or [p.n for p in picked] == [1, 2]
    assert len({p.n for p in picked}) == 2
    text = format_extract(picked)
    for p in picked:
        assert f"{p.sentence} [{p.n}]" in text
        assert p.sentence in ctx.shown[p.n]


def _sample(*names: str) -> list[Passage]:
    """Passages of the packaged sample corpus (title from the file's heading), in the given order."""
    from api.server import SAMPLE_CORPUS

    out = []
    for name in names:
        heading, _, body = (SAMPLE_CORPUS / f"{name}.md").read_text(encoding="utf-8").partition("\n")
        out.append(Passage(chunk_id=f"{name}.md#0", document_id=f"{name}.md", title=heading.lstrip("# ").strip(),
                           text=" ".join(body.split()), score=1.0))
    return out


def test_the_demo_question_is_answered_through_its_bridge() -> None:
    """The console's and README's demo question: the answer names the city (Warsaw, the bridge the
    question does not name) and the river. Before, it quoted Marie Curie's first sentence and "The city
    stands on the Vistula River" without saying which city."""
    ctx = number_passages(_sample("marie-curie", "irene-joliot-curie", "pierre-curie", "warsaw", "vistula"), 10_000)
    picked = extract("Which river flows through the city where Marie Curie was born?", ctx, LexicalScorer())
    text = format_extract(picked)
    assert "born in Warsaw" in picked[0].sentence and picked[0].subject == "Marie Curie"
    assert "Vistula" in text and "Warsaw: The city stands on the Vistula River" in text, text


def test_a_sentence_that_names_its_passage_gets_no_subject() -> None:
    ctx = number_passages(_sample("warsaw"), 10_000)
    picked = extract("What is the capital of Poland?", ctx, LexicalScorer(), max_sentences=1)
    assert picked[0].sentence.startswith("Warsaw is the capital") and picked[0].subject == ""
    assert format_extract(picked).startswith("Warsaw is the capital")


def test_a_comparison_gets_a_sentence_about_each_side() -> None:
    """The second sentence is picked for what the first left open (the other name), not for matching
    the question again."""
    passages = [
        Passage(chunk_id="a", document_id="a", title="Sid Haig", score=0.9,
                text="Sid Haig (born July 14, 1939) was an American actor. Sid Haig appeared in many films."),
        Passage(chunk_id="b", document_id="b", title="Boxing", score=0.8,
                text="Sid Haig once watched a boxing match in Armenia with friends."),
        Passage(chunk_id="c", document_id="c", title="Vic Darchinyan", score=0.7,
                text="Vakhtang Darchinyan (born 7 January 1976) is an Armenian boxer."),
    ]
    picked = extract("Who is older, Sid Haig or Vic Darchinyan?", number_passages(passages, 10_000), LexicalScorer())
    assert [p.n for p in picked] == [1, 3], picked


def test_accented_words_match_their_plain_spelling() -> None:
    scores = LexicalScorer().score("Where was Irene born?", [
        "Irène Joliot-Curie was born in Paris.", "Marie Curie was born in Warsaw."])
    assert scores[0] > scores[1]
