"""The model bundle the in-process commands (`recognize`, `analyze`) use, found as the service finds it:
``--bundle DIR``, else ``$ATHLETE_MM_BUNDLE``, else the BentoML model ``athlete-mm-bundle:latest``
written by the `package` stage (``$BENTOML_HOME``, default ~/bentoml)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from cli import CommandError


def add_bundle_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", type=Path, default=None,
                   help="bundle folder (default: $ATHLETE_MM_BUNDLE, else BentoML's athlete-mm-bundle:latest)")


def load(path: Path | None):
    from serving.bundle import BUNDLE_MODEL, BundleError, load_bundle

    if path is None and os.environ.get("ATHLETE_MM_BUNDLE"):
        path = Path(os.environ["ATHLETE_MM_BUNDLE"])
    if path is None:
        import bentoml

        try:
            path = Path(bentoml.models.get(f"{BUNDLE_MODEL}:latest").path)
        except bentoml.exceptions.NotFound:
            raise CommandError(f"no bundle: pass --bundle DIR, set ATHLETE_MM_BUNDLE, or build the "
                               f"BentoML model {BUNDLE_MODEL} with `python -m stages.package`") from None
    try:
        return load_bundle(path)
    except BundleError as exc:
        raise CommandError(str(exc)) from None


def emit(out: dict, args: argparse.Namespace, summary) -> int:
    """Write ``out`` to ``--out`` (JSON) when given, print it (``--json``) or its ``summary``."""
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out))
    print(json.dumps(out) if args.json else summary(out))
    return 0
