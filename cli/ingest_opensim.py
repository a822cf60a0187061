"""`athlete-mm ingest-opensim --model M.osim --trc MARKERS.trc [--grf GRF.mot [--external-loads
LOADS.xml]] [--ik-setup SETUP_IK.xml] --out DIR`.

OpenSim lab files -> ``DIR/angles.mot`` (IK) and, with ``--grf``, ``DIR/moments.sto`` (OpenSim
inverse dynamics with the plates on the feet), in the project's coordinate names and signs
(`ingest.opensim_lab`). IMU synthesis from the kinematics is not done yet.
"""
from __future__ import annotations

import argparse
import warnings

from cli import CommandError
from ingest import IngestError
from ingest.opensim_lab import import_ik, import_trial


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="the lab's OpenSim model (.osim) with its marker set")
    p.add_argument("--trc", required=True, help="marker trajectories (.trc, mm or m)")
    p.add_argument("--ik-setup", default=None, help="the lab's IK setup (.xml) with its marker weights")
    p.add_argument("--grf", default=None, help="force plates (.mot, OpenSim ground_force_* columns)")
    p.add_argument("--external-loads", default=None,
                   help="the lab's ExternalLoads .xml (plates -> bodies); default: nearest foot, reported")
    p.add_argument("--lowpass-hz", type=float, default=15.0, help="ID tool's coordinate low-pass (default 15)")
    p.add_argument("--out", required=True, help="folder for angles.mot (and moments.sto)")


def run(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.grf:
                res = import_trial(args.model, args.trc, args.grf, args.out, external_loads=args.external_loads,
                                   ik_setup=args.ik_setup, lowpass_hz=args.lowpass_hz)
            else:
                res = import_ik(args.model, args.trc, args.out, ik_setup=args.ik_setup)
        except IngestError as exc:
            raise CommandError(str(exc)) from None
    for w in caught:
        print(f"warning: {w.message}")
    flips = ", ".join(f"{c} x{s:g}" for c, s in res["signs"].items()) or "none"
    print(f"ingest-opensim: {res['frames']} frames, model family {res['family']} (sign changes: {flips}); "
          f"coordinates the model lacks: {len(res['missing_coordinates'])} -> {res['angles']}")
    if "plates" in res:
        print(f"ingest-opensim: plates {res['plates']}; moments -> {res['moments']}")
    return 0
