"""``nnbackend datasets``: the built-in data sets, their tasks and options."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import click

from ..data.datasets import DATASETS, OPTION_FLAGS
from . import cli

#: Import names of the packages a data set may require (``DatasetInfo.requires``).
MODULES = {"scikit-learn": "sklearn"}


def missing_requirement(requires: str | None) -> str | None:
    """The required package when it is not installed here, else None (nothing imported)."""
    if requires is None:
        return None
    module = MODULES.get(requires, requires.replace("-", "_"))
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed installation
        found = False
    return None if found else requires


def described(description: str, task: str) -> str:
    """``description`` without a leading ``"<task>: "``, which the task column already says.

    Parameters
    ----------
    description : str
        A data set's description.
    task : str
        Its task, printed in the column before the description.

    Returns
    -------
    str
        The description as the listing prints it (``regression  y = sin(x) ...``, never
        ``regression  regression: y = sin(x) ...``).
    """
    return description.removeprefix(f"{task}: ")


def dataset_rows() -> list[dict[str, Any]]:
    """One JSON-ready record per built-in set: name, task, description, options, needs."""
    return [{"name": name, "task": info.task, "description": info.description,
             "options": list(info.accepts), "requires": info.requires,
             "missing": missing_requirement(info.requires)}
            for name, info in DATASETS.items()]


@cli.command("datasets")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def list_datasets(as_json: bool) -> None:
    """List the built-in data sets: name, task, description and the options each accepts.

    Use a name wherever a command takes --data; a path to a .csv, .npz or .npy file works
    there too. Sets that come with scikit-learn say so when it is not installed.

    \b
    Examples:
      nnbackend datasets
      nnbackend datasets --json
    """
    rows = dataset_rows()
    if as_json:
        click.echo(json.dumps({"datasets": rows}))
        return
    click.echo("Built-in data sets (use the name with --data):")
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        options = ", ".join(OPTION_FLAGS.get(o, o) for o in row["options"]) or "none"
        line = (f"  {row['name']:<{width}}  {row['task']:<10}  "
                f"{described(row['description'], row['task'])}; options: {options}")
        if row["missing"]:
            line += f" (needs {row['missing']}: pip install {row['missing']})"
        click.echo(line)
    click.echo("Files work too: --data PATH.csv (header row, last column = labels), "
               "PATH.npz (arrays X, y) or X.npy (labels in y.npy).")
