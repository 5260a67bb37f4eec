"""``nnbackend devices``: what can run here, and what ``--device auto`` would pick."""

from __future__ import annotations

import json

import click

from ..core.backend import INSTALL_HINTS, auto_choice, cuda_devices, installed_version
from . import cli

LIBRARIES = (("numpy", "numpy", "cpu"), ("cupy", "cupy", "cuda"), ("torch", "torch", "cpu, "
             "cuda where its build and a GPU allow"), ("array-api-strict", "array_api_strict",
             "cpu and test devices (device1, no_float64, ...)"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def devices(as_json: bool) -> None:
    """List the array libraries importable here, the CUDA devices, and the auto choice.

    \b
    Example:
      nnbackend devices
    """
    libraries = {name: installed_version(module) for name, module, _ in LIBRARIES}
    gpus = cuda_devices()
    picked, reason = auto_choice()
    if as_json:
        click.echo(json.dumps({"libraries": libraries, "cuda_devices": gpus,
                               "auto": {"backend": picked, "reason": reason}}))
        return
    click.echo("Array libraries:")
    for name, _, runs_on in LIBRARIES:
        version = libraries[name]
        status = f"{version:<10} runs on {runs_on}" if version else "not installed"
        if not version and name in INSTALL_HINTS:
            status += f" ({INSTALL_HINTS[name]})"
        click.echo(f"  {name:<17} {status}")
    click.echo("CUDA devices:" + ("" if gpus else " none"))
    for gpu in gpus:
        click.echo(f"  {gpu['device']}  {gpu['name']}, {gpu['memory_gib']} GiB")
    click.echo(f"--device auto picks: {picked} ({reason})")
