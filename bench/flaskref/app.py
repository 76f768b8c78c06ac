"""The server users would otherwise write: Flask + XGBoost, features from
an in-memory dict by entity (the equivalent of Sluice's cache). Run under
gunicorn with SERVEBENCH_DIR pointing at servebench's output."""
import os

import numpy as np
import xgboost as xgb
from flask import Flask, jsonify, request

d = os.environ["SERVEBENCH_DIR"]
booster = xgb.Booster()
booster.load_model(f"{d}/model.json")
booster.set_param({"nthread": 1})
features = {}
with open(f"{d}/features.csv") as f:
    for line in f:
        parts = line.rstrip("\n").split(",")
        features[parts[0]] = np.array(parts[1:], dtype=np.float32)
nfeat = len(next(iter(features.values())))
missing = np.full(nfeat, np.nan, dtype=np.float32)

app = Flask(__name__)


@app.post("/v1/models/<model>:predict")
def predict(model):
    instances = request.get_json()["instances"]
    X = np.stack([features.get(i.get("entity_id"), missing) for i in instances])
    scores = booster.inplace_predict(X)
    return jsonify({"model": model, "predictions": [{"score": float(s), "label": int(s >= 0.5)} for s in scores]})
