"""Float64 numpy references written directly from METHOD.md, one anchor at a time.

Deliberately naive: plain loops, probabilities (not log space), no code
shared with the package. Inputs in the tests keep exp() in range.
"""

import numpy as np


def _unit(x):
    norm = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    return x / np.maximum(norm, 1e-12)


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def _others(p, k):
    """`1 - p[k]` as the sum of the other probabilities: subtracting from 1
    cancels (p[k] = 1 - 1e-17 gives 0 in float64, not 1e-17)."""
    return np.sum(np.delete(p, k))


def _contrast(s, t, y, ref, ref_y, normalize):
    s, t = np.asarray(s, np.float64), np.asarray(t, np.float64)
    y = np.zeros(len(s), int) if y is None else np.asarray(y)
    c, cy = t, y
    if ref is not None:
        ref = np.asarray(ref, np.float64)
        ref_y = np.zeros(len(ref), int) if ref_y is None else ref_y
        c = np.concatenate([t, ref])
        cy = np.concatenate([y, np.asarray(ref_y)])
    if normalize:
        s, c = _unit(s), _unit(c)
    return s, c, cy


def crd(s, t, temperature=0.07, ref=None, ref_y=None, normalize=True):
    s, c, cy = _contrast(s, t, None, ref, ref_y, normalize)
    out = np.zeros(len(s))
    for i in range(len(s)):
        num = np.exp(s[i] @ c[i] / temperature)
        den = 0.0
        for j in range(len(c)):
            if cy[j] != -1:
                den += np.exp(s[i] @ c[j] / temperature)
        out[i] = -np.log(num / den)
    return out


def supcrd(s, t, y, temperature=0.07, ref=None, ref_y=None, normalize=True):
    s, c, cy = _contrast(s, t, y, ref, ref_y, normalize)
    out = np.zeros(len(s))
    for i in range(len(s)):
        pos = neg = 0.0
        for j in range(len(c)):
            e = np.exp(s[i] @ c[j] / temperature)
            if cy[j] == y[i]:
                pos += e
            elif cy[j] != -1:
                neg += e
        out[i] = -np.log(pos / (pos + neg))
    return out


def logit_weighted_supcrd(s, t, y, z, alpha=1.0, beta=8.0, temperature=0.07,
                          kd_temperature=4.0, ref=None, ref_y=None,
                          normalize=True, decoupled=False):
    s, c, cy = _contrast(s, t, y, ref, ref_y, normalize)
    z = np.asarray(z, np.float64)
    out = np.zeros(len(s))
    for i in range(len(s)):
        p = _softmax(z[i] / kd_temperature)
        pos = neg = 0.0
        has_neg = False
        for j in range(len(c)):
            e = np.exp(s[i] @ c[j] / temperature)
            if cy[j] == y[i]:
                pos += e
            elif cy[j] != -1:
                has_neg = True
                neg += _others(p, cy[j]) * e
        if decoupled:
            push = np.log(neg) if has_neg and neg > 0 else 0.0
            out[i] = alpha * p[y[i]] * -np.log(pos) + beta * push
        else:
            a = alpha * p[y[i]] * pos
            out[i] = -np.log(a / (a + beta * neg))
    return out


def kd(zs, zt, temperature=4.0):
    out = np.zeros(len(zs))
    for i in range(len(zs)):
        ps = _softmax(np.asarray(zs[i], np.float64) / temperature)
        pt = _softmax(np.asarray(zt[i], np.float64) / temperature)
        out[i] = temperature**2 * np.sum(pt * np.log(pt / ps))
    return out


def dkd(zs, zt, y, alpha=1.0, beta=8.0, temperature=4.0):
    out = np.zeros(len(zs))
    for i in range(len(zs)):
        ps = _softmax(np.asarray(zs[i], np.float64) / temperature)
        pt = _softmax(np.asarray(zt[i], np.float64) / temperature)
        bs = np.array([ps[y[i]], _others(ps, y[i])])
        bt = np.array([pt[y[i]], _others(pt, y[i])])
        tckd = np.sum(bt * np.log(bt / bs))
        rest = [k for k in range(len(ps)) if k != y[i]]
        qs = ps[rest] / ps[rest].sum()
        qt = pt[rest] / pt[rest].sum()
        nckd = np.sum(qt * np.log(qt / qs))
        out[i] = temperature**2 * (alpha * tckd + beta * nckd)
    return out
