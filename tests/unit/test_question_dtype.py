"""The API's question encoder runs in float32 unless GRAPHRAG_API_QUESTION_DTYPE says bfloat16."""

import pytest

from graphrag.config import Settings


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().api_question_dtype == "float32"
    monkeypatch.setenv("GRAPHRAG_API_QUESTION_DTYPE", "bfloat16")
    assert Settings().api_question_dtype == "bfloat16"
    monkeypatch.setenv("GRAPHRAG_API_QUESTION_DTYPE", "float16")
    with pytest.raises(ValueError, match="api_question_dtype"):
        Settings()


def test_onnx_runtime_runs_the_question_encoder_unless_the_setting_says_torchscript(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().api_question_runtime == "onnxruntime"
    monkeypatch.setenv("GRAPHRAG_API_QUESTION_RUNTIME", "torchscript")
    assert Settings().api_question_runtime == "torchscript"
    monkeypatch.setenv("GRAPHRAG_API_QUESTION_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="api_question_runtime"):
        Settings()
