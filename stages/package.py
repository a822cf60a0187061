"""DVC stage `package`: the champion models -> a versioned BentoML bento `athlete-mm:<version>`.

    python -m stages.package          # what `dvc repro package` runs
    bentoml serve athlete-mm:latest   # serves what it built (README "Serving")

Reads params.yaml section `package`. Steps: the champion recognizer and torque estimator
(`serving.champion`, the one place that decides), their bundle with the dataset's scalers and
settings (`serving.bundle.build_bundle`), saved as the BentoML model `athlete-mm-bundle`, then
`bentoml build` of serving/bentofile.yaml with labels: git sha, processed-data hash, MLflow run ids
and headline metrics. The version is `<git sha 8>-<bundle sha 8>` (same code + same models = same
tag). Writes `<out_dir>/bento.json` (tag, labels, the bento's path) and `reports/package.json`.
The store is BentoML's (`$BENTOML_HOME`, default ~/bentoml); `<out_dir>/athlete-mm-<version>.bento`
is its export (`bentoml import` it elsewhere).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stages.params import ParamsError, section, validate


class PackageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artifacts_dir: str = "artifacts"
    processed_dir: str = "data/processed/synth"
    out_dir: str = "artifacts/package"
    report: str = "reports/package.json"
    bentofile: str = "serving/bentofile.yaml"
    tracking_uri: str | None = "sqlite:///mlflow.db"   # MLflow run ids of the packaged models (optional)
    export: bool = True
    reference: str | None = "artifacts/reference/reference.npz"   # the feedback's (stages.reference)


def _run_id(name: str, uri: str | None) -> str | None:
    """The latest finished MLflow run of model ``name`` (tag model_name), or None."""
    if not uri:
        return None
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return None
    try:
        import mlflow

        mlflow.set_tracking_uri(uri)
        runs = mlflow.search_runs(search_all_experiments=True, filter_string=f"tags.model_name = '{name}'",
                                  order_by=["attributes.start_time DESC"], max_results=1, output_format="list")
        return runs[0].info.run_id if runs else None
    except Exception as exc:  # tracking is optional for packaging; say why it is missing
        print(f"package: no MLflow run id for {name} ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def _headline(metrics: dict, keys: tuple[str, ...]) -> dict[str, str]:
    return {k: f"{metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), (int, float))}


# headline metrics copied into the labels: metrics.json's (fallback) or champion.json's names
RECOGNIZER_METRICS = ("val_macro_f1", "test_macro_f1", "test_accuracy", "val_window_macro_f1",
                      "test_window_macro_f1", "test_window_accuracy", "ece_calibrated")
TORQUE_METRICS = ("test_rmse_nm_per_kg", "test_mean_rmse", "test_mean_rmse_nm", "test_mean_icc_2_1")


def labels_for(champion, torque, git: str | None, data: str, bundle_sha: str) -> dict[str, str]:
    lab = {"git_sha": git or "unknown", "data_hash": data, "bundle_sha256": bundle_sha,
           "recognizer": champion.name, "recognizer_source": champion.source.split(" (")[0][:60],
           "recognizer_run_id": champion.run_id or "none", "temperature": f"{champion.temperature:g}"}
    lab.update({f"recognizer_{k}": v for k, v in _headline(champion.metrics, RECOGNIZER_METRICS).items()})
    if torque is not None:
        lab.update({"torque": torque.name, "torque_run_id": torque.run_id or "none"})
        lab.update({f"torque_{k}": v for k, v in _headline(torque.metrics, TORQUE_METRICS).items()})
    return lab


def package(p: PackageParams) -> dict:
    import bentoml

    from serving.bundle import BUNDLE_MODEL, build_bundle
    from serving.champion import resolve_champion, resolve_torque
    from training.tracking import dataset_hash, git_sha

    champion = resolve_champion(p.artifacts_dir)
    torque = resolve_torque(p.artifacts_dir)
    for m in (champion, torque):
        if m is not None and m.run_id is None:
            m.run_id = _run_id(m.name, p.tracking_uri)
    git, data = git_sha(), dataset_hash(p.processed_dir)   # content hash of every processed file
    out = Path(p.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        provenance = {"git_sha": git, "data_hash": data, "processed_dir": p.processed_dir}
        reference = p.reference if p.reference and Path(p.reference).is_file() else None
        if reference is None:
            print(f"package: no feedback reference ({p.reference} not found; `python -m stages.reference` builds "
                  "it): /analyze and /feedback will answer without technique feedback", file=sys.stderr)
        bj = build_bundle(Path(tmp) / "bundle", champion, torque, p.processed_dir, provenance, reference)
        files = json.loads(bj.read_text())["files"]
        bundle_sha = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        version = f"{(git or 'nogit')[:8]}-{bundle_sha[:8]}"
        labels = labels_for(champion, torque, git, data, bundle_sha[:16])
        for tag in (f"{BUNDLE_MODEL}:{version}",):
            try:
                bentoml.models.delete(tag)
            except bentoml.exceptions.NotFound:
                pass
        with bentoml.models.create(BUNDLE_MODEL, labels=labels, metadata={"files": files}) as model_ref:
            shutil.copytree(bj.parent, model_ref.path, dirs_exist_ok=True)
        model_tag = str(model_ref.tag)
    try:
        bentoml.bentos.delete(f"athlete-mm:{version}")
    except bentoml.exceptions.NotFound:
        pass
    bento = bentoml.bentos.build_bentofile(p.bentofile, build_ctx=".", version=version, labels=labels)
    exported = None
    if p.export:
        for old in out.glob("athlete-mm-*.bento"):
            old.unlink()
        exported = bentoml.bentos.export_bento(bento.tag, str((out / f"athlete-mm-{version}.bento").resolve()))
    info = {"bento": str(bento.tag), "model": model_tag, "labels": labels, "exported": exported,
            "bento_path": str(bento.path)}
    (out / "bento.json").write_text(json.dumps(info, indent=1))
    report = {"bento": str(bento.tag), "recognizer": champion.name, "torque": torque.name if torque else None,
              **{k: float(v) for k, v in labels.items() if k.partition("_")[2] in RECOGNIZER_METRICS + TORQUE_METRICS}}
    Path(p.report).parent.mkdir(parents=True, exist_ok=True)
    Path(p.report).write_text(json.dumps(report, indent=1))
    print(f"package: built {bento.tag} ({champion.name}, {champion.source}; torque "
          f"{torque.name if torque else 'none'}); exported to {exported}", file=sys.stderr)
    return info


def main(argv: list[str] | None = None) -> int:
    try:
        _, raw = section("package")
        p = validate(PackageParams, raw, "package")
    except ParamsError as exc:
        print(f"package: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from serving.bundle import BundleError
    from serving.champion import ChampionError

    try:
        package(p)
    except (ChampionError, BundleError) as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
