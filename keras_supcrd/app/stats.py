"""Mean, spread and paired confidence intervals over seeds."""

import math

import numpy as np

# Two-sided 95% quantiles of Student's t, t_{0.975}(df), df = 1..30.
T_975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
         2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
         2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
         2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
Z_975 = 1.959964


def t_quantile(df):
    """t_{0.975} with `df` degrees of freedom (the normal's beyond 30)."""
    if df < 1:
        raise ValueError(f"`df` must be >= 1. Received: {df}")
    return T_975[df - 1] if df <= len(T_975) else Z_975


def summarize(values):
    """`{"mean", "std", "n", "values"}`; std is the sample std (ddof=1),
    None for a single value (one seed says nothing about the spread)."""
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else None,
            "n": int(len(values)), "values": values.tolist()}


def paired_difference(a, b):
    """Mean of `a - b` over paired runs (same seed) with its 95% interval.

    The interval is the t interval of the paired differences,
    `mean +- t_{0.975}(n - 1) * std / sqrt(n)`; None with one pair.

    Returns:
        `{"mean", "low", "high", "n"}`.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(
            f"`a` and `b` must be paired 1-D runs. Received shapes {a.shape} "
            f"and {b.shape}.")
    d = a - b
    n = len(d)
    mean = float(d.mean())
    if n == 1:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = t_quantile(n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}
