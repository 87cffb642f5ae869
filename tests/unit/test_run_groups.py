"""`make test`'s runner (tests/run_groups.py): its groups cover every test folder, and it reads
pytest's closing line right."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.run_groups import GROUPS, counts, selection, wait_all

ROOT = Path(__file__).resolve().parents[2]


def test_the_groups_run_every_test_file_once() -> None:
    """Each test file is selected by exactly one group: under one of its paths and not `--ignore`d."""
    files = sorted(p.relative_to(ROOT) for p in (ROOT / "tests").rglob("test_*.py"))
    for file in files:
        picked = []
        for name in GROUPS:
            args = selection(name)
            ignored = [Path(a.removeprefix("--ignore=")) for a in args if a.startswith("--ignore=")]
            paths = [Path(a) for a in args if not a.startswith("--")]
            if any(file.is_relative_to(p) for p in paths) and not any(file.is_relative_to(p) for p in ignored):
                picked.append(name)
        assert len(picked) == 1, (file, picked)


def test_a_file_moved_to_another_group_is_ignored_in_its_folder_s_group() -> None:
    assert "--ignore=tests/e2e/test_jobs_outage.py" in selection("e2e")
    assert "tests/e2e/test_jobs_outage.py" in selection("chaos")
    assert not [a for a in selection("chaos") if a.startswith("--ignore")]


def test_the_closing_line_is_counted() -> None:
    log = ("tests/unit/test_a.py ....F\n"
           "FAILED tests/unit/test_a.py::test_x - assert 1 == 2\n"
           "==== 1 failed, 311 passed, 2 skipped, 3 deselected, 1 warning, 2 errors in 603.46s (0:10:03) ====\n")
    assert counts(log) == {"failed": 1, "passed": 311, "skipped": 2, "deselected": 3, "error": 2}
    assert counts("no closing line\n") == {}


def test_each_group_is_stamped_with_its_own_end() -> None:
    """The group that ends first is not stamped with the end of one started (and waited on) before it."""
    started = time.monotonic()
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    quick = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    codes, ended = wait_all({"slow": slow, "quick": quick}, started, every=0.05)
    assert codes == {"slow": 0, "quick": 4}
    assert ended["quick"] < ended["slow"]
