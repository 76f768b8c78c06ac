"""Reference figures for the ML benchmarks: Debian's python3-xgboost (1.7)
and python3-sklearn (1.2) on the data bench/gendata writes. Prints one JSON
object; bench/mlbench puts it beside Sluice's figures."""
import json
import resource
import sys
import time

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

F = 28
data = sys.argv[1] if len(sys.argv) > 1 else "bench/data"


def load(name):
    x = np.fromfile(f"{data}/{name}.x.f32", dtype="<f4").reshape(-1, F)
    y = np.fromfile(f"{data}/{name}.y.f32", dtype="<f4")
    return x, y


xtr, ytr = load("binary-train")
xte, yte = load("binary-test")
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = {"xgboost_version": xgb.__version__, "sklearn_version": sklearn.__version__}

params = {"tree_method": "hist", "max_depth": 6, "eta": 0.1, "nthread": 2,
          "objective": "binary:logistic", "max_bin": 256}
t0 = time.perf_counter()
dtrain = xgb.DMatrix(xtr, label=ytr, nthread=2)
booster = xgb.train(params, dtrain, num_boost_round=100)
out["xgb_train_s"] = time.perf_counter() - t0
out["xgb_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
# inplace_predict is XGBoost's fastest path on a numpy array (predict on a
# DMatrix caches its result, which would time nothing).
booster.inplace_predict(xte)  # warm
rates = []
for _ in range(7):
    t0 = time.perf_counter()
    p = booster.inplace_predict(xte)
    rates.append(len(yte) / (time.perf_counter() - t0))
out["xgb_predict_rows_per_s"] = sorted(rates)[3]  # the median of 7
out["xgb_auc"] = roc_auc_score(yte, p)

# Single-row latency through the booster's in-place path.
lat = []
for i in range(2000):
    r = xte[i:i + 1]
    t0 = time.perf_counter()
    booster.inplace_predict(r)
    lat.append(time.perf_counter() - t0)
lat.sort()
out["xgb_single_row_p99_us"] = lat[int(0.99 * len(lat))] * 1e6

# Logistic regression: sklearn's default L2 (C=1) with lbfgs on
# standardised features, missing values imputed with the training mean.
mean = np.nanmean(xtr, axis=0)
std = np.nanstd(xtr, axis=0)
def prep(x):
    x = np.where(np.isnan(x), mean, x)
    return (x - mean) / std
t0 = time.perf_counter()
lr = LogisticRegression(C=1.0, max_iter=1000)
lr.fit(prep(xtr), ytr)
out["sk_logreg_train_s"] = time.perf_counter() - t0
out["sk_logreg_auc"] = roc_auc_score(yte, lr.predict_proba(prep(xte))[:, 1])
# Small mixed tables: XGBoost on one-hot encoded categories (categories
# learned from the training file; empty cells are missing), the same
# boosting parameters as Sluice: 100 trees, depth 4, eta 0.1.
import csv


def read_mixed(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def encode(header, rows, cats=None):
    cols = list(zip(*rows))
    label = np.array([float(v) for v in cols[-1]], dtype=np.float32)
    if cats is None:
        cats = {i: sorted({v for v in cols[i] if v}) for i, h in enumerate(header[:-1]) if h.startswith("cat")}
    feats = []
    for i, h in enumerate(header[:-1]):
        if i in cats:
            for c in cats[i]:
                feats.append([1.0 if v == c else (np.nan if v == "" else 0.0) for v in cols[i]])
        else:
            feats.append([float(v) if v else np.nan for v in cols[i]])
    return np.array(feats, dtype=np.float32).T, label, cats


mixed = []
for i in (1, 2, 3):
    header, tr = read_mixed(f"{data}/mixed-{i}-train.csv")
    _, te = read_mixed(f"{data}/mixed-{i}-test.csv")
    xtr_m, ytr_m, cats = encode(header, tr)
    xte_m, yte_m, _ = encode(header, te, cats)
    b = xgb.train({"tree_method": "hist", "max_depth": 4, "eta": 0.1, "nthread": 2,
                   "objective": "binary:logistic"}, xgb.DMatrix(xtr_m, label=ytr_m), num_boost_round=100)
    mixed.append(roc_auc_score(yte_m, b.inplace_predict(xte_m)))
out["xgb_mixed_auc"] = mixed
print(json.dumps(out))
