"""The API's question encoder: int8 on ONNX Runtime unless GRAPHRAG_API_QUESTION_DTYPE says float32 or
bfloat16, or GRAPHRAG_API_QUESTION_RUNTIME says torchscript (for float32)."""

import pytest

from graphrag.config import Settings


@pytest.mark.parametrize(("field", "default", "other", "unknown"), [
    ("api_question_dtype", "int8", "bfloat16", "float16"),
    ("api_question_dtype", "int8", "float32", "int4"),
    ("api_question_runtime", "onnxruntime", "torchscript", "tensorrt"),
])
def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, field: str, default: str,
                                                 other: str, unknown: str) -> None:
    assert getattr(Settings(), field) == default
    monkeypatch.setenv(f"GRAPHRAG_{field.upper()}", other)
    assert getattr(Settings(), field) == other
    monkeypatch.setenv(f"GRAPHRAG_{field.upper()}", unknown)
    with pytest.raises(ValueError, match=field):
        Settings()
