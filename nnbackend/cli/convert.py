"""``nnbackend convert``: a CSV or .npz data file to .npy files, which training
memory-maps (for data larger than memory)."""

from __future__ import annotations

from pathlib import Path

import click

from ..data.convert import convert_to_npy
from ..data.files import npy_labels_path
from . import cli
from .modelrun import check_output_path, refuse_overwriting_inputs


@cli.command()
@click.argument("source", metavar="SOURCE")
@click.argument("output", metavar="OUTPUT.npy")
@click.option("--target", default=None, metavar="COLUMN",
              help="CSV only: the label column (default: the last column).")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64",
              show_default=True, help="Of the features; float32 halves the file.")
def convert(source: str, output: str, target: str | None, dtype: str) -> None:
    """Convert a .csv or .npz data file to .npy features and labels files.

    Training on a CSV reads its numbers whole into memory (about 16 bytes a cell);
    .npy features are memory-mapped and read row by row, so they may be larger than
    memory. The CSV is converted in blocks of about 1 MB of text, never held whole. The labels go
    beside OUTPUT under the name training looks for (X.npy -> y.npy, data.npy ->
    data_y.npy). Both files are written under temporary names and renamed at the end.

    \b
    Examples:
      nnbackend convert big.csv big.npy --target label
      nnbackend convert big.csv X.npy --dtype float32     # then: --data X.npy
    """
    check_output_path(output, "OUTPUT", by_name=True)
    out = Path(output)
    refuse_overwriting_inputs({"SOURCE": [Path(source)]},
                              {"OUTPUT": output, "the labels file": str(npy_labels_path(out))})
    done = convert_to_npy(source, output, target=target, dtype=dtype)
    click.echo(f"Wrote {done.rows} x {done.columns} features to {done.features} and the "
               f"labels to {done.labels}; train with: nnbackend train --data {done.features}")
