"""`athlete-mm ingest-opensim --model M.osim --trc MARKERS.trc [--ik-setup SETUP_IK.xml] --out DIR`.

OpenSim lab files -> ``DIR/angles.mot`` in the project's coordinate names and signs
(`ingest.opensim_lab`). Force plates and inverse dynamics (``--grf``, ``--external-loads``)
are not imported yet.
"""
from __future__ import annotations

import argparse
import warnings

from cli import CommandError
from ingest import IngestError
from ingest.opensim_lab import import_ik


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="the lab's OpenSim model (.osim) with its marker set")
    p.add_argument("--trc", required=True, help="marker trajectories (.trc, mm or m)")
    p.add_argument("--ik-setup", default=None, help="the lab's IK setup (.xml) with its marker weights")
    p.add_argument("--out", required=True, help="folder for angles.mot")


def run(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = import_ik(args.model, args.trc, args.out, ik_setup=args.ik_setup)
        except IngestError as exc:
            raise CommandError(str(exc)) from None
    for w in caught:
        print(f"warning: {w.message}")
    flips = ", ".join(f"{c} x{s:g}" for c, s in res["signs"].items()) or "none"
    print(f"ingest-opensim: {res['frames']} frames, model family {res['family']} (sign changes: {flips}); "
          f"coordinates the model lacks: {len(res['missing_coordinates'])} -> {res['angles']}")
    return 0
