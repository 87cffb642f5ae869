"""The Makefile builds llama-cpp-python itself (portable, into its own wheel folder), so its version must
be the one pyproject pins: otherwise `pip install -e .[llm]` would pass over the built wheel and compile
the pinned sdist, or take a native wheel from pip's cache."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _makefile_var(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile sets no {name}"
    return match.group(1)


def test_the_built_llama_cpp_wheel_is_the_version_pyproject_pins() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = [req for req in extras["llm"] if req.startswith("llama-cpp-python")]
    assert len(pins) == 1
    assert pins[0].endswith(f"=={_makefile_var('LLAMA_CPP_VERSION')}")


def test_the_llm_install_takes_only_the_built_wheel() -> None:
    """`--only-binary` keeps pip from compiling the sdist again, or reusing a cached wheel of it."""
    recipe = (ROOT / "Makefile").read_text().split("$(VENV)/.installed-llm:", 1)[1].split("\n\n", 1)[0]
    assert "--find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python" in recipe
    assert "-DGGML_NATIVE=OFF" in (ROOT / "Makefile").read_text().split("$(LLAMA_WHEELS)/.built:", 1)[1]
