"""evaluation.metrics and evaluation.agreement against hand-computed cases, sklearn and a published
worked example (Shrout & Fleiss 1979, Table 2)."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from evaluation import agreement, metrics as M


def test_scores_hand_case():
    y = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    s = M.classification_scores(y, np.eye(3)[pred], 3)
    assert s["accuracy"] == pytest.approx(3 / 5)
    assert s["per_class_accuracy"] == pytest.approx([0.5, 1.0, 0.0])
    assert s["per_class_accuracy_std"] == pytest.approx(np.std([0.5, 1.0, 0.0]))
    assert s["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # F1 per class: 0: p=1/2 r=1/2 -> .5 ; 1: p=2/3 r=1 -> .8 ; 2: 0
    assert s["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_scores_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    prob = M.softmax(rng.normal(size=(300, 5)) + 2 * np.eye(5)[y])
    s = M.classification_scores(y, prob, 5)
    p = prob.argmax(1)
    assert s["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert s["macro_precision"] == pytest.approx(precision_score(y, p, average="macro"))
    assert s["macro_recall"] == pytest.approx(recall_score(y, p, average="macro"))
    assert s["auc_ovr"] == pytest.approx(roc_auc_score(y, prob, multi_class="ovr", average="macro"))
    # the bootstrap's numpy versions agree with sklearn, also with a class never predicted or present
    prob6 = np.concatenate([prob, np.zeros((300, 1))], 1)
    assert M.macro_f1(y, prob6) == pytest.approx(f1_score(y, p, labels=list(range(6)), average="macro", zero_division=0))
    assert M.accuracy(y, prob) == pytest.approx(np.mean(p == y))


def test_auc_skips_absent_class():
    y = np.array([0, 0, 1, 1])
    prob = np.array([[.9, .1, 0], [.6, .4, 0], [.3, .7, 0], [.8, .2, 0]])
    auc, per = M.roc_auc_ovr(y, prob)
    assert np.isnan(per[2])
    assert per[0] == pytest.approx(0.75) and auc == pytest.approx(0.75)


def test_aggregate_clips_mean_log_prob():
    y = np.array([1, 1, 0, 1])
    lp = np.log(np.array([[.4, .6], [.9, .1], [.8, .2], [.3, .7]]))
    cy, clp, ids, groups = M.aggregate_clips(y, lp, ["b", "b", "a", "c"], ["x", "x", "y", "x"])
    assert ids == ["b", "a", "c"] and cy.tolist() == [1, 0, 1] and groups == ["x", "y", "x"]
    assert clp[0] == pytest.approx((lp[0] + lp[1]) / 2)
    assert clp[0].argmax() == 0   # mean log-prob: 0.36 vs 0.06 -> class 0 although one window says 1
    with pytest.raises(ValueError, match="'b'"):
        M.aggregate_clips(np.array([1, 0]), lp[:2], ["b", "b"])


def test_bootstrap_resamples_athletes_not_windows():
    # athlete A: 100 windows all right, athlete B: 100 all wrong -> a bootstrap over athletes can only
    # give 0, 0.5 or 1; over windows it would sit tightly around 0.5
    y = np.zeros(200, int)
    prob = np.zeros((200, 2))
    prob[:100, 0] = 1
    prob[100:, 1] = 1
    groups = ["A"] * 100 + ["B"] * 100
    ci = M.bootstrap_ci(y, prob, groups, M.accuracy, n_boot=200, seed=1)
    assert ci["value"] == pytest.approx(0.5)
    assert ci["low"] == 0.0 and ci["high"] == 1.0
    again = M.bootstrap_ci(y, prob, groups, M.accuracy, n_boot=200, seed=1)
    assert again == ci


def test_bootstrap_ci_narrows_with_more_athletes():
    rng = np.random.default_rng(3)
    def ci_width(n_ath):
        y = rng.integers(0, 2, n_ath * 20)
        flip = rng.random(len(y)) < 0.2
        prob = np.eye(2)[np.where(flip, 1 - y, y)]
        c = M.bootstrap_ci(y, prob, np.repeat(np.arange(n_ath), 20), M.accuracy, n_boot=300, seed=0)
        assert c["low"] <= c["value"] <= c["high"]
        return c["high"] - c["low"]
    assert ci_width(40) < ci_width(5)


def test_ece_hand_case():
    prob = np.tile([0.8, 0.2], (10, 1))
    y = np.array([0] * 6 + [1] * 4)
    assert M.expected_calibration_error(prob, y) == pytest.approx(0.2)
    bins = M.reliability_bins(prob, y, n_bins=5)
    assert [b["n"] for b in bins] == [0, 0, 0, 10, 0]      # 0.8 falls in (0.6, 0.8]
    assert bins[3]["accuracy"] == pytest.approx(0.6)


def test_temperature_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 4)) * 1.5
    p = M.softmax(true_logits)
    y = np.array([rng.choice(4, p=row) for row in p])
    logits = 3.0 * true_logits                              # an overconfident model
    T = M.fit_temperature(logits, y)
    assert T == pytest.approx(3.0, rel=0.1)
    assert M.expected_calibration_error(M.softmax(logits / T), y) < 0.5 * M.expected_calibration_error(M.softmax(logits), y)


def test_mcnemar_exact_hand_case():
    a = np.array([True] * 1 + [False] * 9 + [True] * 5)
    b = np.array([False] * 1 + [True] * 9 + [True] * 5)
    r = M.mcnemar_exact(a, b)
    assert (r["a_only"], r["b_only"], r["both"]) == (1, 9, 5)
    assert r["p_value"] == pytest.approx(2 * (1 + 10) / 1024)   # two-sided exact binomial, n = 10
    assert M.mcnemar_exact(a, a)["p_value"] == 1.0


def test_mean_std():
    r = M.mean_std([1.0, 2.0, 3.0])
    assert (r["mean"], r["std"], r["n"]) == (2.0, 1.0, 3)
    assert M.mean_std([0.9])["std"] == 0.0


SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_icc_shrout_fleiss_worked_example():
    # Shrout & Fleiss (1979), Table 2 data (6 targets, 4 judges); Table 4: ICC(1,1) .17, (2,1) .29, (3,1) .71
    r = agreement.icc(SHROUT_FLEISS)
    assert r["icc_1_1"] == pytest.approx(0.166, abs=0.002)
    assert r["icc_2_1"] == pytest.approx(0.290, abs=0.002)
    assert r["icc_3_1"] == pytest.approx(0.715, abs=0.002)


def test_icc_hand_computed_and_offset_sensitive():
    # n = 3 subjects, k = 2 raters: grand mean 8/3, SS_rows 19/3, SS_cols 8/3, SS_total 28/3 -> SS_err 1/3,
    # MS_R 19/6, MS_C 8/3, MS_E 1/6: ICC(3,1) = 3 / (10/3) = 0.9, ICC(2,1) = 3 / (10/3 + 5/3) = 0.6
    r = agreement.icc(np.array([[1, 2], [2, 3], [3, 5]]))
    assert r["icc_3_1"] == pytest.approx(0.9) and r["icc_2_1"] == pytest.approx(0.6)
    # a constant offset between the raters leaves consistency at 1 and lowers absolute agreement
    x = np.linspace(0, 10, 50)
    r = agreement.icc(np.stack([x, x + 3.0], 1))
    assert r["icc_3_1"] == pytest.approx(1.0) and r["icc_2_1"] < 0.8
    with pytest.raises(ValueError, match="shape"):
        agreement.icc(np.ones((1, 2)))


def test_regression_scores_bias_hits_absolute_agreement_only():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(50, 20, 2)) * 10
    p = t + rng.normal(size=t.shape)
    p[..., 1] += 8.0                                   # a constant bias on channel b
    s = agreement.regression_scores(p, t, ["a", "b"])
    e = (p - t).reshape(-1, 2)
    assert s["rmse"]["a"] == pytest.approx(np.sqrt((e[:, 0] ** 2).mean()))
    assert s["mae"]["b"] == pytest.approx(np.abs(e[:, 1]).mean())
    assert s["pearson"]["b"] == pytest.approx(np.corrcoef(p[..., 1].ravel(), t[..., 1].ravel())[0, 1])
    assert s["icc_3_1"]["b"] == pytest.approx(s["icc_3_1"]["a"], abs=0.01)   # consistency ignores the bias
    assert s["icc_2_1"]["b"] < s["icc_2_1"]["a"] - 0.1                       # absolute agreement does not
    g = agreement.grouped_regression_scores(p, t, ["x"] * 25 + ["y"] * 25, ["a", "b"])
    assert set(g) == {"x", "y"} and g["x"]["n_frames"] == 25 * 20


def test_angle_score_hand_case():
    t = np.zeros((1, 4, 2))
    p = np.array([[[2, 2], [4, 6], [10, 10], [20, 0]]], float)   # per-frame mean |err|: 2, 5, 10, 10
    s = agreement.angle_score(p, t, thresholds=(3, 5, 10))
    assert s["score"] == {"3": 0.25, "5": 0.5, "10": 1.0}
    assert s["mae_deg"] == pytest.approx(6.75)
