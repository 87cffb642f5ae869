"""The documentation works on any checkout: no command or path in it, nor in the code and the recorded
benchmark results, names one machine's folders."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Absolute folders of one machine (this one's /work, a home folder); /tmp scratch folders are fine.
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|Users|root)/[\w.-]+")
# In code and results (where a container's /home or /root may be meant), the checkouts' own folder only.
THIS_MACHINE = re.compile(r"(?<![\w.~])/work/[\w.-]+")


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


def test_recorded_paths_are_the_checkout_s_or_the_shared_sets_or_scratch() -> None:
    from benchmarks._meta import ROOT as CHECKOUT
    from benchmarks._meta import SHARED_EVAL, recorded_command, relative

    assert relative(CHECKOUT / "benchmarks" / "measured" / "x.json") == "benchmarks/measured/x.json"
    assert relative(SHARED_EVAL / "musique_100") == "../shared/eval/musique_100"
    assert relative(CHECKOUT.parent / "scratch" / "db") == "SCRATCH/db"
    assert relative(f"musique_100={CHECKOUT.parent / 'scratch' / 'mq'}") == "musique_100=SCRATCH/mq"
    assert relative("ppr_damping=0.6") == "ppr_damping=0.6" and relative("8") == "8"
    assert recorded_command("/x/benchmarks/load.py", ["--out", str(CHECKOUT.parent / "b" / "o.json")]) == \
        "load.py --out SCRATCH/o.json"
