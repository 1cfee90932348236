"""FDR, Inequity Rate, GARBE, SER: hand-checked values and the undefined cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceaudit import ConfigError
from faceaudit.metrics import fdr, garbe, gini, inequity_rate, ser

FMR = [0.01, 0.02, 0.04]
FNMR = [0.1, 0.1, 0.3]
GROUPS = ["A", "B", "C"]


def test_hand_checked_values() -> None:
    # FDR = 1 - (0.5 * (0.04 - 0.01) + 0.5 * (0.3 - 0.1))
    r = fdr(FMR, FNMR, groups=GROUPS)
    assert r.value == pytest.approx(0.885) and r.defined and r.higher_is_fairer
    assert r.components == pytest.approx({"fmr_max_difference": 0.03, "fnmr_max_difference": 0.2})
    # IR = (0.04 / 0.01)^0.5 * (0.3 / 0.1)^0.5 = 2 sqrt(3)
    assert inequity_rate(FMR, FNMR).value == pytest.approx(2 * math.sqrt(3))
    # Gini with n/(n-1): sum|xi-xj| = 0.12, mean 0.07/3 -> 3/2 * 0.12 / (2*9*0.07/3) = 3/7
    assert gini(FMR) == pytest.approx(3 / 7)
    assert gini(FNMR) == pytest.approx(0.4)  # 3/2 * 0.8 / (18 * 0.5/3)
    g = garbe(FMR, FNMR)
    assert g.value == pytest.approx(0.5 * 3 / 7 + 0.5 * 0.4)
    assert g.components == pytest.approx({"gini_fmr": 3 / 7, "gini_fnmr": 0.4})
    assert ser(FMR).value == pytest.approx(4.0)
    assert ser(FNMR).value == pytest.approx(3.0)


def test_alpha_weights() -> None:
    assert fdr(FMR, FNMR, alpha=1.0).value == pytest.approx(0.97)
    assert fdr(FMR, FNMR, alpha=0.0).value == pytest.approx(0.8)
    assert inequity_rate(FMR, FNMR, alpha=1.0).value == pytest.approx(4.0)
    assert garbe(FMR, FNMR, alpha=0.25).value == pytest.approx(0.25 * 3 / 7 + 0.75 * 0.4)
    with pytest.raises(ConfigError, match="alpha must satisfy"):
        fdr(FMR, FNMR, alpha=1.5)


def test_parity_values() -> None:
    same = [0.02, 0.02]
    assert fdr(same, same).value == 1.0
    assert inequity_rate(same, same).value == 1.0
    assert garbe(same, same).value == 0.0
    assert ser(same).value == 1.0
    assert gini([0.0, 0.0, 1.0]) == 1.0  # one group holds all the error (with n/(n-1))


def test_zero_error_group_gives_nan_with_reason() -> None:
    fm = [0.0, 0.02, 0.04]
    r = inequity_rate(fm, FNMR, groups=GROUPS)
    assert math.isnan(r.value) and not r.defined
    assert r.reason == "undefined: group A has zero false matches"
    s = ser(fm, groups=GROUPS)
    assert math.isnan(s.value) and s.reason == "undefined: group A has zero errors"
    # IR is defined if the zero term has no weight
    assert inequity_rate(fm, FNMR, alpha=0.0).value == pytest.approx(3.0)
    # FDR and GARBE stay defined with one zero group
    assert fdr(fm, FNMR).value == pytest.approx(1 - 0.5 * 0.04 - 0.5 * 0.2)
    assert garbe(fm, FNMR).value == pytest.approx(0.5 * gini(fm) + 0.5 * 0.4)
    assert gini(fm) == pytest.approx(1.5 * (2 * (0.02 + 0.04 + 0.02)) / (18 * 0.02))


def test_all_zero_errors() -> None:
    z = [0.0, 0.0]
    r = garbe(z, [0.1, 0.2])
    assert math.isnan(r.value) and r.reason == "undefined: no group has any false match"
    assert garbe(z, [0.1, 0.2], alpha=0.0).value == pytest.approx(gini([0.1, 0.2]))
    assert fdr(z, z).value == 1.0
    r = inequity_rate(z, z, groups=["x", "y"])
    assert r.reason == ("undefined: groups x, y have zero false matches; "
                        "undefined: groups x, y have zero false non-matches")


def test_single_group_and_nan_groups() -> None:
    for fn in (fdr, inequity_rate, garbe):
        r = fn([0.1], [0.2])
        assert math.isnan(r.value) and "at least 2 groups" in r.reason
    assert "at least 2 groups" in ser([0.1]).reason
    # a group with no impostor pairs has NaN FMR: excluded and named
    r = fdr([0.01, np.nan, 0.03], [0.1, 0.2, 0.3], groups=GROUPS)
    assert r.excluded == ("B",)
    assert r.value == pytest.approx(1 - 0.5 * 0.02 - 0.5 * 0.2)
    r = garbe([0.01, np.nan], [0.1, 0.2], groups=["A", "B"])
    assert math.isnan(r.value) and r.excluded == ("B",)


def test_input_validation() -> None:
    with pytest.raises(ConfigError, match="same length"):
        fdr([0.1, 0.2], [0.1])
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        fdr([0.1, 1.2], [0.1, 0.1])
    with pytest.raises(ConfigError, match="one name per rate"):
        fdr([0.1, 0.2], [0.1, 0.1], groups=["a"])
    d = garbe(FMR, FNMR, groups=GROUPS).to_dict()
    assert d["name"] == "GARBE" and d["reason"] is None and d["alpha"] == 0.5
