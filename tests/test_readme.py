"""The README and the docs/ pages as a user meets them: every Python block runs as pasted,
every relative link leads to a file, and the two opening commands stay the README's own.

Each ```python block runs alone in a fresh interpreter in an empty folder, exactly as
pasted (no set-up code is added), with the suite's ``NNBACKEND_DEVICE=cpu``. Long examples
are made short in the page itself, never special-cased here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: ``.ci/run`` runs these two lines of the README as a new user would.
OPENING_COMMANDS = ("pip install . && nnbackend train", "pip install -e '.[dev]' && nox")


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """``(line number, code)`` of each fenced ```python block, dedented as a list item's."""
    blocks: list[tuple[int, str]] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    start: int | None = None
    fence = ""
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if start is None and stripped == "```python":
            start, fence = number, line[: len(line) - len(line.lstrip())] + "```"
        elif start is not None and line.rstrip() == fence:
            blocks.append((start, textwrap.dedent("\n".join(lines[start:number - 1])) + "\n"))
            start = None
    assert start is None, f"{page.name}:{start}: a ```python block is never closed"
    return blocks


BLOCKS = [(page, number, code) for page in PAGES for number, code in python_blocks(page)]


def test_the_pages_have_python_examples():
    # Guards the extraction itself: a fence spelled differently would leave nothing to run.
    counted = {page.name: len(python_blocks(page)) for page in PAGES}
    assert counted["README.md"] >= 1 and counted["python.md"] >= 2, counted


@pytest.mark.parametrize(("page", "line", "code"), BLOCKS,
                         ids=[f"{page.name}:{line}" for page, line, _ in BLOCKS])
def test_python_block_runs_as_pasted(page, line, code, tmp_path):
    # PYTHONPATH (tests/conftest.py) puts this checkout first, whatever is installed.
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    where = f"{page.relative_to(ROOT)}:{line}"
    assert done.returncode == 0, f"{where} fails as pasted:\n{done.stderr[-3000:]}"
    # Every example shows the reader something; a silent one proves little.
    assert done.stdout.strip(), f"{where} prints nothing"


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_relative_links_lead_to_files(page):
    text = page.read_text(encoding="utf-8")
    # Links in code (``g[l](Z[l])`` in an indented block, `...` spans) are not links.
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = re.sub(r"^    .*$", "", prose, flags=re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    broken = []
    for target in LINK.findall(prose):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        file_part, _, anchor = target.partition("#")
        linked = page.parent / file_part
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(target)
    assert broken == [], f"{page.name} links to missing files or headings: {broken}"


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, - for space."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in readme]
    assert unlinked == [], f"docs pages the README does not link: {unlinked}"


def test_opening_commands_are_the_readmes_own_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    for command in OPENING_COMMANDS:
        assert command in lines, f"README.md lost the line: {command}"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert all(command in ci for command in OPENING_COMMANDS)


def _section(page: Path, heading: str) -> str:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_first_command_output_is_what_this_machine_prints() -> None:
    # Up to iteration 6000 every machine prints the same; the last costs and the final
    # accuracy depend on the BLAS, so the README must name this machine's outcome too.
    from click.testing import CliRunner

    from nnbackend.cli import cli

    section = _section(ROOT / "README.md", "What the first command prints")
    shown = re.search(r"```\n(.*?)```", section, re.S).group(1).splitlines()
    printed = CliRunner().invoke(cli, ["train"]).stdout.splitlines()

    def machine_independent(lines: list[str]) -> list[str]:
        return [line for line in lines
                if not re.match(r"Cost after iteration [789]000|Train ", line)]

    assert machine_independent(shown) == machine_independent(printed)
    final = printed[-1]
    outcomes = re.findall(r"Train accuracy: [\d.]+% \(cost [\d.]+\)", section)
    assert len(set(outcomes)) == 2 and final in outcomes, (final, outcomes)


def test_install_hints_name_packages_the_index_has() -> None:
    # nnbackend is installed from its checkout; "pip install 'nnbackend[x]'" would fail.
    texts = [*PAGES, *sorted((ROOT / "nnbackend").rglob("*.py"))]
    offending = [str(path.relative_to(ROOT)) for path in texts
                 if "install 'nnbackend[" in path.read_text(encoding="utf-8")]
    assert offending == []
    workflow = _section(ROOT / "README.md", "The workflow: data in, model out, no Python")
    assert "pip install '." not in workflow  # it runs "in an empty folder"


def test_every_mpirun_example_says_what_root_needs() -> None:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.startswith("mpirun "):
                near = "\n".join(lines[max(0, number - 6):number + 8])
                assert "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" in near, (
                    f"{page.name}:{number + 1}")
