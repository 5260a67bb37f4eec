"""``nnbackend devices``: what can run here, the CUDA order, and what ``auto`` would pick."""

from __future__ import annotations

import json
from typing import Any

import click

from ..core.backend import (
    INSTALL_HINTS,
    CudaPick,
    auto_choice,
    cuda_devices,
    cuda_pick,
    installed_version,
)
from ..core.cuda_order import cuda_order, measured
from . import cli

LIBRARIES = (("numpy", "numpy", "cpu"), ("cupy", "cupy", "cuda"), ("torch", "torch", "cpu, "
             "cuda where its build and a GPU allow"), ("array-api-strict", "array_api_strict",
             "cpu and test devices (device1, no_float64, ...)"),
             ("jax", "jax", "cpu, cuda with a CUDA build of jaxlib; float64 turns JAX's "
              "jax_enable_x64 on for the process"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def devices(as_json: bool) -> None:
    """List the array libraries importable here, the CUDA devices, the measured order of
    the CUDA backends, and what auto picks.

    \b
    Example:
      nnbackend devices
    """
    libraries = {name: installed_version(module) for name, module, _ in LIBRARIES}
    gpus = cuda_devices()
    pick = cuda_pick(every=True)
    picked, reason = auto_choice(pick)
    order, source = _order_rows(pick), measured()
    if as_json:
        click.echo(json.dumps({"libraries": libraries, "cuda_devices": gpus,
                               "cuda_order": {"measured": source.date,
                                              "machine": source.machine, "paths": order},
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
    click.echo(f"CUDA backends, fastest first ({source.summary()}; us per training "
               "step, flower / deep):")
    for rank, row in enumerate(order, 1):
        usable = "usable" if row["available"] else "not usable"
        click.echo(f"  {rank}. {row['path']:<13} {row['flower_us']:>6,.0f} / "
                   f"{row['deep_us']:>6,.0f}  {usable}: {row['reason']}")
    click.echo(f"--device auto picks: {picked} ({reason})")


def _order_rows(pick: CudaPick) -> list[dict[str, Any]]:
    """The measured order, each path with whether it can run here and why."""
    return [{"backend": path.backend, "path": path.label, "flower_us": path.flower_us,
             "deep_us": path.deep_us, "available": pick.statuses[path.backend].available,
             "reason": pick.statuses[path.backend].reason} for path in cuda_order()]
