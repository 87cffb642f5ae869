"""Turning request inputs into files on disk: saved uploads, and server paths confined to the
allowed ingest folder (symlinks and `..` resolved first, so nothing outside it can be named)."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from starlette.datastructures import UploadFile

from api.errors import ApiError
from graphrag.config import private_dir
from ingestion.loaders import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

MAX_FILES_PER_JOB = 100_000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, index: int) -> str:
    base = Path(name or "").name
    cleaned = _SAFE_NAME.sub("_", base).strip("._")[:120]
    return cleaned or f"upload-{index}.txt"


def _unprocessable(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", f"{field}: {message}")


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def storage_error(exc: OSError, what: str) -> ApiError:
    """`what` could not be saved: the disk is full (507) or the uploads folder cannot be written (503),
    with what the operator has to fix; never a 500. The server's folder is named in the log only."""
    if exc.errno in _FULL:
        return ApiError(507, "insufficient_storage", f"no room to save {what}: the disk that holds the service's "
                        "data folder is full (or over its quota); free space there, or point GRAPHRAG_DATA_DIR at a "
                        "larger disk", headers={"Retry-After": "60"})
    return ApiError(503, "storage_unavailable", f"cannot save {what}: the service's uploads folder "
                    f"(GRAPHRAG_DATA_DIR/uploads) cannot be written ({exc.strerror or type(exc).__name__}); make it "
                    "a folder the service's user can write, or point GRAPHRAG_DATA_DIR at one",
                    headers={"Retry-After": "60"})


async def save_uploads(files: list[UploadFile], folder: Path, limit_bytes: int) -> list[Path]:
    """Write uploads under `folder` (a fresh folder per request) and return their paths; a disk
    fault is `storage_error`'s 507 or 503."""
    if not files:
        raise _unprocessable("files", "at least one file is required")
    try:
        return await _save(files, folder, limit_bytes)
    except OSError as exc:
        log.error("cannot save an upload under %s: %s", folder, exc)
        raise storage_error(exc, "the upload") from None


async def _save(files: list[UploadFile], folder: Path, limit_bytes: int) -> list[Path]:
    private_dir(folder)  # uploads are documents: owner-only, like the database files
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
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            while chunk := await upload.read(1 << 16):
                written += len(chunk)
                if written > limit_bytes:  # the body limit already applies; this guards odd transports
                    raise ApiError(413, "body_too_large", f"files[{index}] is larger than {limit_bytes} bytes")
                handle.write(chunk)
        saved.append(target)
    return saved


def upload_folder(data_dir: Path) -> Path:
    return data_dir / "uploads" / uuid.uuid4().hex


@dataclass(frozen=True)
class ServerFiles:
    """The files a job may read, and the ones a folder walk found but refused (with why)."""

    files: list[Path]
    skipped: list[str] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def resolve_server_paths(paths: list[str], allowed: Path | None) -> ServerFiles:
    """Every supported file named by `paths` (folders expanded, sorted), all inside `allowed`.

    A path named directly that leads outside the folder is refused (403). A folder walk resolves
    every file it finds as well: a symlink in the folder pointing outside it is reported in
    `skipped` and not read, so a link cannot smuggle another file's text into the graph.
    """
    if allowed is None:
        raise ApiError(403, "paths_disabled", "ingesting server paths is disabled: set "
                       "GRAPHRAG_API_ALLOWED_INGEST_DIR to the folder jobs may read from, or upload files")
    root = allowed.expanduser().resolve()
    files: list[Path] = []
    skipped: list[str] = []
    for index, raw in enumerate(paths):
        if not raw or "\x00" in raw:
            raise _unprocessable(f"paths[{index}]", "must be a non-empty path")
        candidate = (root / raw).resolve()  # an absolute `raw` replaces root; checked just below
        if not _inside(candidate, root):
            raise ApiError(403, "path_not_allowed", f"paths[{index}]: {raw!r} is outside the allowed ingest folder")
        if candidate.is_dir():
            for found in sorted(candidate.rglob("*")):
                relative = found.relative_to(root)
                if found.suffix.lower() not in SUPPORTED_SUFFIXES or any(p.startswith(".") for p in relative.parts):
                    continue
                target = found.resolve()
                if not _inside(target, root):
                    skipped.append(f"{relative.as_posix()}: links to a file outside the allowed ingest folder; "
                                   "skipped")
                elif target.is_file():
                    files.append(target)
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
        reasons = "; ".join(skipped[:5])
        raise _unprocessable("paths", "no supported files found" + (f" ({reasons})" if reasons else ""))
    return ServerFiles(unique, skipped)


def uploads_check(data_dir: Path, need_bytes: int) -> tuple[bool, str]:
    """(ok, detail) for readiness: the uploads folder can be written (a probe file is written and
    removed) and its disk has room for one more upload of `need_bytes`."""
    folder = data_dir / "uploads"
    try:
        private_dir(folder)
        probe = folder / f".probe-{uuid.uuid4().hex}"
        try:
            with os.fdopen(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
                handle.write(b"probe")
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            probe.unlink(missing_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        if exc.errno in _FULL:
            return False, "disk full: uploads cannot be saved; free space in GRAPHRAG_DATA_DIR"
        return False, (f"uploads folder cannot be written ({exc.strerror or type(exc).__name__}); make "
                       "GRAPHRAG_DATA_DIR/uploads writable by the service's user")
    if free < need_bytes:
        return False, (f"disk almost full: {free:,} bytes free, less than one upload may take "
                       f"({need_bytes:,}); free space in GRAPHRAG_DATA_DIR")
    return True, f"{free // (1 << 20):,} MiB free"
