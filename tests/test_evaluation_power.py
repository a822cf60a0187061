"""Power of the exact McNemar test (evaluation.power) against a simulation with the stage's own test."""
import numpy as np
import pytest

from evaluation import power as P
from evaluation.metrics import mcnemar_exact


def _simulated_power(n, p_a, p_b, draws, seed=0):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(draws):
        u = rng.random(n)
        a = u < p_a                       # only a right
        b = (u >= p_a) & (u < p_a + p_b)  # only b right
        hits += mcnemar_exact(~b, ~a)["p_value"] <= 0.05
    return hits / draws


@pytest.mark.parametrize("n,p_a,p_b", [(60, 0.05, 0.2), (459, 0.006, 0.02)])
def test_exact_power_matches_simulation(n, p_a, p_b):
    exact = P.exact_power(n, p_a, p_b)
    sim = _simulated_power(n, p_a, p_b, draws=2000)
    assert abs(exact - sim) < 0.035, (exact, sim)


def test_exact_power_is_at_most_alpha_without_a_difference_and_grows_with_n():
    assert P.exact_power(459, 0.01, 0.01) <= 0.05
    assert P.exact_power(400, 0.006, 0.016) < P.exact_power(1600, 0.006, 0.016) < P.exact_power(6400, 0.006, 0.016)


def test_sample_size_reaches_the_power_and_fewer_windows_do_not():
    n = P.sample_size(0.006, 0.016)
    assert P.exact_power(n, 0.006, 0.016) >= 0.8
    assert P.exact_power(int(n * 0.9), 0.006, 0.016) < 0.8
    # the normal approximation (Connor 1987) is of the same size
    assert 0.7 < n / P._approx_n(0.006, 0.016, 0.05, 0.8) < 1.4


def test_min_detectable_gap_is_where_the_power_crosses_the_target():
    g = P.min_detectable_gap(459, 0.006)
    assert P.exact_power(459, 0.006, 0.006 + g) >= 0.8 > P.exact_power(459, 0.006, 0.006 + 0.8 * g)
    assert P.min_detectable_gap(1836, 0.006) < g


def test_design_effect_counts_clustered_discordance():
    a = np.ones(400, bool)
    b = np.ones(400, bool)
    b[[0, 1, 2, 3]] = False                        # four discordant windows, 100 groups of 4
    spread = np.arange(400) % 100                  # each in its own group: as independent
    together = np.arange(400) // 4                 # all four in one group: counts as ~1 draw of 4
    assert P.design_effect(a, b, spread) == pytest.approx(1.0, abs=0.05)
    assert P.design_effect(a, b, together) == pytest.approx(4.0, abs=0.1)
    with pytest.raises(ValueError, match="groups"):
        P.design_effect(a, b, spread[:-1])


def test_bad_rates_are_named():
    with pytest.raises(ValueError, match="p_a=0.7"):
        P.exact_power(10, 0.7, 0.5)
    with pytest.raises(ValueError, match="no difference"):
        P.sample_size(0.01, 0.01)
