"""`athlete-mm torque`: hip / knee / ankle moments from an OpenSim IK .mot and a GRF .mot.

    athlete-mm torque --ik IK.mot [--grf GRF.mot] [--external-loads LOADS.xml] --mass KG --height M
                      [--sex male|female] [--model gait2392|gait2354|rajagopal2016|athlete-mm]
                      [--cutoff HZ] [--sync-plates S] [--uncertainty N] --out OUT.sto|OUT.json

Without --external-loads every plate contact is assigned to the nearest foot (reported); without
--grf the ground reaction is estimated from the kinematics (biomech.grf_estimate).
Without --model the convention is guessed from the IK file (reported). The moments use OpenSim
names and the input model's signs (biomech.joint_moments).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cli import CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ik", required=True, type=Path, help="OpenSim IK / coordinates .mot (>= 100 Hz)")
    p.add_argument("--grf", type=Path, default=None,
                   help="GRF .mot (ground_force_v*, _p*, ground_torque_*); without it the load is estimated "
                        "from the kinematics")
    p.add_argument("--external-loads", type=Path, default=None, help="OpenSim ExternalLoads .xml (plate -> foot)")
    p.add_argument("--mass", required=True, type=float, help="body mass, kg")
    p.add_argument("--height", required=True, type=float, help="stature, m")
    p.add_argument("--sex", choices=("male", "female"), default="male", help="de Leva table (default male)")
    p.add_argument("--model", default=None, help="coordinate conventions of the IK file (default: detected)")
    p.add_argument("--cutoff", type=float, default=12.0,
                   help="zero-lag low-pass for kinematics and forces, Hz (default 12; 0: none)")
    p.add_argument("--sync-plates", type=float, default=0.0, metavar="S",
                   help="refine the plates' clock within +-S seconds against the kinematics (default 0: trust it)")
    p.add_argument("--uncertainty", type=int, default=0, metavar="N",
                   help="add <moment>_sd columns: spread over N body models around de Leva's (e.g. 16)")
    p.add_argument("--out", required=True, type=Path, help="output .sto (OpenSim storage) or .json")


def run(args: argparse.Namespace) -> int:
    from biomech.io import RawDataError
    from biomech.joint_moments import joint_moments_from_files, summary, write_moments

    if args.out.suffix.lower() not in (".sto", ".mot", ".json"):
        raise CommandError(f"--out {args.out}: expected a .sto or .json file name")
    try:
        res = joint_moments_from_files(args.ik, args.grf, mass_kg=args.mass, height_m=args.height, sex=args.sex,
                                       external_loads=args.external_loads, model=args.model,
                                       cutoff_hz=args.cutoff or None, align_s=args.sync_plates,
                                       uncertainty=args.uncertainty)
    except (RawDataError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_moments(res, args.out)
    print(summary(res))
    print(f"wrote {args.out}")
    return 0
