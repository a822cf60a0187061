"""The held-out cohort pipeline's functions end to end on a tiny profile: a training cohort generated,
preprocessed and trained on (tcn x 2 seeds, tcn on IMU, MiniRocket x 2 seeds), then a held-out cohort
from the same generator settings with another seed, preprocessed with the training data's scalers and
scored (stages/holdout/, evaluation/holdout.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stages.holdout import (HoldoutParams, check_disjoint_athletes, cohort_generate_params, cohort_preprocess_params,
                            load_params, split_athletes)
from stages.params import ParamsError, deep_merge, load_raw


def _sections():
    """The generate / preprocess sections with the tiny profile applied (params.yaml of the repo)."""
    from preprocessing.params import PreprocessParams
    from stages.generate import GenerateParams

    raw = load_raw()
    tiny = raw["profiles"]["tiny"]
    gen = deep_merge(raw["generate"], {**tiny["generate"], "n_athletes": 4, "n_clips": 12, "workers": 2})
    pre = deep_merge(raw["preprocess"], {**tiny["preprocess"], "plots": False})
    return GenerateParams.model_validate(gen), PreprocessParams.model_validate(pre)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    import torch

    from evaluation.holdout import champion_name, evaluate_cohort, model_dirs, write_reports
    from evaluation.params import ChampionRule
    from preprocessing.run import preprocess
    from stages.generate import generate
    from training.loop import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("holdout")
    gen, pre = _sections()
    # the training cohort (the default pipeline's generate -> preprocess -> train)
    generate(gen, root / "raw", progress=False)
    pp_ref = pre.model_copy(update={"raw_dir": str(root / "raw"), "out_dir": str(root / "processed"),
                                    "report_dir": str(root / "reports" / "preprocess")})
    preprocess(pp_ref, progress=False)
    ref = root / "processed" / gen.dataset
    cfg = {"epochs": 2, "batch_size": 8, "lr": 3e-3, "threads": 1, "tracking": {"enabled": False}}
    art = root / "artifacts"
    for name, model_cfg, out in (("tcn", {}, art / "train" / "tcn"), ("tcn", {}, art / "seeds" / "tcn" / "seed_1"),
                                 ("tcn", {"modalities": ["imu"]}, art / "train" / "tcn_imu"),
                                 ("minirocket", {"num_kernels": 200}, art / "train" / "minirocket"),
                                 ("minirocket", {"num_kernels": 200}, art / "seeds" / "minirocket" / "seed_1")):
        seed = 1 if "seed_1" in str(out) else 0
        train(name, model_cfg, {**cfg, "seed": seed}, ref, out, progress=False)
    (art / "champion.json").write_text(json.dumps({"recognizer": {"name": "tcn"}}))
    # the held-out cohort
    h = HoldoutParams(seed=gen.seed + 1, n_athletes=3, n_clips=6, raw_dir=str(root / "raw"),
                      processed_dir=str(root / "processed"), reference_data=str(ref), train_dir=str(art / "train"),
                      seeds_dir=str(art / "seeds"), champion_file=str(art / "champion.json"),
                      models=["tcn", "tcn_imu", "minirocket"], report_dir=str(root / "reports" / "holdout"),
                      metrics_file=str(root / "reports" / "holdout.json"), markdown=str(root / "reports" / "holdout.md"),
                      threads=1, bootstrap={"n_boot": 50, "seed": 0})
    gp = cohort_generate_params(gen, h)
    generate(gp, Path(h.raw_dir), progress=False, athlete_prefix=h.athlete_prefix)
    preprocess(cohort_preprocess_params(pre, h), progress=False, scalers_from=ref / "scalers.json")
    data = root / "processed" / h.dataset
    res = evaluate_cohort(data, ref, model_dirs(h.train_dir, h.seeds_dir, h.models), champion_name(h.champion_file),
                          ChampionRule(), h.bootstrap, threads=1)
    head = write_reports(res["summary"], res["reports"], h.metrics_file, h.markdown, Path(h.report_dir) / "details.json")
    return {"root": root, "ref": ref, "data": data, "h": h, "gen": gen, "gp": gp, "res": res, "head": head}


def test_cohort_keeps_generator_settings_and_draws_new_athletes(cohort):
    gen, gp = cohort["gen"], cohort["gp"]
    same = {k: v for k, v in gen.model_dump().items() if k not in ("dataset", "seed", "n_athletes", "n_clips")}
    assert {k: gp.model_dump()[k] for k in same} == same
    root = cohort["root"] / "raw"
    ref_ath = json.loads((root / gen.dataset / "athletes.json").read_text())
    new_ath = json.loads((root / "holdout" / "athletes.json").read_text())
    assert all(a["athlete_id"].startswith("holdout") for a in new_ath) and len(new_ath) == 3
    # new draws: not the first athletes of the training cohort renamed
    assert [(a["height"], a["mass"]) for a in new_ath] != [(a["height"], a["mass"]) for a in ref_ath[:3]]
    ids = split_athletes(cohort["data"])
    assert ids == {a["athlete_id"] for a in new_ath} and not ids & split_athletes(cohort["ref"])
    with pytest.raises(ValueError, match="athlete id"):
        check_disjoint_athletes(split_athletes(cohort["ref"]), cohort["ref"])


def test_every_clip_is_test_and_scalers_are_reused_not_refitted(cohort):
    from evaluation.holdout import check_scalers_reused
    from sigproc.normalize import ChannelScaler

    data, ref = cohort["data"], cohort["ref"]
    split = json.loads((data / "split.json").read_text())
    assert split["windows"]["train"] == 0 and split["windows"]["val"] == 0 and split["windows"]["test"] > 0
    mine, theirs = (json.loads((d / "scalers.json").read_text()) for d in (data, ref))
    for key in ("landmarks", "imu", "grf"):
        assert mine[key]["center"] == theirs[key]["center"] and mine[key]["scale"] == theirs[key]["scale"]
    assert str(ref / "scalers.json") in mine["fitted_on"]
    # a refit on the cohort would give other statistics: the reference's are what the windows carry
    imu = np.load(data / "test" / "imu.npy")
    present = np.load(data / "test" / "modality_mask.npy")[:, 2]
    sc = ChannelScaler.from_dict(theirs["imu"])
    phys = sc.inverse_transform(imu[present].reshape(-1, sc.n_channels))
    refit = ChannelScaler("zscore").fit(phys)
    assert not np.allclose(refit.center_, sc.center_, rtol=1e-3, atol=1e-3)
    assert not np.allclose(imu[present].reshape(-1, sc.n_channels).mean(0), 0.0, atol=1e-3)
    check_scalers_reused(data, ref)
    tampered = cohort["root"] / "tampered"
    tampered.mkdir()
    (tampered / "scalers.json").write_text(json.dumps({**mine, "imu": refit.to_dict()}))
    with pytest.raises(ValueError, match="imu"):
        check_scalers_reused(tampered, ref)


def test_mcnemar_counts_match_the_models_correct_windows(cohort):
    res = cohort["res"]
    test, preds, sig = res["test"], res["preds"], res["summary"]["significance"]
    assert res["summary"]["n_windows"] == len(test) == json.loads((cohort["data"] / "split.json").read_text())["windows"]["test"]
    base = sig["mcnemar"]["baseline"]
    assert (base["a"], base["b"], base["n_pairs"]) == ("tcn", "minirocket", 2)
    for k, pair in enumerate(base["pairs"]):
        ca = preds["tcn"][k]["log_prob"].argmax(1) == test.label
        cb = preds["minirocket"][k]["log_prob"].argmax(1) == test.label
        w = pair["window"]
        assert (w["a_only"], w["b_only"], w["both"], w["neither"]) == (
            int((ca & ~cb).sum()), int((~ca & cb).sum()), int((ca & cb).sum()), int((~ca & ~cb).sum()))
        wc = pair["window_clustered"]           # never more significant than the test for independent windows
        assert abs(wc["z"]) <= abs(w["a_only"] - w["b_only"]) / max(np.sqrt(w["a_only"] + w["b_only"]), 1) + 1e-9
    # the two tcn seeds are different models (else the pairs would not be replicates)
    assert not np.array_equal(preds["tcn"][0]["log_prob"], preds["tcn"][1]["log_prob"])
    assert sig["mcnemar"]["single_modality"]["b"] == "tcn_imu"
    assert base["power"]["n"] == len(test)


def test_reports_carry_the_headline_of_every_model(cohort):
    head, res, h = cohort["head"], cohort["res"], cohort["h"]
    assert json.loads(Path(h.metrics_file).read_text()) == head
    for name in ("tcn", "tcn_imu", "minirocket"):
        acc = float(np.mean(res["preds"][name][0]["log_prob"].argmax(1) == res["test"].label))
        assert head["window_accuracy"][name] == pytest.approx(acc, abs=1e-4)
    assert set(head["fault_macro_f1"]) == {"tcn", "tcn_imu"}          # MiniRocket has no fault head
    assert set(head["champion_vs_baseline"]) == {"p_seed_pair_0", "p_seed_pair_1", "p_clustered_seed_pair_0",
                                                 "p_clustered_seed_pair_1", "min_detectable_gap"}
    md = Path(h.markdown).read_text()
    assert "| tcn (champion) |" in md and "McNemar (exact), tcn vs minirocket" in md


def test_cohort_params_reject_a_colliding_cohort():
    gen, pre = _sections()
    base = dict(n_athletes=3, n_clips=6, models=["tcn"])
    with pytest.raises(ParamsError, match="holdout.seed"):
        cohort_generate_params(gen, HoldoutParams(seed=gen.seed, **base))
    with pytest.raises(ParamsError, match="athlete_prefix"):
        cohort_generate_params(gen, HoldoutParams(seed=1, athlete_prefix="athlete", **base))
    with pytest.raises(ParamsError, match="holdout.dataset"):
        cohort_preprocess_params(pre, HoldoutParams(seed=1, dataset=pre.dataset, **base))
    pp = cohort_preprocess_params(pre, HoldoutParams(seed=1, **base))
    assert pp.filters == pre.filters and pp.window == pre.window and pp.dataset == "holdout"


def test_set_overrides_a_holdout_key_and_rejects_unknown_ones():
    h = load_params(["train_dir=/elsewhere/train", "n_clips=10"])
    assert h.train_dir == "/elsewhere/train" and h.n_clips == 10
    with pytest.raises(ParamsError, match="holdout section"):
        load_params(["no_such_key=1"])


def test_clustered_mcnemar_discounts_errors_shared_by_an_athlete():
    from evaluation.holdout import clustered_mcnemar

    groups = np.repeat(np.arange(20), 50)
    ca = np.ones(1000, bool)
    # 100 windows only a gets right, all from 2 of the 20 athletes: nearly two observations, not 100
    cb = ca.copy()
    cb[groups < 2] = False
    clustered = clustered_mcnemar(ca, cb, groups)
    assert clustered["design_effect"] > 10 and clustered["p_value"] > 1e-3      # the iid z of 10 gives p ~ 1e-23
    # the same 100 windows spread over every athlete: no inflation, the iid statistic (deff clipped at 1)
    spread = ca.copy()
    spread[np.arange(0, 1000, 10)] = False
    r = clustered_mcnemar(ca, spread, groups)
    assert r["design_effect"] <= 1.0 and r["z"] == pytest.approx(10.0) and r["p_value"] < 1e-20
    assert clustered_mcnemar(ca, ca, groups)["p_value"] == 1.0
