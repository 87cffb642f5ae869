"""Server paths for ingest jobs stay inside the allowed folder, whatever the client sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.errors import ApiError
from api.files import resolve_server_paths, safe_filename


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
    assert [p.name for p in resolve_server_paths(["films", "films/a.md"], tree)] == ["a.md", "b.txt"]


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
