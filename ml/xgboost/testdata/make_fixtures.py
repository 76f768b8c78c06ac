"""Writes the XGBoost import fixtures with Debian's python3-xgboost (1.7):
for each objective, a model saved with save_model("*.json"), the inputs
(with missing values) and XGBoost's own predictions.

Run from the repository root: /usr/bin/python3 ml/xgboost/testdata/make_fixtures.py
"""
import json
import os

import numpy as np
import xgboost as xgb

out = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
n, f = 400, 5
x = rng.normal(size=(n, f)).astype(np.float32)
x[rng.random(size=(n, f)) < 0.08] = np.nan
signal = np.sin(2 * np.nan_to_num(x[:, 0])) + np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
cases = {
    "binary": ({"objective": "binary:logistic"}, (signal > 0).astype(np.float32)),
    "regression": ({"objective": "reg:squarederror"}, (3 * signal + 10).astype(np.float32)),
    "multiclass": ({"objective": "multi:softprob", "num_class": 3},
                   np.clip(np.floor(signal + 1.5), 0, 2).astype(np.float32)),
}
np.savetxt(os.path.join(out, "inputs.csv"), x, delimiter=",", fmt="%.9g")
for name, (params, y) in cases.items():
    params.update({"max_depth": 4, "eta": 0.3, "tree_method": "hist", "seed": 1, "nthread": 1})
    booster = xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=12)
    booster.save_model(os.path.join(out, f"{name}.json"))
    pred = booster.predict(xgb.DMatrix(x, missing=np.nan))
    np.savetxt(os.path.join(out, f"{name}.pred.csv"), pred.reshape(n, -1), delimiter=",", fmt="%.9g")
print("xgboost", xgb.__version__, "fixtures written to", out)

# Categorical: a 3-level column (one-hot splits) and a 40-level one
# (partition splits), both with missing values, beside two numeric ones.
# The inputs hold category codes; categorical.categories.json names them in
# XGBoost's code order.
import pandas as pd

levels = {"small": ["red", "green", "blue"], "large": [f"k{i:02d}" for i in range(40)]}
effect = rng.normal(size=40)
cx = pd.DataFrame({
    "x0": x[:, 0], "small": pd.Categorical.from_codes(rng.integers(0, 3, n), levels["small"]),
    "large": pd.Categorical.from_codes(rng.integers(0, 40, n), levels["large"]), "x1": x[:, 1],
})
for col in ("small", "large"):
    cx.loc[rng.random(n) < 0.08, col] = np.nan
codes = {c: cx[c].cat.codes.to_numpy() for c in ("small", "large")}
csignal = (np.nan_to_num(x[:, 0]) + np.where(codes["small"] == 1, 1.0, 0.0)
           + np.where(codes["large"] >= 0, effect[codes["large"]], -1.0))
for name, params, y in [
    ("categorical", {"objective": "binary:logistic"}, (csignal > 0).astype(np.float32)),
    ("categorical-multiclass", {"objective": "multi:softprob", "num_class": 3},
     np.clip(np.floor(csignal / 1.5 + 1.5), 0, 2).astype(np.float32)),
]:
    params.update({"max_depth": 4, "eta": 0.3, "tree_method": "hist", "seed": 1, "nthread": 1,
                   "max_cat_to_onehot": 4})
    d = xgb.DMatrix(cx, label=y, enable_categorical=True)
    booster = xgb.train(params, d, num_boost_round=12)
    booster.save_model(os.path.join(out, f"{name}.json"))
    pred = booster.predict(xgb.DMatrix(cx, enable_categorical=True))
    np.savetxt(os.path.join(out, f"{name}.pred.csv"), pred.reshape(n, -1), delimiter=",", fmt="%.9g")
cin = np.column_stack([cx["x0"], np.where(codes["small"] < 0, np.nan, codes["small"]),
                       np.where(codes["large"] < 0, np.nan, codes["large"]), cx["x1"]])
np.savetxt(os.path.join(out, "categorical.inputs.csv"), cin, delimiter=",", fmt="%.9g")
with open(os.path.join(out, "categorical.categories.json"), "w") as f:
    json.dump(levels, f)
print("categorical fixtures written")
