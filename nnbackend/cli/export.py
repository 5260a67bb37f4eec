"""``nnbackend export``: write a saved model as an ONNX file."""

from __future__ import annotations

import click

from ..model import Model
from ..model.onnx_export import DTYPES, build_onnx, describe_onnx
from ..persistence.atomic import atomic_write
from . import cli
from .modelrun import check_output_path, model_option


@cli.command()
@model_option
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              metavar="FILE.onnx", help="The ONNX file to write (atomically).")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="The graph's float type: float32 runs everywhere and agrees with the "
                   "model to about 1e-6; float64 agrees to the last digits where the "
                   "runtime has double kernels (ONNX Runtime on the CPU does).")
def export(model: str, output: str, dtype: str) -> None:
    """Export a saved model to ONNX, to run it without nnbackend.

    The graph takes raw feature rows (input X, one row per example): the
    model's stored standardization is part of it. Classifiers output "label" (the
    original class labels) and "probabilities" (one column per class, in the order of
    the labels); regression outputs "predictions". ONNX Runtime runs it from Python,
    C++, C#, Java or JavaScript (also in the browser). Every hidden activation exports;
    gelu is its tanh approximation, exactly as trained. Needs the onnx package:
    pip install onnx.

    \b
    Examples:
      nnbackend train --data iris --standardize --save iris.npz
      nnbackend export --model iris.npz --output iris.onnx
      nnbackend export --model iris.npz --output iris64.onnx --dtype float64
    """
    check_output_path(output)
    # On the host in float64, whatever the default device: the export rounds the
    # parameters to --dtype once, itself.
    loaded = Model.load(model, device="cpu", backend="numpy", dtype="float64")
    graph = build_onnx(loaded, dtype)
    path = atomic_write(output, lambda fh: fh.write(graph.SerializeToString()))
    click.echo(f"Model: {model}: {loaded.describe()}")
    click.echo(f"Wrote {path}: {describe_onnx(graph)}")  # not read back: -o may be a pipe
