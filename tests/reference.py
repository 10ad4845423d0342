"""Float64 numpy references written directly from docs/method.md, one anchor at a time.

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


def _kl(p, q):
    """`sum p log(p / q)` with `0 log 0 = 0` (a teacher probability that
    underflows to exactly 0 contributes nothing)."""
    keep = p > 0
    return np.sum(p[keep] * np.log(p[keep] / q[keep]))


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
        out[i] = temperature**2 * _kl(pt, ps)
    return out


def dkd(zs, zt, y, alpha=1.0, beta=8.0, temperature=4.0):
    out = np.zeros(len(zs))
    for i in range(len(zs)):
        ps = _softmax(np.asarray(zs[i], np.float64) / temperature)
        pt = _softmax(np.asarray(zt[i], np.float64) / temperature)
        bs = np.array([ps[y[i]], _others(ps, y[i])])
        bt = np.array([pt[y[i]], _others(pt, y[i])])
        tckd = _kl(bt, bs)
        # q = p[rest] / sum p[rest], written as the softmax of the rest's
        # logits: the same number, and defined when p[rest] underflows to 0.
        rest = [k for k in range(len(ps)) if k != y[i]]
        qs = _softmax(np.asarray(zs[i], np.float64)[rest] / temperature)
        qt = _softmax(np.asarray(zt[i], np.float64)[rest] / temperature)
        nckd = _kl(qt, qs)
        out[i] = temperature**2 * (alpha * tckd + beta * nckd)
    return out


def standardize(z):
    """Row z-scores with the unbiased std; a constant row gives zeros."""
    z = np.asarray(z, np.float64)
    out = np.zeros_like(z)
    for i in range(len(z)):
        std = np.std(z[i], ddof=1)
        if std > 0:
            out[i] = (z[i] - z[i].mean()) / std
    return out


def _teacher_p(z_i, classes_present, kd_temperature):
    """softmax(z_i / T) renormalised over the classes present."""
    p = _softmax(np.asarray(z_i, np.float64) / kd_temperature)
    keep = np.zeros(len(p), bool)
    keep[list(classes_present)] = True
    p = np.where(keep, p, 0.0)
    return p / p.sum()


def soft_supcrd(s, t, y, z, lam=0.5, temperature=0.07, kd_temperature=4.0,
                standardize_logits=False, ref=None, ref_y=None,
                normalize=True):
    s, c, cy = _contrast(s, t, y, ref, ref_y, normalize)
    z = standardize(z) if standardize_logits else np.asarray(z, np.float64)
    valid = [j for j in range(len(c)) if cy[j] != -1]
    present = sorted({int(cy[j]) for j in valid})
    count = {k: sum(1 for j in valid if cy[j] == k) for k in present}
    out = np.zeros(len(s))
    for i in range(len(s)):
        p = _teacher_p(z[i], present, kd_temperature)
        den = sum(np.exp(s[i] @ c[j] / temperature) for j in valid)
        for j in valid:
            q = lam * p[cy[j]] / count[cy[j]] + (1 - lam) * (j == i)
            out[i] -= q * np.log(np.exp(s[i] @ c[j] / temperature) / den)
    return out


def soft_supcrd_prototypes(s, t, y, z, lam=1.0, temperature=0.07,
                           kd_temperature=4.0, standardize_logits=False,
                           ref=None, ref_y=None, normalize=True):
    s, c, cy = _contrast(s, t, y, ref, ref_y, normalize)
    z = standardize(z) if standardize_logits else np.asarray(z, np.float64)
    present = sorted({int(k) for k in cy if k != -1})
    protos = {}
    for k in present:
        rows = c[cy == k]
        mean = rows.mean(axis=0)
        if normalize:  # a mean within float32's rounding has no direction
            short = np.linalg.norm(mean) <= 1e-6
            mean = np.zeros_like(mean) if short else _unit(mean[None])[0]
        protos[k] = mean
    out = np.zeros(len(s))
    for i in range(len(s)):
        p = _teacher_p(z[i], present, kd_temperature)
        e = {k: np.exp(s[i] @ protos[k] / temperature) for k in present}
        den = sum(e.values())
        for k in present:
            target = lam * p[k] + (1 - lam) * (k == y[i])
            if target > 0:
                out[i] -= target * np.log(e[k] / den)
    return out


def soft_supcrd_decoupled(s, t, y, z, alpha=1.0, beta=1.0, temperature=0.07,
                          kd_temperature=4.0, standardize_logits=False,
                          ref=None, ref_y=None, normalize=True):
    s, c, cy = _contrast(s, t, y, ref, ref_y, normalize)
    z = standardize(z) if standardize_logits else np.asarray(z, np.float64)
    valid = [j for j in range(len(c)) if cy[j] != -1]
    present = sorted({int(cy[j]) for j in valid})
    out = np.zeros(len(s))
    for i in range(len(s)):
        p = _teacher_p(z[i], present, kd_temperature)
        e = {j: np.exp(s[i] @ c[j] / temperature) for j in valid}
        den = sum(e.values())
        mass = np.zeros(len(p))
        for j in valid:
            mass[cy[j]] += e[j] / den
        rest = [k for k in present if k != y[i]]
        bt = np.array([p[y[i]], sum(p[k] for k in rest)])
        bs = np.array([mass[y[i]], sum(mass[k] for k in rest)])
        nckd = 0.0
        if rest:
            # p[rest] / sum p[rest] as the softmax of the rest's logits:
            # the same number, defined when p[rest] underflows to 0.
            qt = _softmax(z[i][rest] / kd_temperature)
            qs = np.array([mass[k] for k in rest]) / bs[1]
            nckd = _kl(qt, qs)
        out[i] = alpha * _kl(bt, bs) + beta * nckd
    return out


def _pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    return (a @ b) / (np.sqrt(a @ a) * np.sqrt(b @ b) + 1e-8)


def dist(zs, zt, beta=1.0, gamma=1.0, temperature=4.0):
    ps = np.array([_softmax(np.asarray(r, np.float64) / temperature)
                   for r in zs])
    pt = np.array([_softmax(np.asarray(r, np.float64) / temperature)
                   for r in zt])
    intra = 1 - np.mean([_pearson(ps[:, k], pt[:, k])
                         for k in range(ps.shape[1])])
    return np.array([temperature**2 * (beta * (1 - _pearson(ps[i], pt[i]))
                                       + gamma * intra)
                     for i in range(len(ps))])
