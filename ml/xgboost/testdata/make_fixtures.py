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
