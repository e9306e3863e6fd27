"""The README's example is what a newcomer runs first: it must run and credit what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_credits_the_click() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README has no python example"
    out = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=300, check=True)
    lines = [line.split() for line in out.stdout.splitlines()[1:]]
    last_touch = {(row[1], row[2]): float(row[4]) for row in lines if row[3] == "last_touch"}
    # o1 came through u1's click on n2 (a click beats the earlier read of n1); o2's only touch is n2
    assert last_touch == {("o1", "n2"): 1.0, ("o2", "n2"): 1.0}


def test_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
