"""Loaders: files, folders and globs -> `SourceDocument`s, with every unusable input reported, not fatal.

Supported: .txt, .md/.markdown, .html/.htm (text without markup, <title> kept), .pdf (pypdf),
.json (one record or a list of records) and .jsonl (one record a line) with `id`, `title`, `text`.
A folder is read recursively (hidden files and folders skipped); a path with `*`, `?` or `[` is a glob.

Budgets (`LoadBudget`): a document may have at most so many PDF pages and characters of text, and
its extraction may take at most so many seconds; one over a cap is a `LoadFailure` whose reason names
the cap, and the rest of the input loads. A small compressed PDF can expand to gigabytes of page
text, so a PDF is checked page by page while it is read, and a text file by its size before it is.

Document identity: a record's own `id` for JSON input; for other files their absolute path
(however they were named: folder, glob or file), so the same file ingested again is recognised
as the same document.
"""

from __future__ import annotations

import glob
import hashlib
import html
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar, Protocol

from graphrag.types import SourceDocument

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".json", ".jsonl", ".ndjson"}


@dataclass(frozen=True)
class LoadFailure:
    """An input that was skipped: where (path, and line for JSON Lines) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


LoadItem = SourceDocument | LoadFailure


@dataclass(frozen=True)
class LoadBudget:
    """What one document may cost to read (None: no cap). Each cap's reason names its setting.

    Example:
        >>> LoadBudget(max_chars=10).over_chars(11)
        'over the ingest budget: more than 10 characters of text (GRAPHRAG_INGEST_MAX_CHARS)'
    """

    max_pages: int | None = None
    max_chars: int | None = None
    max_seconds: float | None = None

    def over_pages(self, pages: int) -> str | None:
        if self.max_pages is not None and pages > self.max_pages:
            return (f"over the ingest budget: {pages:,} pages, more than {self.max_pages:,} "
                    "(GRAPHRAG_INGEST_MAX_PAGES)")
        return None

    def over_chars(self, chars: int) -> str | None:
        if self.max_chars is not None and chars > self.max_chars:
            return (f"over the ingest budget: more than {self.max_chars:,} characters of text "
                    "(GRAPHRAG_INGEST_MAX_CHARS)")
        return None

    def over_seconds(self, started: float) -> str | None:
        if self.max_seconds is not None and time.monotonic() - started > self.max_seconds:
            return (f"over the ingest budget: reading its text took more than {self.max_seconds:g} s "
                    "(GRAPHRAG_INGEST_MAX_SECONDS)")
        return None


NO_BUDGET = LoadBudget()


class Loader(Protocol):
    """Reads one file into documents (or failures) within `budget`; never raises for bad content."""

    def load(self, path: Path, doc_id: str, budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]: ...


def content_hash(doc: SourceDocument) -> str:
    """The identity of a document's content: title and text (metadata does not change the graph)."""
    digest = hashlib.sha256()
    digest.update(doc.title.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(doc.text.encode("utf-8"))
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError("binary content (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8 text") from None


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def _first_heading(text: str) -> str:
    for line in text.splitlines()[:50]:
        match = _HEADING.match(line)
        if match:
            return match.group(1).strip()
    return ""


def _markdown_body(text: str, title: str) -> str:
    """The text without heading markers, and without the heading that became the title.

    The title is embedded with every chunk already; keeping "# Title" in the body put the markup
    (and the title twice) into the first chunk and into extractive answers quoting it.
    """
    lines, title_dropped = [], False
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match and not title_dropped and match.group(1).strip() == title:
            title_dropped = True
            continue
        lines.append(match.group(1).strip() if match else line)
    return "\n".join(lines).strip()


class TextLoader:
    """Plain text and Markdown; a Markdown file's first heading becomes the title (else the file name)."""

    def load(self, path: Path, doc_id: str, budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]:
        try:
            text = _read_text(path)
        except (OSError, ValueError) as exc:
            yield LoadFailure(str(path), str(exc))
            return
        title = ""
        if path.suffix.lower() in {".md", ".markdown"}:
            title = _first_heading(text)
            text = _markdown_body(text, title) if title else text
        yield from _one(path, doc_id, title or path.stem, text, {"format": path.suffix.lower().lstrip(".")})


class _HTMLText(HTMLParser):
    _SKIP: ClassVar[set[str]] = {"script", "style", "noscript", "template", "svg", "head"}
    _BLOCK: ClassVar[set[str]] = {
        "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header",
        "footer", "blockquote", "pre", "table", "ul", "ol", "dd", "dt", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        if tag in self._BLOCK:
            self.parts.append("\n\n" if tag not in {"br", "li", "tr"} else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP and self._skip:
            self._skip -= 1
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> tuple[str, str]:
    """(title, text) of an HTML page: scripts, styles and tags dropped, paragraphs kept apart."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    title = re.sub(r"\s+", " ", "".join(parser.title_parts)).strip()
    return title, text


class HTMLLoader:
    def load(self, path: Path, doc_id: str, budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]:
        try:
            title, text = html_to_text(_read_text(path))
        except (OSError, ValueError) as exc:
            yield LoadFailure(str(path), str(exc))
            return
        yield from _one(path, doc_id, title or path.stem, text, {"format": "html"})


class PDFLoader:
    """Text of every page (pypdf); the PDF's metadata title when it has one, else the file name.

    The budget is checked before the pages are read (their number) and after each page (the text so
    far, the time so far): a text bomb stops at the page that crosses a cap, not at the end."""

    def load(self, path: Path, doc_id: str, budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]:
        started = time.monotonic()
        try:
            from pypdf import PdfReader

            reader = PdfReader(str(path))
            if (over := budget.over_pages(len(reader.pages))) is not None:
                yield LoadFailure(str(path), over)
                return
            pages: list[str] = []
            chars = 0
            for page in reader.pages:
                pages.append(page.extract_text() or "")
                chars += len(pages[-1])
                if (over := budget.over_chars(chars) or budget.over_seconds(started)) is not None:
                    yield LoadFailure(str(path), over)
                    return
            meta_title = (reader.metadata.title if reader.metadata else None) or ""
        except Exception as exc:  # pypdf raises many kinds for a broken file; all mean "skip it"
            yield LoadFailure(str(path), f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})")
            return
        text = "\n\n".join(p.strip() for p in pages if p.strip())
        yield from _one(path, doc_id, str(meta_title).strip() or path.stem, text,
                        {"format": "pdf", "pages": len(pages)})


def _record(obj: object, where: str, fallback_id: str) -> LoadItem:
    if not isinstance(obj, dict):
        return LoadFailure(where, f"expected an object with id, title, text; got {type(obj).__name__}")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        return LoadFailure(where, "record has no non-empty 'text'")
    raw_id = obj.get("id", fallback_id)
    if not isinstance(raw_id, str | int) or str(raw_id).strip() == "":
        return LoadFailure(where, "record has no usable 'id'")
    title = obj.get("title") or ""
    if not isinstance(title, str):
        return LoadFailure(where, "'title' is not a string")
    metadata = {k: v for k, v in obj.items() if k not in {"id", "title", "text"}}
    return SourceDocument(id=str(raw_id).strip(), source=where, title=title.strip(), text=text,
                          metadata=metadata)


class JSONLinesLoader:
    """One record a line; a malformed line is reported with its line number and the rest still loads."""

    def load(self, path: Path, doc_id: str, budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]:
        try:
            handle = path.open("r", encoding="utf-8-sig")
        except OSError as exc:
            yield LoadFailure(str(path), str(exc))
            return
        any_line = False
        with handle:
            try:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    any_line = True
                    where = f"{path}:{number}"
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield LoadFailure(where, f"malformed JSON ({exc.msg} at column {exc.colno})")
                        continue
                    yield _record(obj, where, f"{doc_id}:{number}")
            except UnicodeDecodeError:
                yield LoadFailure(str(path), "not valid UTF-8 text")
                return
        if not any_line:
            yield LoadFailure(str(path), "empty file")


class JSONLoader:
    """A JSON file holding one record or a list of records."""

    def load(self, path: Path, doc_id: str, budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]:
        try:
            data = json.loads(_read_text(path))
        except (OSError, ValueError) as exc:
            reason = f"malformed JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else str(exc)
            yield LoadFailure(str(path), reason)
            return
        records = data if isinstance(data, list) else [data]
        if not records:
            yield LoadFailure(str(path), "empty list of records")
        for index, obj in enumerate(records):
            yield _record(obj, f"{path}[{index}]" if isinstance(data, list) else str(path), f"{doc_id}:{index}")


def _one(path: Path, doc_id: str, title: str, text: str, metadata: dict[str, object]) -> Iterator[LoadItem]:
    if not text.strip():
        yield LoadFailure(str(path), "empty document (no text)")
        return
    yield SourceDocument(id=doc_id, source=str(path), title=title, text=text, metadata=metadata)


LOADERS: dict[str, Loader] = {
    **{s: TextLoader() for s in TEXT_SUFFIXES},
    **{s: HTMLLoader() for s in HTML_SUFFIXES},
    ".pdf": PDFLoader(),
    ".json": JSONLoader(),
    ".jsonl": JSONLinesLoader(),
    ".ndjson": JSONLinesLoader(),
}


def _is_hidden(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    return any(p.startswith(".") for p in parts)


def _file_id(path: Path, root: Path | None) -> str:
    """`document_id` relative to `root` when the file lies under it, else its absolute path."""
    if root is not None:
        try:
            return document_id(path, root)
        except ValueError:
            pass
    return document_id(path)


def expand_paths(inputs: list[str | Path], root: Path | None = None) -> Iterator[tuple[Path, str] | LoadFailure]:
    """Files named by `inputs` (files, folders recursively, globs) with their document ids, sorted; with
    `root`, the ids of files under it are relative to it (see `document_id`)."""
    for raw in inputs:
        text = str(raw)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                yield LoadFailure(text, "the pattern matched no file")
            for f in files:
                yield f, _file_id(f, root)
            continue
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not _is_hidden(p, path))
            for f in files:
                yield f, _file_id(f, root)
        elif path.is_file():
            yield path, _file_id(path, root)
        else:
            yield LoadFailure(text, "no such file or folder")


def document_id(path: Path, root: Path | None = None) -> str:
    """A file's document id: the one rule for every way a file comes in.

    - `root` None: its absolute path, however it was named (folder, glob or directly); not relative
      to the folder named on the command line, which made the same file two documents when it was
      ingested once through its folder and once by name. (`graphrag ingest` passes the current
      folder as `root` to `load_paths`, and falls back to this for files outside it.)
    - `root` given (the API's ingest jobs, whose files lie in the allowed ingest folder): its path
      relative to `root` (`batch/a.md`), so read-scope clients never see the server's folders;
      ValueError when the file, links resolved, is outside `root`.

    The two differ for the same file: a file ingested by the CLI and again by an API job is two
    documents. (Uploads are identified by their bytes instead: `api.components.upload_document_id`.)
    """
    if root is None:
        return str(path.resolve())
    return path.resolve().relative_to(root.resolve()).as_posix()


# A character is at most 4 bytes of UTF-8 (and markup only adds bytes): a text file larger than this
# many bytes a character holds more text than the budget allows, so it is refused unread.
_MAX_BYTES_PER_CHAR = 4
_ONE_DOCUMENT = TEXT_SUFFIXES | HTML_SUFFIXES


def load_file(path: Path, doc_id: str, budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]:
    """The documents of one file (a JSON Lines file holds many), or why it cannot be read; a document
    over `budget` is a failure that names the cap."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        yield LoadFailure(str(path), f"unsupported file type {path.suffix or '(none)'!r}")
        return
    try:
        size = path.stat().st_size
    except OSError as exc:
        yield LoadFailure(str(path), str(exc))
        return
    if size == 0:
        yield LoadFailure(str(path), "empty file")
        return
    if budget.max_chars is not None and path.suffix.lower() in _ONE_DOCUMENT \
            and size > budget.max_chars * _MAX_BYTES_PER_CHAR:
        yield LoadFailure(str(path), budget.over_chars(budget.max_chars + 1) or "")
        return
    for item in loader.load(path, doc_id, budget):
        if isinstance(item, SourceDocument) and (over := budget.over_chars(len(item.text))) is not None:
            item = LoadFailure(item.source, over)
        yield item


def load_paths(inputs: list[str | Path], root: Path | None = None,
               budget: LoadBudget = NO_BUDGET) -> Iterator[LoadItem]:
    """Every document under `inputs`, in a stable order; unusable inputs (and documents over `budget`)
    come out as `LoadFailure`s. With `root`, a file under it is named relative to it in its id and
    `source` alike (`graphrag ingest`: the current folder), so neither shows the machine's folders."""
    for item in expand_paths(inputs, root):
        if isinstance(item, LoadFailure):
            yield item
            continue
        path, doc_id = item
        if root is None or Path(doc_id).is_absolute():
            yield from load_file(path, doc_id, budget)
            continue
        where = str(path)
        for loaded in load_file(path, doc_id, budget):
            if isinstance(loaded, SourceDocument) and loaded.source.startswith(where):
                loaded = loaded.model_copy(update={"source": doc_id + loaded.source[len(where):]})
            yield loaded
