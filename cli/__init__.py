"""The `athlete-mm` console command: one entry point over the project's library.

    athlete-mm <command> [options]      (installed by scripts/setup.sh; or `python -m cli`)

Each command is one module of this package exposing ``add_arguments(parser)`` and
``run(args) -> int``; it is listed once in ``COMMANDS`` below. Commands print what went
wrong and where (file, field, value) and return a non-zero exit status instead of a stack
trace; ``CommandError`` is the exception a command raises for that.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module under cli/, one-line help). Add a command by adding one line.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest-video": ("ingest_video", "videos + labels CSV -> MediaPipe landmarks + OpenSim IK angles (raw layout)"),
    "ingest-opensim": ("ingest_opensim", "OpenSim lab model + .trc markers -> IK angles in the project's convention"),
    "torque": ("torque", "hip / knee / ankle moments from an OpenSim IK .mot and a GRF .mot"),
    "recognize": ("recognize", "a clip folder or landmarks / IMU / GRF files -> action segments + probabilities"),
    "analyze": ("analyze", "a video (+ IMU / GRF) -> actions, angles, moments, technique feedback (as /analyze)"),
}


class CommandError(Exception):
    """A user-facing error: printed as ``athlete-mm <command>: <message>``, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="athlete-mm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"cli.{module}").add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.command:
        parser.print_help()
        return 2
    module = importlib.import_module(f"cli.{COMMANDS[args.command][0]}")
    try:
        return int(module.run(args) or 0)
    except CommandError as exc:
        print(f"athlete-mm {args.command}: {exc}", file=sys.stderr)
        return 2
