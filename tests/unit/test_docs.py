"""The documentation works on any checkout: no command or path in it names one machine's folders."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Absolute folders of one machine (this one's /work, a home folder); /tmp scratch folders are fine.
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|Users|root)/[\w.-]+")


def test_no_document_names_a_machine_specific_path() -> None:
    found = [f"{path.relative_to(ROOT)}:{n}: {match.group(0)}"
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             for match in MACHINE_PATH.finditer(line)]
    assert not found, found
