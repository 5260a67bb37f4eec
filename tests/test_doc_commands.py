"""Every shell example in the README and docs/ that runs ``nnbackend`` works as pasted.

Each ```bash block that calls ``nnbackend`` runs with bash in an empty folder, with
``nnbackend`` and ``python`` meaning this checkout's (so a stale installed copy cannot pass
for it). Blocks that install packages, need a GPU or an MPI launcher are left to their own
tests (``tests/test_cli_distributed.py``, ``scripts/gpu_check.py``). Each must exit 0; what
``evaluate`` prints must show a useful model.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Blocks with these are not run here (package installs, GPUs, launchers, benchmarks).
LEFT_OUT = re.compile(r"pip install|mpirun|srun|cuda|scripts/|nox\b")


def shell_blocks() -> list[pytest.param]:
    blocks = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for k, block in enumerate(re.findall(r"```bash\n(.*?)```", text, re.S)):
            calls = re.search(r"^nnbackend ", block, re.M)
            if calls and not LEFT_OUT.search(block):
                blocks.append(pytest.param(block, id=f"{page.name}-{k}"))
    return blocks


@pytest.mark.slow
@pytest.mark.parametrize("block", shell_blocks())
def test_shell_example_runs_as_pasted(block: str, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")  # some examples use scikit-learn's built-in sets
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in (("nnbackend", f'exec "{sys.executable}" -m nnbackend "$@"'),
                         ("python", f'exec "{sys.executable}" "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{target}\n")
        (bin_dir / name).chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "NNBACKEND_DEVICE": "cpu", "MPLBACKEND": "Agg"}
    done = subprocess.run(["bash", "-e", "-c", block], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{block}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
    for found in re.finditer(r"Accuracy: ([\d.]+)%", done.stdout):
        assert float(found.group(1)) >= 80, done.stdout
