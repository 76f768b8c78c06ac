"""Why XGBoost's training time depends on the data set (issue 23): it times
XGBoost 1.7's hist training (100 trees, depth 6, 2 threads) on the ML
benchmark's generated set, on random normal data of the same shape with
and without missing values, and on the generated set with its missing
values filled.

    go run ./bench/gendata -o bench/data
    OMP_NUM_THREADS=2 python3 bench/xgb_missing.py bench/data
"""
import numpy as np, xgboost as xgb, time, sys
d=sys.argv[1] if len(sys.argv) > 1 else "bench/data"
x=np.fromfile(f"{d}/binary-train.x.f32",dtype=np.float32).reshape(-1,28)
y=np.fromfile(f"{d}/binary-train.y.f32",dtype=np.float32)
print("rows",x.shape, "label mean", y.mean())
nan=np.isnan(x).mean(axis=0)
distinct=[len(np.unique(x[:200000,j][~np.isnan(x[:200000,j])])) for j in range(28)]
print("missing per col", np.round(nan,2).tolist())
print("distinct (first 200k) per col", distinct)
def run(name, X, Y):
    p={"tree_method":"hist","max_depth":6,"eta":0.1,"nthread":2,"objective":"binary:logistic","max_bin":256}
    t=time.perf_counter(); dm=xgb.DMatrix(X,label=Y,nthread=2); t1=time.perf_counter()
    b=xgb.train(p,dm,num_boost_round=100); t2=time.perf_counter()
    # leaves per tree
    dump=b.get_dump()
    leaves=np.mean([t.count("leaf=") for t in dump])
    print(f"{name}: dmatrix {t1-t:.2f}s train {t2-t1:.2f}s, mean leaves/tree {leaves:.1f}")
run("generator", x, y)
rng=np.random.default_rng(1)
xr=rng.standard_normal(x.shape).astype(np.float32)
lin=xr[:,:5].sum(1)+np.sin(xr[:,5])*2+xr[:,6]*xr[:,7]
yr=(rng.random(len(lin)) < 1/(1+np.exp(-lin))).astype(np.float32)
run("random normal, same shape", xr, yr)
xm=xr.copy(); xm[rng.random(xm.shape)<0.1]=np.nan
run("random normal with 10% missing", xm, yr)
# the generator's data with NaN replaced
x0=np.nan_to_num(x, nan=0.0)
run("generator, NaN->0", x0, y)
