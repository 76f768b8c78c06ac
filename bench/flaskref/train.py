"""Trains the serving benchmark's reference model: XGBoost, 100 trees of
depth 6, on the rows servebench wrote (train.csv), saved as model.json."""
import sys

import numpy as np
import xgboost as xgb

d = sys.argv[1]
data = np.loadtxt(f"{d}/train.csv", delimiter=",", dtype=np.float32)
X, y = data[:, :-1], data[:, -1]
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "tree_method": "hist", "nthread": 2},
                    xgb.DMatrix(X, label=y), num_boost_round=100)
booster.save_model(f"{d}/model.json")
