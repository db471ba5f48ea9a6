"""Reference implementation, in numpy, of the formulas of Vehtari, Gelman,
Simpson, Carpenter and Buerkner (2021), "Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC", section
3 and appendix A (Geyer's initial monotone sequence with Stan's/ArviZ's
handling of the last even lag and the bound tau >= 1/log10(S)). Written from
the paper, independently of src/diag/, to check mcmc-diag's numbers.
Chains are arrays [C, N]."""
from statistics import NormalDist

import numpy as np

_PHI_INV = NormalDist().inv_cdf


def autocov(x):
    """Per chain, acov_t = 1/N sum_{i<N-t} (x_i - m)(x_{i+t} - m), by FFT
    padded past 2N so there is no wrap-around."""
    n = x.shape[1]
    m = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x - x.mean(axis=1, keepdims=True), n=m, axis=1)
    return np.fft.irfft(f * np.conj(f), n=m, axis=1)[:, :n] / n


def ess(x):
    """Eq. (10)-(11) of the paper: rho_t = 1 - (W - mean_m s_m^2 rho_tm) / var+."""
    x = np.asarray(x, dtype=float)
    C, N = x.shape
    S = C * N
    if np.isnan(x).any():
        return float("nan")
    if x.max() - x.min() < 1e-15:
        return float(S)
    acov = autocov(x)
    W = acov[:, 0].mean() * N / (N - 1)
    var_plus = W * (N - 1) / N + (x.mean(axis=1).var(ddof=1) if C > 1 else 0.0)

    def rho(t):
        return 1 - (W - acov[:, t].mean()) / var_plus

    r = np.zeros(N)
    r[0] = 1.0
    r[1] = rho(1)
    # initial positive sequence of the pairs P_k = rho_2k + rho_2k+1
    even, odd, t = 1.0, r[1], 1
    while t < N - 3 and even + odd > 0:
        even, odd = rho(t + 1), rho(t + 2)
        if even + odd >= 0:
            r[t + 1], r[t + 2] = even, odd
        t += 2
    last = t - 2
    if even > 0:
        r[last + 1] = even
    # initial monotone sequence: each pair no larger than the one before
    for t in range(1, last - 1, 2):
        prev = r[t - 1] + r[t]
        if r[t + 1] + r[t + 2] > prev:
            r[t + 1] = r[t + 2] = prev / 2
    tau = -1 + 2 * r[: last + 1].sum() + r[last + 1: last + 2].sum()
    tau = max(tau, 1 / np.log10(S))
    return S / tau


def split(x):
    h = x.shape[1] // 2
    return np.concatenate([x[:, :h], x[:, x.shape[1] - h:]], axis=0)


def rank_normalize(x):
    """z = Phi^-1((r - 3/8) / (S + 1/4)), r the average rank over all draws."""
    flat = x.ravel()
    order = np.argsort(flat, kind="stable")
    sorted_ = flat[order]
    ranks = np.empty(flat.size)
    i = 0
    while i < flat.size:
        j = i
        while j < flat.size and sorted_[j] == sorted_[i]:
            j += 1
        ranks[order[i:j]] = (i + 1 + j) / 2
        i = j
    p = (ranks - 0.375) / (flat.size + 0.25)
    return np.array([_PHI_INV(v) for v in p]).reshape(x.shape)


def rhat_basic(x):
    C, N = x.shape
    B = N * x.mean(axis=1).var(ddof=1)
    W = x.var(axis=1, ddof=1).mean()
    return float(np.sqrt(((N - 1) / N * W + B / N) / W))


def summary(x):
    x = np.asarray(x, dtype=float)
    S = x.size
    med = np.median(x)
    rb = rhat_basic(rank_normalize(split(x)))
    rt = rhat_basic(rank_normalize(split(np.abs(x - med))))
    q05, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
    e_mean = ess(split(x))
    tails = [ess(split((x <= q).astype(float))) for q in (q05, q95)]
    sd = x.std(ddof=1)
    return {
        "mean": x.mean(), "sd": sd, "mcse_mean": sd / np.sqrt(e_mean),
        "q5": q05, "q50": q50, "q95": q95,
        "ess_bulk": ess(rank_normalize(split(x))), "ess_tail": min(tails), "ess_mean": e_mean,
        "rhat": max(rb, rt), "iat": S / e_mean,
    }
