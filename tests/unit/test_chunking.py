"""Chunking: whole sentences, offsets that slice the source exactly, the word-piece limit kept."""

from __future__ import annotations

from ingestion.chunking import SentenceChunker, approx_token_counter, split_sentences


def _words(texts):  # type: ignore[no-untyped-def]
    """A predictable counter: one word piece per word, plus the two special tokens."""
    return [len(t.split()) + 2 for t in texts]


def test_sentences_split_at_ends_not_at_abbreviations() -> None:
    text = "Dr. Smith met J. R. R. Tolkien in the U.S. in 1950. They talked!  Then left? Yes.\n\nNew para"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Dr. Smith met J. R. R. Tolkien in the U.S. in 1950.", "They talked!", "Then left?", "Yes.", "New para"]


def test_offsets_slice_the_source_and_ordinals_count_up() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    chunks = SentenceChunker(_words, max_tokens=40).chunk(text)
    assert len(chunks) > 5
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.start_char:chunk.end_char] == chunk.text
        assert chunk.text.endswith("here.")  # whole sentences only
        for s, e in chunk.sentences:
            assert chunk.text[s:e].startswith("Sentence")
    assert chunks[0].start_char == 0 and chunks[-1].end_char == len(text)


def test_limit_counts_the_title_and_long_sentences_are_cut_at_words() -> None:
    title = "A Title Of Five"
    text = "short one. " + " ".join(["word"] * 300) + ". Final sentence here."
    chunker = SentenceChunker(_words, max_tokens=50)
    chunks = chunker.chunk(text, title)
    for chunk in chunks:
        assert _words([f"{title}\n{chunk.text}"])[0] <= 50
        assert text[chunk.start_char:chunk.end_char] == chunk.text
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")


def test_target_closes_chunks_early_but_never_over_the_limit() -> None:
    text = " ".join(["This sentence has exactly seven words."] * 40)
    chunks = SentenceChunker(_words, max_tokens=100, target_tokens=30).chunk(text)
    sizes = [_words([c.text])[0] for c in chunks]
    assert max(sizes) <= 100 and all(s >= 30 for s in sizes[:-1])


def test_empty_text_has_no_chunks_and_approx_counter_is_sane() -> None:
    assert SentenceChunker().chunk("   \n ") == []
    assert approx_token_counter(["one two three"]) == [6]
