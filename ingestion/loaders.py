"""Loaders: files, folders and globs -> `SourceDocument`s, with every unusable input reported, not fatal.

Supported: .txt, .md/.markdown, .html/.htm (text without markup, <title> kept), .pdf (pypdf),
.json (one record or a list of records) and .jsonl (one record a line) with `id`, `title`, `text`.
A folder is read recursively (hidden files and folders skipped); a path with `*`, `?` or `[` is a glob.

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


class Loader(Protocol):
    """Reads one file into documents (or failures); never raises for bad content."""

    def load(self, path: Path, doc_id: str) -> Iterator[LoadItem]: ...


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

    def load(self, path: Path, doc_id: str) -> Iterator[LoadItem]:
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
    def load(self, path: Path, doc_id: str) -> Iterator[LoadItem]:
        try:
            title, text = html_to_text(_read_text(path))
        except (OSError, ValueError) as exc:
            yield LoadFailure(str(path), str(exc))
            return
        yield from _one(path, doc_id, title or path.stem, text, {"format": "html"})


class PDFLoader:
    """Text of every page (pypdf); the PDF's metadata title when it has one, else the file name."""

    def load(self, path: Path, doc_id: str) -> Iterator[LoadItem]:
        try:
            from pypdf import PdfReader

            reader = PdfReader(str(path))
            pages = [page.extract_text() or "" for page in reader.pages]
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

    def load(self, path: Path, doc_id: str) -> Iterator[LoadItem]:
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

    def load(self, path: Path, doc_id: str) -> Iterator[LoadItem]:
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


def load_file(path: Path, doc_id: str) -> Iterator[LoadItem]:
    """The documents of one file (a JSON Lines file holds many), or why it cannot be read."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        yield LoadFailure(str(path), f"unsupported file type {path.suffix or '(none)'!r}")
        return
    try:
        if path.stat().st_size == 0:
            yield LoadFailure(str(path), "empty file")
            return
    except OSError as exc:
        yield LoadFailure(str(path), str(exc))
        return
    yield from loader.load(path, doc_id)


def load_paths(inputs: list[str | Path], root: Path | None = None) -> Iterator[LoadItem]:
    """Every document under `inputs`, in a stable order; unusable inputs come out as `LoadFailure`s.
    With `root`, a file under it is named relative to it in its id and `source` alike (`graphrag ingest`:
    the current folder), so neither shows the machine's folders."""
    for item in expand_paths(inputs, root):
        if isinstance(item, LoadFailure):
            yield item
            continue
        path, doc_id = item
        if root is None or Path(doc_id).is_absolute():
            yield from load_file(path, doc_id)
            continue
        where = str(path)
        for loaded in load_file(path, doc_id):
            if isinstance(loaded, SourceDocument) and loaded.source.startswith(where):
                loaded = loaded.model_copy(update={"source": doc_id + loaded.source[len(where):]})
            yield loaded
