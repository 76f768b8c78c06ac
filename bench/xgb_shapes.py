"""XGBoost's side of the ML shape benchmark (bench/ml.sh, bench/mlshapes).

    python3 bench/xgb_shapes.py train DIR SHAPE TASK CLASSES MODEL
        reads DIR/SHAPE-train.csv with pandas, trains XGBoost 1.7 (hist,
        100 trees, depth 6, eta 0.1, max_bin 256, 2 threads; categorical
        columns c* as pandas categories with enable_categorical) and saves
        the model; prints {"load_s", "train_s"} as JSON. The caller times
        the whole process and reads its peak RSS.
    python3 bench/xgb_shapes.py eval DIR SHAPE TASK CLASSES MODEL
        reads DIR/SHAPE-test.csv, predicts it (median of 3 timed runs),
        writes the predictions to MODEL.pred.csv (one row per line, for the
        import check) and prints {"predict_rows_per_s", metrics...} as JSON.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, roc_auc_score

mode, data, shape, task, classes, model = sys.argv[1:7]
classes = int(classes)
THREADS = 2


def read(part, categories=None):
    path = f"{data}/{shape}-{part}.csv"
    header = pd.read_csv(path, nrows=0).columns
    cats = [c for c in header if c.startswith("c")]
    if categories is None:
        dtype = {c: "category" for c in cats}
    else:
        dtype = {c: pd.CategoricalDtype(categories[c]) for c in cats}
    df = pd.read_csv(path, dtype=dtype)
    y = df.pop("y").to_numpy(dtype=np.float32)
    return df, y, cats


def params():
    p = {"tree_method": "hist", "max_depth": 6, "eta": 0.1, "nthread": THREADS, "max_bin": 256}
    if task == "binary":
        p["objective"] = "binary:logistic"
    elif task == "regression":
        p["objective"] = "reg:squarederror"
    else:
        p["objective"] = "multi:softprob"
        p["num_class"] = classes
    return p


if mode == "train":
    t0 = time.perf_counter()
    x, y, cats = read("train")
    t1 = time.perf_counter()
    dtrain = xgb.DMatrix(x, label=y, nthread=THREADS, enable_categorical=bool(cats))
    booster = xgb.train(params(), dtrain, num_boost_round=100)
    t2 = time.perf_counter()
    booster.save_model(model)
    with open(model + ".categories.json", "w") as f:
        json.dump({c: list(x[c].cat.categories) for c in cats}, f)
    print(json.dumps({"load_s": t1 - t0, "train_s": t2 - t1}))
else:
    booster = xgb.Booster(model_file=model)
    booster.set_param({"nthread": THREADS})
    with open(model + ".categories.json") as f:
        categories = json.load(f)
    x, y, cats = read("test", categories)
    if cats:
        # A new DMatrix each time: predict caches its result per DMatrix.
        predict = lambda: booster.predict(xgb.DMatrix(x, nthread=THREADS, enable_categorical=True))
    else:
        arr = x.to_numpy(dtype=np.float32)
        predict = lambda: booster.inplace_predict(arr)
    predict()
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        p = predict()
        rates.append(len(y) / (time.perf_counter() - t0))
    out = {"predict_rows_per_s": sorted(rates)[1]}
    np.savetxt(model + ".pred.csv", p.reshape(len(y), -1), delimiter=",", fmt="%.9g")
    if task == "binary":
        out["auc"] = roc_auc_score(y, p)
        out["logloss"] = log_loss(y, p)
    elif task == "regression":
        out["rmse"] = mean_squared_error(y, p) ** 0.5
    else:
        out["logloss"] = log_loss(y, p, labels=list(range(classes)))
        out["accuracy"] = accuracy_score(y, p.argmax(axis=1))
    print(json.dumps(out))
