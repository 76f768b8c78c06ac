"""Reference values for monitor's drift tests, from Debian's python3-scipy.

Writes reference.json: for several pairs of samples, the two-sample KS
statistic (scipy.stats.ks_2samp) and the Kolmogorov-limit p-value
(scipy.stats.kstwobign at sqrt(n*m/(n+m))*D, which monitor.KS computes;
ks_2samp's own 'asymp' p-value uses the one-sample exact distribution at
round(n*m/(n+m)) and is recorded for comparison only), PSI over counts,
and the chi-square test of homogeneity (scipy.stats.chi2_contingency,
without continuity correction).

    python3 monitor/testdata/reference.py > monitor/testdata/reference.json
"""
import json

import numpy as np
from scipy import stats

EPS = 1e-4
rng = np.random.default_rng(20261127)


def psi(ref, cur):
    r = np.asarray(ref, float) / sum(ref)
    c = np.asarray(cur, float) / sum(cur)
    r = np.where(r == 0, EPS, r)
    c = np.where(c == 0, EPS, c)
    return float(np.sum((c - r) * np.log(c / r)))


ks = []
for n, m, shift, scale in [(1000, 800, 0.0, 1.0), (1000, 1500, 0.3, 1.0), (500, 700, 0.0, 1.5), (800, 1000, 0.1, 1.0), (50, 60, 1.0, 1.0)]:
    a = rng.normal(size=n)
    b = rng.normal(loc=shift, scale=scale, size=m)
    r = stats.ks_2samp(a, b, method="asymp")
    en = n * m / (n + m)
    ks.append({"a": a.tolist(), "b": b.tolist(), "d": float(r.statistic),
               "p_kolmogorov": float(stats.kstwobign.sf(np.sqrt(en) * r.statistic)), "p_scipy_asymp": float(r.pvalue)})

# Ties: rounded values.
a = np.round(rng.normal(size=400), 1)
b = np.round(rng.normal(loc=0.2, size=300), 1)
r = stats.ks_2samp(a, b, method="asymp")
ks.append({"a": a.tolist(), "b": b.tolist(), "d": float(r.statistic),
           "p_kolmogorov": float(stats.kstwobign.sf(np.sqrt(400 * 300 / 700) * r.statistic)), "p_scipy_asymp": float(r.pvalue)})

counts = []
for ref, cur in [([50, 50, 50, 50], [55, 45, 52, 48]), ([100, 200, 300, 400, 0], [400, 300, 200, 100, 7]),
                 ([1000, 10, 5, 985], [900, 40, 60, 1000]), ([3, 0, 9, 0], [0, 4, 9, 0])]:
    # The chi-square test of homogeneity over the categories seen on
    # either side.
    table = np.array([ref, cur], float)
    table = table[:, table.sum(axis=0) > 0]
    c = stats.chi2_contingency(table, correction=False)
    counts.append({"ref": ref, "cur": cur, "psi": psi(ref, cur), "chi2": float(c.statistic), "chi2_p": float(c.pvalue)})

print(json.dumps({"ks": ks, "counts": counts}))
