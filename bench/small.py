"""The small-table side of the ML benchmark (issue 23: defaults for small
data), for bench/smalldata.

    python3 bench/small.py export DIR
        writes scikit-learn's bundled data sets (breast_cancer, wine, iris,
        digits, diabetes) to DIR/NAME.csv, rows shuffled, label "y".
    python3 bench/small.py xgboost DIR NAME:TASK...
        5-fold cross-validation (fold k: the rows whose index is k mod 5)
        of XGBoost 1.7 with its default parameters (100 trees, eta 0.3,
        depth 6; hist, with enable_categorical for text columns, which
        pandas reads as categories); prints {NAME: mean metric} as JSON:
        AUC for binary, log loss for multiclass, RMSE for regression.
"""
import json
import sys

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn import datasets
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

mode, data = sys.argv[1], sys.argv[2]

if mode == "export":
    rng = np.random.default_rng(23)
    for name, load in [("breast_cancer", datasets.load_breast_cancer), ("wine", datasets.load_wine),
                       ("iris", datasets.load_iris), ("digits", datasets.load_digits),
                       ("diabetes", datasets.load_diabetes)]:
        b = load()
        df = pd.DataFrame(b.data, columns=[f"f{i}" for i in range(b.data.shape[1])])
        df["y"] = b.target
        df = df.iloc[rng.permutation(len(df))]
        df.to_csv(f"{data}/{name}.csv", index=False)
    sys.exit(0)

out = {}
for spec in sys.argv[3:]:
    name, task = spec.split(":")
    df = pd.read_csv(f"{data}/{name}.csv")
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype("category")
    y = df.pop("y").to_numpy()
    folds = np.arange(len(df)) % 5
    scores = []
    for k in range(5):
        tr, te = folds != k, folds == k
        if task == "regression":
            m = xgb.XGBRegressor(tree_method="hist", enable_categorical=True, n_jobs=2)
        else:
            m = xgb.XGBClassifier(tree_method="hist", enable_categorical=True, n_jobs=2)
        m.fit(df[tr], y[tr])
        if task == "binary":
            scores.append(roc_auc_score(y[te], m.predict_proba(df[te])[:, 1]))
        elif task == "multiclass":
            scores.append(log_loss(y[te], m.predict_proba(df[te]), labels=sorted(set(y))))
        else:
            scores.append(mean_squared_error(y[te], m.predict(df[te])) ** 0.5)
    out[name] = float(np.mean(scores))
print(json.dumps(out))
