"""Small PDFs made in the test itself (pypdf), among them a text bomb: a few KB on disk that expand to
as much page text as asked, the way a hostile upload would."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject


def write_pdf(path: Path, pages: int, words_per_page: int, word: str = "Zorvath glacier ") -> Path:
    """A PDF of `pages` pages, each showing `word` `words_per_page` times, its content streams
    compressed (repeated text compresses to almost nothing)."""
    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    line = f"({word}) Tj T* ".encode("latin-1")
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
        content = DecodedStreamObject()
        content.set_data(b"BT /F1 10 Tf 12 TL 72 720 Td " + line * words_per_page + b"ET")
        page[NameObject("/Contents")] = writer._add_object(content)
        page.compress_content_streams()
    with path.open("wb") as handle:
        writer.write(handle)
    return path
