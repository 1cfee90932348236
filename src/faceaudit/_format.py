"""Number formatting for people: rates as percentages and "1 in N", intervals, counts.

The one formatter of faceaudit: the HTML report, the findings and the command line use it.
Also :func:`label`, the one place a group label or other user-given text is shortened for
display (figures, tables, console).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

from ._errors import shorten

DISPLAY_LABEL_CHARS = 40
"""Longest label shown in figures and tables; longer ones are shortened by :func:`label`.

40 characters fit every figure (``"F / Black or African American / 45–59"`` has 37); from
about 50, the tick labels of a 2-group FMR heatmap leave its axes no room at all.
"""


def label(text: Any, max_chars: int = DISPLAY_LABEL_CHARS) -> str:
    """A label as shown to people: itself, or shortened when longer than ``max_chars``.

    A shortened label keeps its start and end and adds a 6-digit fingerprint of the full
    text (``#d69e68``), so two long labels that share a start still look different. The full
    value is kept in ``results.json`` and the CSV tables; only displays use this. Linear in
    the length of ``text``; everything after it (text layout in figures) is then bounded.

    >>> label("F / black")
    'F / black'
    >>> label("x" * 100_000)
    'xxxxxxxxxxxxxxxxxxxxx…xxxxxxxxxx #d69e68'
    """
    s = str(text)
    if len(s) <= max_chars:
        return s
    tag = " #" + hashlib.sha256(s.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return shorten(s, max(max_chars - len(tag), 3), count=False) + tag


def shorten_labels(text: str, labels: Iterable[Any], max_chars: int = DISPLAY_LABEL_CHARS) -> str:
    """``text`` (a sentence, a warning) with every label of ``labels`` longer than
    ``max_chars`` shown as :func:`label` shows it; for text that quotes labels.

    Longer labels are replaced first (a label inside a longer one stays consistent). Costs
    one substring search per long label, so a report stays linear in its size.

    >>> shorten_labels("F / " + "x" * 50 + " fails most", ["F / " + "x" * 50, "M"])
    'F / xxxxxxxxxxxxxxxxx…xxxxxxxxxx #b39a06 fails most'
    """
    long = sorted({str(x) for x in labels if len(str(x)) > max_chars}, key=len, reverse=True)
    for lab in long:
        if lab in text:
            text = text.replace(lab, label(lab, max_chars))
    return text


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def as_float(x: Any) -> float:
    """``x`` as a float; NaN when it is missing or not a number."""
    try:
        return float(x) if x is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def count(n: Any) -> str:
    """``12345 -> "12,345"``; missing -> ``"–"``."""
    return f"{int(n):,}" if _finite(n) else "–"


def pct(x: Any, digits: int = 2) -> str:
    """A rate as a percentage with ``digits`` significant digits: ``0.00123 -> "0.12%"``.

    >>> pct(0.00123), pct(0.5), pct(0), pct(None), pct(1.0), pct(1.5e-7), pct(0.09999)
    ('0.12%', '50%', '0%', '–', '100%', '0.000015%', '10%')
    """
    if not _finite(x):
        return "–"
    x = float(x) * 100
    if x == 0:
        return "0%"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    s = f"{x:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s + "%"


def one_in(x: Any) -> str:
    """A small rate as "1 in N" with N rounded to 2 significant digits: ``1e-4 -> "1 in 10,000"``.

    >>> one_in(1e-4), one_in(0.0012), one_in(0), one_in(0.6)
    ('1 in 10,000', '1 in 830', 'none', '6 in 10')
    """
    if not _finite(x):
        return "–"
    x = float(x)
    if x <= 0:
        return "none"
    if x >= 0.1:
        return f"{round(x * 10):d} in 10"
    n = 1 / x
    mag = 10 ** (math.floor(math.log10(n)) - 1)
    return f"1 in {round(n / mag) * mag:,}"


def rate(x: Any) -> str:
    """``"0.12%, or 1 in 830"``; for rates of 0 or >= 10% only the percentage."""
    if not _finite(x):
        return "–"
    if float(x) == 0 or float(x) >= 0.1:
        return pct(x)
    return f"{pct(x)}, or {one_in(x)}"


def interval(lo: Any, hi: Any, fmt=pct) -> str:
    """``"0.05%–0.21%"``; ``""`` when either bound is missing. A rate's lower bound below
    1e-12 prints as 0% (it is 0 for every purpose, and 0.000000000065% misleads).

    >>> interval(6.5e-13, 0.93), interval(0.0005, 0.0021)
    ('0%–93%', '0.05%–0.21%')
    """
    if not (_finite(lo) and _finite(hi)):
        return ""
    if fmt is pct and 0 < float(lo) < 1e-12:
        lo = 0.0
    return f"{fmt(lo)}–{fmt(hi)}"


def times(x: Any) -> str:
    """A ratio: ``2.345 -> "2.3×"``, ``0.5 -> "0.50×"``, ``inf -> "∞"``.

    >>> times(2.345), times(1.02), times(0.5), times(12.4), times(148.3), times(8765.0), times(0.0)
    ('2.3×', '1.02×', '0.50×', '12×', '150×', '8,800×', '0×')
    """
    if x is None:
        return "–"
    x = float(x)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞"
    if x == 0:
        return "0×"
    if x < 1:
        return f"{x:.2f}×"
    if x < 2:
        return f"{x:.2f}×"
    if x < 10:
        return f"{x:.1f}×"
    mag = 10 ** (math.floor(math.log10(x)) - 1)  # two significant digits
    return f"{round(x / mag) * mag:,.0f}×"


def score(x: Any) -> str:
    """A score or threshold with 4 significant digits."""
    return f"{float(x):.4g}" if _finite(x) else "–"


def num(x: Any, digits: int = 4, *, near_one: bool = False) -> str:
    """A number for a table: ``digits`` significant digits for a float, as is otherwise; ``"–"``
    when missing. With ``near_one``, a float in (0.9999, 1) reads ``"≈1"``.

    >>> num(0.0123456), num(7), num(float("nan")), num(0.99995, near_one=True)
    ('0.01235', '7', '–', '≈1')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        if near_one and 0.9999 < x < 1.0:
            return "≈1"
        return f"{x:.{digits}g}"
    return str(x)


def num_interval(lo: Any, hi: Any, digits: int = 4, *, near_one: bool = False) -> str:
    """``"0.01–0.05"``; ``"–"`` when the lower bound is missing."""
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return "–"
    return f"{num(lo, digits, near_one=near_one)}–{num(hi, digits, near_one=near_one)}"


def percent(x: Any, decimals: int = 3) -> str:
    """A rate as a percentage with fixed ``decimals``: ``0.0626263 -> "6.263%"``."""
    return f"{100 * float(x):.{decimals}f}%" if _finite(x) else "–"


def level(confidence: Any) -> str:
    """A confidence level as printed beside every interval: ``0.95 -> "95%"``, ``0.9 -> "90%"``,
    ``0.995 -> "99.5%"``; missing -> ``"–"`` (95% is never assumed).

    >>> level(0.95), level(0.9), level(0.99), level(0.995), level(None)
    ('95%', '90%', '99%', '99.5%', '–')
    """
    if not _finite(x := as_float(confidence)):
        return "–"
    s = f"{100 * x:.3f}".rstrip("0").rstrip(".")
    return s + "%"


def rate_interval_text(lo: Any, hi: Any, *, one_sided: bool = False, fmt=pct) -> str:
    """The interval of a rate as shown: ``"0.05%–0.21%"``, or for 0 errors the one-sided
    upper bound ``"≤ 1.5%"`` (never ``"0%–0%"``); ``""`` when the bound is missing.

    >>> rate_interval_text(0.0005, 0.0021), rate_interval_text(0.0, 0.0153, one_sided=True)
    ('0.05%–0.21%', '≤ 1.5%')
    """
    if one_sided:
        return f"≤ {fmt(hi)}" if _finite(hi) else ""
    return interval(lo, hi, fmt)  # (a lower bound below 1e-12 prints as 0%: see interval)


def amount(x: Any) -> str:
    """An expected number of people: 2 significant digits, thousands separated.

    >>> amount(82.94), amount(480000.0), amount(0.0123), amount(0), amount(None)
    ('83', '480,000', '0.012', '0', '–')
    """
    if not _finite(x):
        return "–"
    v = float(x)
    if v == 0:
        return "0"
    if abs(v) >= 10:
        mag = 10 ** (math.floor(math.log10(abs(v))) - 1)
        return f"{round(v / mag) * mag:,.0f}"
    return f"{v:.2g}"


def ratio_interval_text(lo: Any, hi: Any, *, unbounded: bool | None = None) -> str:
    """The interval of a ratio: ``"1.2×–4.3×"``, or ``"≥ 4.3×"`` when the upper bound is
    infinite (the data cannot bound it); ``""`` when the lower bound is missing.

    >>> ratio_interval_text(2.34, 4.3), ratio_interval_text(4.3, float("inf"))
    ('2.3×–4.3×', '≥ 4.3×')
    >>> ratio_interval_text(0.0, float("inf"))
    '0× to unbounded'
    """
    if not _finite(lo):
        return ""
    inf = unbounded if unbounded is not None else not _finite(hi)
    if inf:
        return f"≥ {times(lo)}" if float(lo) > 0 else f"{times(lo)} to unbounded"
    return f"{times(lo)}–{times(hi)}"
