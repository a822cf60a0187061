"""Ablation switches change the model (IMU placement, attention off), the variants map to params.yaml
keys and `dvc exp run -S` commands, the report is built from tagged MLflow runs, and (slow) one
variant runs as a DVC experiment on the tiny profile."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from biomech.conventions import IMU_SENSORS
from evaluation import ablations as A
from models import build_model
from models.testing import make_batch

from .preprocess_fixtures import raw  # noqa: F401 (module-scoped fixture: a tiny raw dataset)

ROOT = Path(__file__).resolve().parents[1]


def _batch():
    b = make_batch(3, 32, Tv=2, H=8, W=8, num_classes=4, seed=0)
    b["modality_mask"][:] = True
    return b


def test_imu_sensors_subset_reads_only_those_sensors():
    torch.manual_seed(0)
    m = build_model("tcn", {"num_classes": 4, "modalities": ["imu"], "imu_sensors": ["wrist_r", "wrist_l"]}).eval()
    full = build_model("tcn", {"num_classes": 4, "modalities": ["imu"]})
    assert m.imu_sensors == ("wrist_l", "wrist_r")                    # the batch's order
    assert m.encoders["imu"].in_features == 2 * 9 and full.encoders["imu"].in_features == 6 * 9
    b = _batch()
    ref = m(b)["logits"]
    other = dict(b, imu=b["imu"].clone())
    other["imu"][:, :, IMU_SENSORS.index("pelvis")] += 5.0            # a sensor the model does not read
    assert torch.allclose(m(other)["logits"], ref)
    wrist = dict(b, imu=b["imu"].clone())
    wrist["imu"][:, :, IMU_SENSORS.index("wrist_r")] += 5.0
    assert not torch.allclose(m(wrist)["logits"], ref)
    with pytest.raises(ValueError, match="ankle"):
        build_model("tcn", {"num_classes": 4, "imu_sensors": ["ankle"]})
    with pytest.raises(ValueError, match="not among the modalities"):
        build_model("tcn", {"num_classes": 4, "modalities": ["landmarks"], "imu_sensors": ["trunk"]})


def test_attention_off_means_uniform_fusion_and_pooling():
    m = build_model("tcn", {"num_classes": 4, "attention": False}).eval()
    on = build_model("tcn", {"num_classes": 4})
    names = {n for n, _ in m.named_parameters()}
    assert not any(n.startswith(("fusion.score", "heads.pool.score")) for n in names)
    assert any(n.startswith("fusion.score") for n, _ in on.named_parameters())
    out = m(_batch())
    assert torch.allclose(out["temporal_attention"], torch.full_like(out["temporal_attention"], 1 / 32))
    assert torch.allclose(out["modality_attention"], torch.full_like(out["modality_attention"], 0.5))


def test_variant_overrides_split_into_model_cfg_and_training():
    cfg, train, other = A._split_overrides({"train.archs.tcn.imu_sensors": ["trunk"],
                                            "train.archs.tcn.train.loss.kl_weight": 0.0,
                                            "train.archs.tcn.train.epochs": 3,
                                            "preprocess.window.length": 32}, "tcn")
    assert cfg == {"imu_sensors": ["trunk"]} and train == {"loss": {"kl_weight": 0.0}, "epochs": 3}
    assert other == {"preprocess.window.length": 32}
    cmd = A.dvc_command({"train.archs.tcn.imu_sensors": ["wrist_l", "wrist_r"]}, "imu_placement/wrists")
    assert cmd == (".venv/bin/dvc exp run robustness -n imu_placement-wrists -S 'ablations.tag=imu_placement/wrists' "
                   "-S '++train.archs.tcn.imu_sensors=[wrist_l,wrist_r]'")


def test_params_variants_are_valid_switches():
    from stages.params import section, validate

    ap = validate(A.AblationParams, section("ablations", ROOT / "params.yaml")[1], "ablations")
    assert {"baseline/champion", "loss/ce_only", "imu_placement/wrists", "window/32"} <= set(ap.variants)
    for tag, ov in ap.variants.items():
        model = A.variant_model(ap, ov)
        cfg, _, _ = A._split_overrides(ov, model)
        build_model(model, {"num_classes": 4, **cfg})                 # every model switch builds


def test_gat_off_is_the_same_model_without_its_graph_attention():
    from models.tcn_gat import GraphAttention

    torch.manual_seed(0)
    on = build_model("tcn_gat", {"num_classes": 4})
    torch.manual_seed(0)
    off = build_model("tcn_gat", {"num_classes": 4, "gat": False}).eval()
    assert sum(isinstance(m, GraphAttention) for m in on.modules()) == 2
    assert not any(isinstance(m, GraphAttention) for m in off.modules())
    on_keys, off_keys = set(on.state_dict()), set(off.state_dict())
    assert off_keys == {k for k in on_keys if not k.startswith("gats.")}      # nothing else removed or added
    b = _batch()
    out = off(b)
    N = off.layout.num_nodes
    assert torch.allclose(out["node_attention"], torch.full((3, N), 1.0 / N))
    assert torch.allclose(out["angle_weights"], torch.ones_like(out["angle_weights"]))
    assert out["logits"].shape == on.eval()(b)["logits"].shape
    from evaluation.benchmark import count_flops

    assert count_flops(off, b) < count_flops(on, b)
    with pytest.raises(ValueError, match="gat: false"):
        build_model("tcn_gat", {"num_classes": 4, "gat_layers": 0})


def test_gat_off_variant_ablates_tcn_gat_and_has_its_own_baseline():
    from stages.params import section, validate

    ap = validate(A.AblationParams, section("ablations", ROOT / "params.yaml")[1], "ablations")
    model, cfg, train, prep = A._variant_overrides(ap, "gat/off", {"train.archs.tcn.train.threads": 1,
                                                                   "train.archs.tcn_gat.train.threads": 1,
                                                                   "preprocess.workers": 1})
    assert model == "tcn_gat" and cfg == {"gat": False} and train == {"threads": 1} and prep == {}
    assert A.variant_model(ap, ap.variants["gat/baseline"]) == "tcn_gat"
    assert "-S '++ablations.model=tcn_gat' -S '++train.archs.tcn_gat.gat=false'" in A.dvc_command(
        ap.variants["gat/off"], "gat/off")
    model, cfg, _, prep = A._variant_overrides(ap, "window/96", {"preprocess.workers": 1})
    assert model == "tcn" and cfg == {} and prep == {"window.length": 96, "workers": 1}
    with pytest.raises(ValueError, match="generate.n_clips"):
        A._variant_overrides(A.AblationParams(variants={"x/y": {"generate.n_clips": 3}}), "x/y", None)


def test_report_uses_the_familys_own_baseline(tmp_path):
    ap = A.AblationParams(tracking={"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                          robustness_details=str(tmp_path / "none.json"), variants={})
    tags = {"profile": "p", "source": "t"}
    A._log_run(ap, "baseline/champion", {"test_window_accuracy": 0.99, "test_clip_accuracy": 1.0}, tags, {})
    A._log_run(ap, "gat/baseline", {"test_window_accuracy": 0.90, "test_clip_accuracy": 0.95,
                                    "n_test_windows": 459, "n_test_clips": 180}, tags, {})
    A._log_run(ap, "gat/off", {"test_window_accuracy": 0.80, "test_clip_accuracy": 0.85}, tags, {})
    md = A.report_markdown(ap)
    assert "### gat (profile: p)" in md and "### baseline" not in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| gat/off"))
    assert "-0.100 | -0.100 |" in row                                   # against tcn_gat, not the champion
    assert "| 459 / 180 |" in next(ln for ln in md.splitlines() if ln.startswith("| gat/baseline"))


@pytest.mark.parametrize("length", [32, 96])
def test_window_length_reaches_the_dataset_the_model_and_the_service(length, raw, tmp_path):
    """A window/<L> variant re-preprocesses the raw clips: the processed windows, dataset.json, a
    model fed them and the packaged service all use L frames (50 Hz: L / 50 s per window)."""
    from serving.bundle import build_bundle, load_bundle
    from serving.champion import resolve_champion
    from serving.client import request_from_clip
    from serving.inference import recognize_many
    from serving.schemas import RecognizeRequest

    over = {"window.length": length, "dataset": "tiny", "workers": 1, "plots": False}
    data = A.preprocess_variant(over, raw.parent, tmp_path / "w")
    info = json.loads((data / "dataset.json").read_text())
    assert info["window_length"] == length and info["params"]["window"]["length"] == length
    lm = np.load(data / "train" / "landmarks.npy", mmap_mode="r")
    assert lm.shape[1] == length and np.load(data / "train" / "video.npy", mmap_mode="r").shape[1] == 8
    stamp = (data / "dataset.json").stat().st_mtime_ns
    assert A.preprocess_variant(over, raw.parent, tmp_path / "w") == data           # same parameters: reused
    assert (data / "dataset.json").stat().st_mtime_ns == stamp

    art = tmp_path / "artifacts" / "train" / "tcn"
    art.mkdir(parents=True)
    cfg = {"num_classes": len(info["classes"]), "modalities": ["landmarks", "imu"]}
    m = build_model("tcn", cfg)
    torch.save({"model_name": "tcn", "model_cfg": cfg, "classes": info["classes"], "state_dict": m.state_dict()},
               art / "model.pt")
    (art / "metrics.json").write_text(json.dumps({"model": "tcn", "kind": "torch", "val_macro_f1": 0.5}))
    build_bundle(tmp_path / "bundle", resolve_champion(tmp_path / "artifacts"), None, data)
    b = load_bundle(tmp_path / "bundle")
    assert b.meta["window_length"] == length
    clip = next(p.parent for p in sorted(raw.glob("*/*/meta.json")))
    res = recognize_many(b, [RecognizeRequest.model_validate(request_from_clip(clip, ("landmarks", "imu")))])[0]
    assert res.windows and all(w.t_end_s - w.t_start_s == pytest.approx(length / 50.0, abs=1e-3) for w in res.windows)


def test_report_tables_from_tagged_mlflow_runs(tmp_path):
    ap = A.AblationParams(tracking={"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                          robustness_details=str(tmp_path / "none.json"),
                          variants={"loss/ce_only": {"train.archs.tcn.train.loss.kl_weight": 0.0}})
    base = {"test_window_accuracy": 0.95, "test_window_accuracy_low": 0.9, "test_window_accuracy_high": 0.99}
    A._log_run(ap, "baseline/champion", base, {"profile": "tiny", "source": "t"}, {})
    A._log_run(ap, "loss/ce_only", {**base, "test_window_accuracy": 0.90}, {"profile": "tiny", "source": "t"}, {})
    A._log_run(ap, "loss/ce_only", {"test_window_accuracy": 0.5}, {"profile": "tiny", "source": "t",
                                                                  "ablation_role": "train"}, {})
    md = A.report_markdown(ap)
    assert "### loss (profile: tiny)" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| loss/ce_only"))
    assert "0.900 [0.900, 0.990]" in row and "-0.050" in row           # the training run is not a score
    assert "-S '++train.archs.tcn.train.loss.kl_weight=0.0'" in md


@pytest.mark.slow
def test_dvc_exp_run_one_ablation_on_tiny(tmp_path):
    """`dvc exp run -S` of one variant in a fresh copy, on the tiny profile; `dvc exp show` lists it
    and `dvc metrics diff` shows the robustness headline change."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, tmp_path / f)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    dvc = str(Path(sys.executable).parent / "dvc")

    def run(*args):
        p = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=3000)
        assert p.returncode == 0, f"{args}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        return p.stdout

    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "ci@example.invalid"],
                ["git", "config", "user.name", "ci"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        run(*cmd)
    run(dvc, "exp", "run", "-S", "profile=tiny", "-S", "train.threads=1")   # the baseline on tiny (in the workspace)
    run("git", "add", "-A")
    run("git", "commit", "-qm", "tiny baseline")
    run(dvc, "exp", "run", "robustness", "-n", "wrists", "-S", "ablations.tag=imu_placement/wrists",
        "-S", "++train.archs.tcn.imu_sensors=[wrist_l,wrist_r]")
    show = run(dvc, "exp", "show", "--md")
    assert "wrists" in show and "imu_placement/wrists" in show
    diff = run(dvc, "metrics", "diff", "HEAD", "--md")
    assert "reports/robustness.json" in diff
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert params["train"]["archs"]["tcn"]["imu_sensors"] == ["wrist_l", "wrist_r"]
    head = json.loads((tmp_path / "reports" / "robustness.json").read_text())
    assert head["ablation"]["tag"] == "imu_placement/wrists"


def test_report_lists_the_video_frame_curves(tmp_path):
    pt = {"window_accuracy": 0.5, "window_accuracy_ci": [0.4, 0.6], "changed_predictions": 0.25}
    details = {"models": {"champion": "tcn"}, "n_test": 10, "n_test_video": 8,
               "curves": {"champion": {"modality_mask": [], "preset": []}},
               "video_curves": {"sta_c3d_lstm": {"video_blank": [{"level": 0.0, **pt, "changed_predictions": 0.0},
                                                                 {"level": 45.0, **pt}]}}}
    (tmp_path / "d.json").write_text(json.dumps(details))
    ap = A.AblationParams(tracking={"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                          robustness_details=str(tmp_path / "d.json"), variants={})
    md = A.report_markdown(ap)
    assert "### video frames lost (video models)" in md and "8 evenly spaced test windows" in md
    assert "| sta_c3d_lstm | video_blank | 0.500 [0.400, 0.600], 0.0 % | 0.500 [0.400, 0.600], 25.0 % |" in md
