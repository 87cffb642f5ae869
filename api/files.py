"""Turning request inputs into files on disk: saved uploads, and server paths confined to the
allowed ingest folder (symlinks and `..` resolved first, so nothing outside it can be named)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from starlette.datastructures import UploadFile

from api.errors import ApiError

# What the ingestion loaders read; other files in a folder are skipped, named ones refused.
SUPPORTED_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ".html", ".htm", ".xhtml", ".pdf",
                      ".json", ".jsonl", ".ndjson"}
MAX_FILES_PER_JOB = 100_000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, index: int) -> str:
    base = Path(name or "").name
    cleaned = _SAFE_NAME.sub("_", base).strip("._")[:120]
    return cleaned or f"upload-{index}.txt"


def _unprocessable(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", f"{field}: {message}")


async def save_uploads(files: list[UploadFile], folder: Path, limit_bytes: int) -> list[Path]:
    """Write uploads under `folder` (a fresh folder per request) and return their paths."""
    if not files:
        raise _unprocessable("files", "at least one file is required")
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    seen: set[str] = set()
    for index, upload in enumerate(files):
        name = safe_filename(upload.filename, index)
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
            raise ApiError(415, "unsupported_media_type", f"files[{index}]: {name!r} is not a supported type ({kinds})")
        if name in seen:
            name = f"{index}-{name}"
        seen.add(name)
        target = folder / name
        written = 0
        with target.open("wb") as handle:
            while chunk := await upload.read(1 << 16):
                written += len(chunk)
                if written > limit_bytes:  # the body limit already applies; this guards odd transports
                    raise ApiError(413, "body_too_large", f"files[{index}] is larger than {limit_bytes} bytes")
                handle.write(chunk)
        saved.append(target)
    return saved


def upload_folder(data_dir: Path) -> Path:
    return data_dir / "uploads" / uuid.uuid4().hex


def resolve_server_paths(paths: list[str], allowed: Path | None) -> list[Path]:
    """Every supported file named by `paths` (folders expanded, sorted), all inside `allowed`."""
    if allowed is None:
        raise ApiError(403, "paths_disabled", "ingesting server paths is disabled: set "
                       "GRAPHRAG_API_ALLOWED_INGEST_DIR to the folder jobs may read from, or upload files")
    root = allowed.expanduser().resolve()
    files: list[Path] = []
    for index, raw in enumerate(paths):
        if not raw or "\x00" in raw:
            raise _unprocessable(f"paths[{index}]", "must be a non-empty path")
        candidate = (root / raw).resolve()  # an absolute `raw` replaces root; checked just below
        if candidate != root and root not in candidate.parents:
            raise ApiError(403, "path_not_allowed", f"paths[{index}]: {raw!r} is outside the allowed ingest folder")
        if candidate.is_dir():
            found = sorted(p for p in candidate.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(root).parts))
            files.extend(found)
        elif candidate.is_file():
            if candidate.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise _unprocessable(f"paths[{index}]", f"{raw!r} is not a supported file type")
            files.append(candidate)
        else:
            raise _unprocessable(f"paths[{index}]", f"{raw!r} does not exist")
        if len(files) > MAX_FILES_PER_JOB:
            raise _unprocessable("paths", f"more than {MAX_FILES_PER_JOB} files; split the job")
    unique = list(dict.fromkeys(files))
    if not unique:
        raise _unprocessable("paths", "no supported files found")
    return unique
