"""One table of every trained model (the `summary` DVC stage).

    python -m evaluation.summary [artifacts/train] [reports/summary.md]

Reads the full metrics the `train@<name>` stages write (artifacts/train/<name>/metrics.json; or a
folder of <name>.json reports) and prints, then writes as Markdown:
  * recognizers: accuracy and macro-F1 on the subject-wise validation and test splits, epochs,
    parameters and training seconds;
  * torque estimators: per joint RMSE (N m), ICC(3,1) and Pearson r on the test split, side by
    side for every estimator (the ablation: physics-informed torque_ne vs the direct baseline).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from biomech.conventions import MOMENTS

__all__ = ["load_reports", "render"]


def load_reports(report_dir: str | Path) -> dict[str, dict]:
    """{name: metrics} of every ``<report_dir>/<name>/metrics.json`` (a training output folder), else
    of every ``<report_dir>/<name>.json``; an unreadable file stops with its path."""
    d = Path(report_dir)
    files = {f.parent.name: f for f in sorted(d.glob("*/metrics.json"))} or {f.stem: f for f in sorted(d.glob("*.json"))}
    out = {}
    for name, f in files.items():
        try:
            out[name] = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{f}: not a JSON report ({exc})") from None
    return out


def _f(v, fmt: str) -> str:
    return "n/a" if v is None or v != v else format(v, fmt)


def render(reports: dict[str, dict]) -> str:
    cls = {k: r for k, r in reports.items() if r.get("kind") in ("torch", "sklearn")}
    tq = {k: r for k, r in reports.items() if r.get("kind") == "torque"}
    lines = []
    if cls:
        lines += ["## Recognizers (subject-wise splits)", "",
                  "| model | val acc | val macro-F1 | test acc | test macro-F1 | epochs | params | seconds |",
                  "|---|---|---|---|---|---|---|---|"]
        for k, r in sorted(cls.items(), key=lambda kv: -(kv[1].get("test_macro_f1") or 0)):
            lines.append(f"| {k} | {_f(r.get('val_accuracy'), '.3f')} | {_f(r.get('val_macro_f1'), '.3f')} | "
                         f"{_f(r.get('test_accuracy'), '.3f')} | {_f(r.get('test_macro_f1'), '.3f')} | "
                         f"{r.get('epochs', 'n/a')} | {r.get('params', 'n/a')} | {_f(r.get('seconds'), '.0f')} |")
        lines.append("")
    if tq:
        names = sorted(tq)
        lines += ["## Torque estimators (test split, windows with force plates)", "",
                  "| joint moment | " + " | ".join(f"{n} RMSE (N m) | {n} ICC(3,1) | {n} r" for n in names) + " |",
                  "|---|" + "---|---|---|" * len(names)]
        for j in MOMENTS:
            cells = []
            for n in names:
                r = tq[n]
                cells += [_f(r.get("test_rmse", {}).get(j), ".2f"), _f(r.get("test_icc", {}).get(j), ".3f"),
                          _f(r.get("test_pearson", {}).get(j), ".3f")]
            lines.append(f"| {j} | " + " | ".join(cells) + " |")
        lines.append("| mean | " + " | ".join(
            f"{_f(tq[n].get('test_mean_rmse'), '.2f')} | {_f(tq[n].get('test_mean_icc'), '.3f')} | "
            f"{_f(tq[n].get('test_mean_pearson'), '.3f')}" for n in names) + " |")
        lines.append("")
        lines.append("RMSE per kg (all joints): " + ", ".join(
            f"{n} {_f(tq[n].get('test_rmse_nm_per_kg'), '.3f')} N m/kg ({tq[n].get('seconds', 'n/a')} s)"
            for n in names))
        lines.append("")
    if not lines:
        return "No training reports found.\n"
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    report_dir = Path(argv[0]) if argv else Path("artifacts/train")
    out = Path(argv[1]) if len(argv) > 1 else Path("reports/summary.md")
    if not report_dir.is_dir():
        print(f"summary: {report_dir} does not exist (run the train stages first)", file=sys.stderr)
        return 1
    try:
        text = render(load_reports(report_dir))
    except ValueError as exc:
        print(f"summary: {exc}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
