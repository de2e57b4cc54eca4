"""The ``nbflow`` command: keep sensors running outside a notebook, against the same store.

::

    nbflow sensors run definitions.py [--sensor NAME ...] [--store PATH]
    nbflow sensors list definitions.py [--store PATH]
    nbflow sensors tick NAME definitions.py [--store PATH]

``definitions.py`` is a Python file defining jobs and sensors (what the notebook's cells
define). ``run`` ticks its sensors in the background until Ctrl-C (or SIGTERM), printing
one line per tick; the store is the notebook's default (``$NBFLOW_HOME`` or ``./.nbflow``)
unless ``--store`` names another.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

from nbflow.cli.sensors import CliError, list_sensors, run_sensors, tick_sensor


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="nbflow", description="nbflow from the command line.")
    groups = top.add_subparsers(dest="group", required=True, metavar="{sensors}")
    sensors = groups.add_parser("sensors", help="run, list or tick the sensors a file defines")
    commands = sensors.add_subparsers(dest="command", required=True, metavar="{run,list,tick}")

    run = commands.add_parser("run", help="tick the file's sensors until Ctrl-C")
    run.add_argument("file", help="a Python file defining jobs and sensors")
    run.add_argument("--sensor", action="append", default=None, metavar="NAME",
                     help="run only this sensor (repeat for several); default: all the file defines")
    listing = commands.add_parser("list", help="the file's sensors with their stored status")
    listing.add_argument("file")
    tick = commands.add_parser("tick", help="tick one sensor once and print what it did")
    tick.add_argument("name")
    tick.add_argument("file")
    for sub in (run, listing, tick):
        sub.add_argument("--store", default=None, metavar="PATH",
                         help="the store file (default: $NBFLOW_HOME/nbflow.duckdb or ./.nbflow/nbflow.duckdb)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handlers: dict[str, Any] = {"run": run_sensors, "list": list_sensors, "tick": tick_sensor}
    try:
        return cast(int, handlers[args.command](args))
    except CliError as exc:
        print(f"nbflow: {exc}", file=sys.stderr)
        return 2
