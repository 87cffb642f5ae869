"""Loaders: every supported format, and every unusable input reported with its path and reason."""

from __future__ import annotations

import json
from pathlib import Path

from graphrag.types import SourceDocument
from ingestion.loaders import LoadBudget, LoadFailure, content_hash, html_to_text, load_file, load_paths
from tests.pdfs import write_pdf

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "musique_sample.jsonl"


def _docs(items: list) -> list[SourceDocument]:  # type: ignore[type-arg]
    return [i for i in items if isinstance(i, SourceDocument)]


def _failures(items: list) -> list[LoadFailure]:  # type: ignore[type-arg]
    return [i for i in items if isinstance(i, LoadFailure)]


def test_a_real_corpus_sample_loads_as_it_is() -> None:
    items = list(load_paths([SAMPLE]))
    docs = _docs(items)
    assert not _failures(items)
    assert len(docs) == 60
    assert docs[0].id == "m0" and docs[0].title == "Journal of Mathematical Physics"
    assert docs[0].text.startswith("The Journal of Mathematical Physics")


def test_text_markdown_html(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Plain text here.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# The Heading\n\nSome *markdown* text.", encoding="utf-8")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Page &amp; Title</title><style>p{}</style></head>"
        "<body><script>var x = 1;</script><h1>Head</h1><p>First &lt;para&gt;.</p><p>Second.</p></body></html>",
        encoding="utf-8")
    docs = {Path(d.id).name: d for d in _docs(list(load_paths([tmp_path])))}
    assert set(docs) == {"a.txt", "b.md", "c.html"}
    assert docs["a.txt"].id == str((tmp_path / "a.txt").resolve())
    assert docs["a.txt"].title == "a" and docs["a.txt"].text == "Plain text here."
    assert docs["b.md"].title == "The Heading"
    assert docs["b.md"].text == "Some *markdown* text."
    html = docs["c.html"]
    assert html.title == "Page & Title"
    assert "var x" not in html.text and "<" not in html.text.replace("<para>", "")
    assert "First <para>." in html.text and "Second." in html.text and "p{}" not in html.text


def test_html_to_text_keeps_paragraphs_apart() -> None:
    title, text = html_to_text("<p>One</p><p>Two</p>")
    assert title == "" and text == "One\n\nTwo"


def test_json_list_and_single_record(tmp_path: Path) -> None:
    (tmp_path / "many.json").write_text(json.dumps([{"id": "x1", "title": "X", "text": "x text"},
                                                    {"id": 2, "title": "Y", "text": "y text", "lang": "en"}]))
    (tmp_path / "one.json").write_text(json.dumps({"id": "z", "title": "Z", "text": "z text"}))
    docs = {d.id: d for d in _docs(list(load_paths([tmp_path])))}
    assert set(docs) == {"x1", "2", "z"}
    assert docs["2"].metadata == {"lang": "en"}


def test_malformed_jsonl_line_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "title": "A", "text": "alpha"}\n{"id": "b", "title": \n\n'
                    '{"id": "c", "title": "C", "text": ""}\n[1, 2]\n{"id": "d", "title": "D", "text": "delta"}\n')
    items = list(load_paths([path]))
    assert [d.id for d in _docs(items)] == ["a", "d"]
    failures = _failures(items)
    assert [f.path for f in failures] == [f"{path}:2", f"{path}:4", f"{path}:5"]
    assert "malformed JSON" in failures[0].reason and "text" in failures[1].reason


def test_unusable_inputs_are_reported(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("   \n\n")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf at all")
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    items = list(load_paths([tmp_path, tmp_path / "missing.txt"]))
    assert not _docs(items)
    reasons = {Path(f.path).name: f.reason for f in _failures(items)}
    assert reasons["empty.txt"] == "empty file"
    assert "empty document" in reasons["blank.txt"]
    assert "binary" in reasons["bin.txt"]
    assert "UTF-8" in reasons["latin.txt"]
    assert "unreadable PDF" in reasons["bad.pdf"]
    assert "malformed JSON" in reasons["bad.json"]
    assert "unsupported" in reasons["image.png"]
    assert "no such file" in reasons["missing.txt"]


def test_folders_are_recursive_hidden_skipped_and_globs_work(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "top.txt").write_text("top")
    (tmp_path / "sub" / "deeper" / "low.md").write_text("low")
    (tmp_path / ".hidden" / "secret.txt").write_text("secret")
    low = str((tmp_path / "sub" / "deeper" / "low.md").resolve())
    assert sorted(d.id for d in _docs(list(load_paths([tmp_path])))) == sorted([low, str(tmp_path / "top.txt")])
    globbed = _docs(list(load_paths([str(tmp_path / "**" / "*.md")])))
    assert [d.id for d in globbed] == [low]
    # the same file named directly is the same document
    assert [d.id for d in _docs(list(load_paths([tmp_path / "sub" / "deeper" / "low.md"])))] == [low]
    assert _failures(list(load_paths([str(tmp_path / "*.nothing")])))[0].reason == "the pattern matched no file"


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text (hand-built: the test needs no PDF writer)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    (tmp_path / "paper.pdf").write_bytes(_minimal_pdf("Marie Curie worked in Paris."))
    docs = _docs(list(load_paths([tmp_path / "paper.pdf"])))
    assert len(docs) == 1 and "Marie Curie worked in Paris." in docs[0].text
    assert docs[0].title == "paper" and docs[0].metadata["pages"] == 1


def test_content_hash_follows_title_and_text_only() -> None:
    a = SourceDocument(id="1", source="s", title="T", text="x")
    assert content_hash(a) == content_hash(a.model_copy(update={"source": "elsewhere", "metadata": {"k": 1}}))
    assert content_hash(a) != content_hash(a.model_copy(update={"text": "y"}))
    assert content_hash(a) != content_hash(a.model_copy(update={"title": "U"}))


def test_a_pdf_text_bomb_fails_at_the_character_cap_naming_it(tmp_path: Path) -> None:
    bomb = write_pdf(tmp_path / "bomb.pdf", pages=20, words_per_page=20_000)  # ~30 KB, 6.8 M characters
    assert bomb.stat().st_size < 100_000
    items = list(load_file(bomb, "bomb", LoadBudget(max_chars=100_000)))
    assert items == [LoadFailure(str(bomb), "over the ingest budget: more than 100,000 characters of text "
                                            "(GRAPHRAG_INGEST_MAX_CHARS)")]
    # within a larger budget the same file loads whole
    small = write_pdf(tmp_path / "small.pdf", pages=2, words_per_page=50)
    (doc,) = _docs(list(load_file(small, "small", LoadBudget(max_chars=100_000, max_pages=2))))
    assert doc.text.count("Zorvath") == 100 and doc.metadata["pages"] == 2


def test_pdf_pages_and_seconds_caps_name_their_settings(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "long.pdf", pages=6, words_per_page=10)
    (pages,) = list(load_file(pdf, "long", LoadBudget(max_pages=5)))
    assert isinstance(pages, LoadFailure) and "6 pages, more than 5 (GRAPHRAG_INGEST_MAX_PAGES)" in pages.reason
    (slow,) = list(load_file(pdf, "long", LoadBudget(max_seconds=1e-9)))  # no page is read that fast
    assert isinstance(slow, LoadFailure) and "(GRAPHRAG_INGEST_MAX_SECONDS)" in slow.reason


def test_text_over_the_character_cap_fails_and_the_rest_of_the_input_loads(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("word " * 1000, encoding="utf-8")  # 5,000 characters
    (tmp_path / "huge.md").write_text("x" * 50_000, encoding="utf-8")  # refused by its size, unread
    (tmp_path / "ok.txt").write_text("a small note", encoding="utf-8")
    (tmp_path / "records.jsonl").write_text(json.dumps({"id": "r1", "text": "y" * 2000}) + "\n"
                                            + json.dumps({"id": "r2", "text": "short"}) + "\n", encoding="utf-8")
    items = list(load_paths([tmp_path], budget=LoadBudget(max_chars=1000)))
    assert sorted(d.id for d in _docs(items)) == sorted([str((tmp_path / "ok.txt").resolve()), "r2"])
    failed = {Path(f.path.split(":")[0]).name: f.reason for f in _failures(items)}
    assert set(failed) == {"big.txt", "huge.md", "records.jsonl"}
    assert all("more than 1,000 characters of text (GRAPHRAG_INGEST_MAX_CHARS)" in r for r in failed.values())


def test_with_a_root_files_under_it_are_named_relative_to_it(tmp_path: Path) -> None:
    """`graphrag ingest` passes the current folder: ids and sources are `docs/a.md`, never the machine's
    folders, and the same file is one document whether named through its folder, a glob or directly."""
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "sub" / "a.md").write_text("# A\n\nalpha", encoding="utf-8")
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.md"
    outside.write_text("elsewhere", encoding="utf-8")
    try:
        for named in (tmp_path / "docs", tmp_path / "docs" / "sub" / "a.md", str(tmp_path / "docs" / "**" / "*.md")):
            [doc] = _docs(list(load_paths([named], root=tmp_path)))
            assert (doc.id, doc.source) == ("docs/sub/a.md", "docs/sub/a.md"), named
        [far] = _docs(list(load_paths([outside], root=tmp_path)))
        assert far.id == str(outside.resolve())  # outside the root: its absolute path, as without one
    finally:
        outside.unlink()
