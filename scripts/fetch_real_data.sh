#!/usr/bin/env bash
# Fetch the real test material the project uses but never commits (idempotent).
#
#   bash scripts/fetch_real_data.sh [CACHE_DIR]      (default: .cache/real under the repo root)
#
# Pose2Sim 0.10.49's PyPI wheel (~51 MB) ships real videos of a person (Demo_*/videos/*.mp4)
# and OpenSim files with a BlazePose (= MediaPipe 33) marker set, scaling and IK setups
# (OpenSim_Setup/). We download the wheel with pip (no dependencies, nothing installed)
# and unzip only those folders into CACHE_DIR/pose2sim/. sktime 1.2.0's wheel (~8 MB) ships the
# UEA BasicMotions archive (smartwatch accelerometer + gyroscope, 4 classes): its two .ts files
# go to CACHE_DIR/basicmotions/. A second run only checks the stamps.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-$ROOT/.cache/real}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
WHEEL_VERSION=0.10.49
STAMP="$CACHE/pose2sim/.fetched-$WHEEL_VERSION"
SKTIME_VERSION=1.2.0
BM_STAMP="$CACHE/basicmotions/.fetched-sktime-$SKTIME_VERSION"
if [[ -f "$STAMP" && -f "$BM_STAMP" ]]; then
  exit 0
fi
mkdir -p "$CACHE"
if [[ ! -f "$BM_STAMP" ]]; then
  SK_WHEEL="$CACHE/sktime-$SKTIME_VERSION-py3-none-any.whl"
  [[ -f "$SK_WHEEL" ]] || "$PY" -m pip download --quiet --no-deps "sktime==$SKTIME_VERSION" -d "$CACHE"
  "$PY" - "$SK_WHEEL" "$CACHE/basicmotions" <<'PYEOF'
import sys, zipfile
from pathlib import Path
wheel, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for split in ("TRAIN", "TEST"):
        name = f"sktime/datasets/data/BasicMotions/BasicMotions_{split}.ts"
        (out / Path(name).name).write_bytes(z.read(name))
PYEOF
  touch "$BM_STAMP"
fi
if [[ -f "$STAMP" ]]; then
  exit 0
fi
WHEEL="$CACHE/pose2sim-$WHEEL_VERSION-py3-none-any.whl"
if [[ ! -f "$WHEEL" ]]; then
  echo "fetch_real_data: downloading pose2sim==$WHEEL_VERSION wheel (~51 MB) into $CACHE" >&2
  "$PY" -m pip download --quiet --no-deps "pose2sim==$WHEEL_VERSION" -d "$CACHE"
fi
"$PY" - "$WHEEL" "$CACHE/pose2sim" <<'PYEOF'
import sys, zipfile
from pathlib import Path
wheel, out = sys.argv[1], Path(sys.argv[2])
keep = lambda n: (n.startswith("Pose2Sim/Demo_") and "/videos/" in n and n.endswith(".mp4")) or (
    n.startswith("Pose2Sim/OpenSim_Setup/") and not n.startswith("Pose2Sim/OpenSim_Setup/Geometry/"))
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if keep(n)]
    if not names:
        sys.exit(f"fetch_real_data: {wheel} holds no Pose2Sim/Demo_*/videos or OpenSim_Setup files")
    for n in names:
        z.extract(n, out)
print(f"fetch_real_data: {len(names)} files into {out}", file=sys.stderr)
PYEOF
touch "$STAMP"
