"""Which weights the API's question encoder runs in: bfloat16 only where the CPU multiplies it natively
(elsewhere PyTorch emulates it, slower than float32)."""

from pathlib import Path

import pytest

from graphrag.config import Settings
from graphrag.embeddings import native_bfloat16, resolve_question_dtype

AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\nbugs\t\t: avx512_bf16-lookalike\n"


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    (tmp_path / "amx").write_text(AMX)
    (tmp_path / "avx2").write_text(AVX2)
    assert native_bfloat16(tmp_path / "amx")
    assert not native_bfloat16(tmp_path / "avx2")  # a flag's name elsewhere than the flags line is not a flag
    assert not native_bfloat16(tmp_path / "missing")


def test_auto_follows_the_cpu_and_a_named_dtype_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_question_dtype("float32") == "float32"
    assert resolve_question_dtype("bfloat16") == "bfloat16"
    monkeypatch.setattr("graphrag.embeddings.native_bfloat16", lambda: True)
    assert resolve_question_dtype("auto") == "bfloat16"
    monkeypatch.setattr("graphrag.embeddings.native_bfloat16", lambda: False)
    assert resolve_question_dtype("auto") == "float32"


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().api_question_dtype == "auto"
    monkeypatch.setenv("GRAPHRAG_API_QUESTION_DTYPE", "float32")
    assert Settings().api_question_dtype == "float32"
    monkeypatch.setenv("GRAPHRAG_API_QUESTION_DTYPE", "float16")
    with pytest.raises(ValueError, match="api_question_dtype"):
        Settings()
