#!/usr/bin/env bash
# Create .venv and install the pinned stack. Idempotent: a second run only re-checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [[ ! -x .venv/bin/python ]]; then
    echo "[setup] creating .venv with $PY"
    "$PY" -m venv .venv
fi
stamp=.venv/.athlete-mm-setup
want=$(cat pyproject.toml requirements-mediapipe.txt requirements-sktime.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    echo "[setup] environment up to date"
    exit 0
fi
pip_q() {
    # pip prints one harmless warning per missing local wheel directory; hide only those lines.
    local log rc=0
    log=$(mktemp)
    .venv/bin/pip install --disable-pip-version-check -q "$@" >"$log" 2>&1 || rc=$?
    grep -v "is ignored: it is neither a file nor a directory" "$log" || true
    rm -f "$log"
    return $rc
}
echo "[setup] torch + torchvision (from the machine's local wheels)"
pip_q torch==2.14.1 torchvision==0.29.1
echo "[setup] project + pinned stack"
pip_q -e ".[dev]"
echo "[setup] mediapipe 0.10.21 (--no-deps, see requirements-mediapipe.txt)"
pip_q --no-deps -r requirements-mediapipe.txt
echo "[setup] sktime 1.2.0 (--no-deps, see requirements-sktime.txt)"
pip_q --no-deps -r requirements-sktime.txt
.venv/bin/python -c "import torch, torchvision, opensim, cv2, mediapipe, dvc, mlflow, optuna, bentoml, sktime" \
    || { echo "[setup] import check failed" >&2; exit 1; }
# the web view's test drives the system Chromium (Playwright's own browser download is not reachable)
[[ -x /usr/bin/chromium ]] || { [[ $(id -u) == 0 ]] && apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
    || echo "[setup] no /usr/bin/chromium (apt-get install chromium as root): tests/test_web_view.py will skip"
echo "$want" > "$stamp"
echo "[setup] done"
