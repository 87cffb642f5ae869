"""The documentation works on any checkout: no command or path in it, nor in the code and the recorded
benchmark results, names one machine's folders."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The folder the checkout lies in, as an absolute path: its scratch folders and databases sit beside it
# (named from this checkout, so no machine's folder is written here). None when it is the filesystem root
# or a temporary folder (a clone in /tmp: the docs' /tmp scratch examples are not one machine's layout).
_SHARED_PARENTS = {Path("/"), Path("/tmp"), Path("/var/tmp"), Path(tempfile.gettempdir()).resolve()}
BESIDE = re.escape(ROOT.parent.as_posix()) if ROOT.parent not in _SHARED_PARENTS else r"(?!)"
# Absolute folders of one machine (the checkout's own folder, a home folder); /tmp scratch folders are fine.
MACHINE_PATH = re.compile(rf"(?<![\w.~])(?:{BESIDE}|/home|/Users|/root)/[\w.-]+")
# In code and results (where a container's /home or /root may be meant), the checkout's own folder only.
THIS_MACHINE = re.compile(rf"(?<![\w.~]){BESIDE}/[\w.-]+")


def test_no_document_names_a_machine_specific_path() -> None:
    found = [f"{path.relative_to(ROOT)}:{n}: {match.group(0)}"
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             for match in MACHINE_PATH.finditer(line)]
    assert not found, found


def test_no_tracked_source_or_result_names_a_machine_specific_path() -> None:
    """Benchmarks record their commands relative to the checkout (`benchmarks._meta.recorded_command`)."""
    tracked = subprocess.run(["git", "ls-files", "*.py", "*.json", "*.toml", "*.md"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    found = [f"{name}:{n}: {match.group(0)}"
             for name in tracked if (ROOT / name).is_file()
             for n, line in enumerate((ROOT / name).read_text(encoding="utf-8", errors="replace").splitlines(), start=1)
             for match in THIS_MACHINE.finditer(line)]
    assert not found, found


# A path that leaves the checkout, other than to the shared eval sets beside it (`../shared/...`).
OUTSIDE = re.compile(r"(?<![\w./])\.\./(?!shared/|\.\.)[\w.-]+")


def test_no_recorded_result_names_a_folder_outside_the_checkout() -> None:
    """A scratch folder beside the checkout (`../bench/db`) is one machine's layout too: results say
    `SCRATCH/<name>` for it (`benchmarks._meta.relative`)."""
    found = [f"{path.relative_to(ROOT)}:{n}: {match.group(0)}"
             for path in sorted((ROOT / "benchmarks" / "measured").glob("*.json"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             for match in OUTSIDE.finditer(line)]
    assert not found, found

