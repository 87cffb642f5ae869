"""Server paths for ingest jobs stay inside the allowed folder, whatever the client sends; a disk that
cannot take an upload is a 507 or 503 that says what to fix."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from api.errors import ApiError
from api.files import resolve_server_paths, safe_filename, storage_error, uploads_check


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "allowed"
    (root / "films").mkdir(parents=True)
    (root / "films" / "a.md").write_text("# A\ntext")
    (root / "films" / "b.txt").write_text("text")
    (root / "films" / "skip.bin").write_bytes(b"\0")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "c.md").write_text("x")
    (tmp_path / "secret.md").write_text("outside")
    (root / "link.md").symlink_to(tmp_path / "secret.md")
    return root


def test_folders_expand_to_supported_files_in_order(tree: Path) -> None:
    found = resolve_server_paths(["films", "films/a.md"], tree)
    assert [p.name for p in found.files] == ["a.md", "b.txt"] and found.skipped == []


def test_a_walk_skips_and_reports_links_to_files_outside_the_folder(tree: Path) -> None:
    (tree / "films" / "leak.md").symlink_to(tree.parent / "secret.md")
    (tree / "films" / "alias.md").symlink_to(tree / "films" / "a.md")  # inside: the same file once
    found = resolve_server_paths(["films"], tree)
    assert [p.name for p in found.files] == ["a.md", "b.txt"]
    assert all(p.is_relative_to(tree.resolve()) and not p.is_symlink() for p in found.files)
    assert len(found.skipped) == 1 and found.skipped[0].startswith("films/leak.md: links to a file outside")
    # the whole folder holds nothing but the link: refused, with the reason
    (tree / "only").mkdir()
    (tree / "only" / "leak.md").symlink_to(tree.parent / "secret.md")
    with pytest.raises(ApiError) as info:
        resolve_server_paths(["only"], tree)
    assert info.value.status_code == 422 and "outside the allowed ingest folder" in str(info.value)


@pytest.mark.parametrize("raw", ["../secret.md", "/etc/passwd", "films/../../secret.md", "link.md"])
def test_paths_outside_the_folder_are_refused(tree: Path, raw: str) -> None:
    with pytest.raises(ApiError) as info:
        resolve_server_paths([raw], tree)
    assert info.value.status_code == 403


def test_missing_and_unsupported_files_are_422(tree: Path) -> None:
    for raw in ("nope.md", "films/skip.bin"):
        with pytest.raises(ApiError) as info:
            resolve_server_paths([raw], tree)
        assert info.value.status_code == 422


def test_server_paths_are_off_unless_configured() -> None:
    with pytest.raises(ApiError) as info:
        resolve_server_paths(["x"], None)
    assert info.value.status_code == 403


def test_upload_names_are_flattened() -> None:
    assert safe_filename("../../etc/pass wd.md", 0) == "pass_wd.md"
    assert safe_filename("", 3) == "upload-3.txt"


def test_a_full_disk_is_507_and_an_unwritable_folder_503_each_saying_what_to_fix(tmp_path: Path) -> None:
    full = storage_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "the upload")
    assert full.status_code == 507 and full.code == "insufficient_storage"
    assert "GRAPHRAG_DATA_DIR" in str(full.detail) and "full" in str(full.detail)
    denied = storage_error(PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "the upload")
    assert denied.status_code == 503 and denied.code == "storage_unavailable" and denied.headers
    assert "GRAPHRAG_DATA_DIR/uploads" in str(denied.detail) and "Permission denied" in str(denied.detail)
    assert uploads_check(tmp_path, 1024)[0]
    assert not any(p.name.startswith(".probe") for p in (tmp_path / "uploads").iterdir())  # the probe is removed
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "uploads").write_text("a file where the folder should be")
    ok, detail = uploads_check(tmp_path / "other", 1024)
    assert not ok and "cannot be written" in detail
    ok, detail = uploads_check(tmp_path, 1 << 62)  # no disk has 4 EiB free
    assert not ok and detail.startswith("disk almost full")
