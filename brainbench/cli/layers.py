"""``brainbench layers MODEL``: the module paths a model offers as layers, with their output shapes."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


def layers_command(
    model: Annotated[str, typer.Argument(help="model id, e.g. alexnet-untrained or torchvision/resnet18:untrained")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List every module path of MODEL with its output shape for one zero image (default layers marked *).

    Any listed path can be scored with ``brainbench score MODEL BENCHMARK --layers PATH,...``.
    """
    from brainbench.errors import BrainbenchError
    from brainbench.models.base import TorchModel, load_model
    from brainbench.registry import get_registry

    net = load_model(get_registry().model(model))
    if not isinstance(net, TorchModel):
        raise BrainbenchError(
            f"model {model!r} supplies an RDM, not a network: its one layer is {net.layers[0]!r} "
            "and it has no module paths."
        )
    declared = {net.layer_modules[layer]: layer for layer in net.layers}
    size = net.preprocessing.size
    rows: list[dict[str, Any]] = [
        {
            "path": path,
            "shape": list(shape) if shape is not None else None,
            "default": path in declared,
            "layer": declared.get(path, ""),
        }
        for path, shape in net.module_shapes(size)
    ]
    if as_json:
        typer.echo(json.dumps({"model": net.identifier, "input": [3, size, size], "modules": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    typer.echo(
        f"{net.identifier}: module paths and output shapes for a 3 x {size} x {size} zero image (* = a default layer)"
    )
    table = Table()
    table.add_column("module path", style="cyan", no_wrap=True)
    table.add_column("output shape", justify="right")
    table.add_column("layer")
    for row in rows:
        shape = " x ".join(str(n) for n in row["shape"]) if row["shape"] is not None else "(not a tensor)"
        mark = ("*" if row["layer"] == row["path"] else f"* {row['layer']}") if row["default"] else ""
        table.add_row(row["path"], shape, mark)
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    app.command("layers")(layers_command)
