// Sluice's GBDT kernels, for the CUDA driver API. Written without the CUDA
// headers (clang builtins only), so that Debian's clang-14 compiles them:
//
//   clang-14 -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc \
//     -nocudalib -O3 -S kernels.cu -o kernels.ptx
//
// (`make ptx`). The driver JITs the sm_80 PTX for newer GPUs. Every kernel
// has a Go reference with the same algorithm in reference.go; the tests
// check the references against the CPU trainer, and gpu/devicecheck.sh the
// kernels against the references on a real GPU.
//
// Layouts (shared with engine.go):
//   bins     u8, column-major: bins[f*n + row]; bin 255 is missing
//   hist     one slot: nf × 256 bins × {g, h} doubles
//   score    doubles, row-major n × k
//   rows     int32 row ids, partitioned into the leaves' segments

#define GLOBAL extern "C" __attribute__((global))
#define SHARED __attribute__((shared))
#define DEVICE static __attribute__((device)) inline

typedef unsigned char u8;
typedef long long i64;

DEVICE int tid() { return __nvvm_read_ptx_sreg_tid_x(); }
DEVICE int ntid() { return __nvvm_read_ptx_sreg_ntid_x(); }
DEVICE int bid() { return __nvvm_read_ptx_sreg_ctaid_x(); }
DEVICE int bidy() { return __nvvm_read_ptx_sreg_ctaid_y(); }
DEVICE int nbid() { return __nvvm_read_ptx_sreg_nctaid_x(); }
DEVICE void sync() { __syncthreads(); }
DEVICE void atomic_add(double* p, double v) { __nvvm_atom_add_gen_d(p, v); }
DEVICE int atomic_addi(int* p, int v) { return __nvvm_atom_add_gen_i(p, v); }

// exp for doubles: libdevice is not linked (-nocudalib). x = k·ln2 + r with
// |r| ≤ ln2/2, exp(r) by its Taylor series to r^13 (error below 2^-53),
// then scaled by 2^k through the exponent bits.
DEVICE double exp64(double x) {
  if (x > 709.0) x = 709.0;
  if (x < -708.0) x = -708.0;
  const double ln2hi = 6.93147180369123816490e-01, ln2lo = 1.90821492927058770002e-10;
  double k = __builtin_rint(x * 1.44269504088896338700);
  double r = (x - k * ln2hi) - k * ln2lo;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = __builtin_fma(p, r, 1.0 / 479001600.0);
  p = __builtin_fma(p, r, 1.0 / 39916800.0);
  p = __builtin_fma(p, r, 1.0 / 3628800.0);
  p = __builtin_fma(p, r, 1.0 / 362880.0);
  p = __builtin_fma(p, r, 1.0 / 40320.0);
  p = __builtin_fma(p, r, 1.0 / 5040.0);
  p = __builtin_fma(p, r, 1.0 / 720.0);
  p = __builtin_fma(p, r, 1.0 / 120.0);
  p = __builtin_fma(p, r, 1.0 / 24.0);
  p = __builtin_fma(p, r, 1.0 / 6.0);
  p = __builtin_fma(p, r, 0.5);
  p = __builtin_fma(p, r, 1.0);
  p = __builtin_fma(p, r, 1.0);
  union { double d; i64 i; } s;
  s.i = ((i64)k + 1023) << 52;
  return p * s.d;
}

// Gradients and hessians of output j from the margins: task 0 binary
// (log loss), 1 regression (squared error), 2 multiclass (softmax).
GLOBAL void sluice_gradients(int task, int n, int k, int j, const double* score,
                             const float* labels, float* grad, float* hess) {
  for (int i = bid() * ntid() + tid(); i < n; i += nbid() * ntid()) {
    double y = labels[i];
    if (task == 0) {
      double pr = 1.0 / (1.0 + exp64(-score[i]));
      grad[i] = (float)(pr - y);
      hess[i] = (float)__builtin_fmax(pr * (1.0 - pr), 1e-16);
    } else if (task == 1) {
      grad[i] = (float)(score[i] - y);
      hess[i] = 1.0f;
    } else {
      const double* m = score + (i64)i * k;
      double mx = m[0];
      for (int c = 1; c < k; c++) mx = __builtin_fmax(mx, m[c]);
      double sum = 0;
      for (int c = 0; c < k; c++) sum += exp64(m[c] - mx);
      double pr = exp64(m[j] - mx) / sum;
      double t = ((int)y == j) ? 1.0 : 0.0;
      grad[i] = (float)(pr - t);
      hess[i] = (float)__builtin_fmax(2.0 * pr * (1.0 - pr), 1e-16);
    }
  }
}

// rows[i] = i: every row, in order.
GLOBAL void sluice_iota(int* rows, int n) {
  for (int i = bid() * ntid() + tid(); i < n; i += nbid() * ntid()) rows[i] = i;
}

#define GROUP 4  // features per block: 4 × 256 × 2 doubles = 16 KiB shared

// Histograms of the rows at positions [begin, end) for the features
// feats[blockIdx.y*GROUP ...]: each block adds its rows into a shared
// histogram with shared-memory atomics, then adds that into the slot.
GLOBAL void sluice_hist(const u8* bins, i64 n, const int* feats, int nfeat, const int* rows,
                        int begin, int end, const float* grad, const float* hess, double* hist) {
  SHARED double sh[GROUP * 256 * 2];
  int f0 = bidy() * GROUP;
  int nf = nfeat - f0 < GROUP ? nfeat - f0 : GROUP;
  for (int i = tid(); i < GROUP * 512; i += ntid()) sh[i] = 0;
  sync();
  for (int pos = begin + bid() * ntid() + tid(); pos < end; pos += nbid() * ntid()) {
    int r = rows[pos];
    double g = grad[r], h = hess[r];
    for (int q = 0; q < nf; q++) {
      int b = bins[(i64)feats[f0 + q] * n + r];
      atomic_add(&sh[(q * 256 + b) * 2], g);
      atomic_add(&sh[(q * 256 + b) * 2 + 1], h);
    }
  }
  sync();
  for (int i = tid(); i < nf * 256; i += ntid()) {
    double g = sh[i * 2], h = sh[i * 2 + 1];
    if (g != 0 || h != 0) {
      double* dst = hist + ((i64)feats[f0 + i / 256] * 256 + i % 256) * 2;
      atomic_add(dst, g);
      atomic_add(dst + 1, h);
    }
  }
}

// a -= b over the active features' bins.
GLOBAL void sluice_subtract(double* a, const double* b, const int* feats, int nfeat) {
  for (int i = bid() * ntid() + tid(); i < nfeat * 512; i += nbid() * ntid()) {
    i64 at = (i64)feats[i / 512] * 512 + i % 512;
    a[at] -= b[at];
  }
}

struct query {
  int slot, pad;
  double g, h;
};

struct split {
  double gain, gl, hl;
  int feature, bin, default_left, pad;
};

// The best split of each query (blockIdx.x) on each active feature (one
// thread each): gbdt.ScanSplit's loop.
GLOBAL void sluice_best_split(const double* hists, i64 slot_len, const struct query* qs,
                              const int* feats, int nfeat, const int* nbins, double lambda,
                              double mcw, struct split* out) {
  struct query q = qs[bid()];
  for (int fi = tid(); fi < nfeat; fi += ntid()) {
    int f = feats[fi];
    const double* h = hists + q.slot * slot_len + (i64)f * 512;
    double mg = h[255 * 2], mh = h[255 * 2 + 1];
    double parent = q.g * q.g / (q.h + lambda);
    struct split best = {0, 0, 0, f, 0, 0, 0};
    int has_missing = mh > 0;
    int nb = nbins[f];
    double gl = 0, hl = 0;
    for (int b = 0; b < nb; b++) {
      gl += h[b * 2];
      hl += h[b * 2 + 1];
      // Up to two tries per bin: (left sums, default left).
      for (int t = 0; t < 2; t++) {
        double tg, th;
        int dl;
        if (b < nb - 1) {
          if (t == 0) { tg = gl; th = hl; dl = !has_missing && hl >= q.h - hl; }
          else if (has_missing) { tg = gl + mg; th = hl + mh; dl = 1; }
          else break;
        } else {
          if (t == 0 && has_missing) { tg = gl; th = hl; dl = 0; }
          else break;
        }
        double gr = q.g - tg, hr = q.h - th;
        if (th < mcw || hr < mcw || th <= 0 || hr <= 0) continue;
        double gain = tg * tg / (th + lambda) + gr * gr / (hr + lambda) - parent;
        if (gain > best.gain) {
          best.gain = gain; best.bin = b; best.default_left = dl; best.gl = tg; best.hl = th;
        }
      }
    }
    out[(i64)bid() * nfeat + fi] = best;
  }
}

DEVICE int goes_left(const u8* bins, i64 n, int r, int feature, int bin, int dl) {
  int b = bins[(i64)feature * n + r];
  return b == 255 ? dl : b <= bin;
}

#define PART 256  // positions per partition block; blockDim.x must equal it

// Partition, pass 1: counts[blockIdx.x] = left rows among the block's
// positions.
GLOBAL void sluice_part_count(const u8* bins, i64 n, const int* rows, int begin, int end,
                              int feature, int bin, int dl, int* counts) {
  SHARED int c;
  if (tid() == 0) c = 0;
  sync();
  int pos = begin + bid() * PART + tid();
  if (pos < end && goes_left(bins, n, rows[pos], feature, bin, dl)) atomic_addi(&c, 1);
  sync();
  if (tid() == 0) counts[bid()] = c;
}

#define SCAN 1024  // threads of the scan's one block

// Partition, pass 2 (one block of SCAN threads): exclusive prefix sums of
// the counts in place, the total in counts[nblocks] and begin + total in
// *mid. Each thread sums a run of counts, the runs' sums are scanned in
// shared memory, then each thread writes its run's prefixes.
GLOBAL void sluice_part_scan(int* counts, int nblocks, int begin, int* mid) {
  SHARED int scan[SCAN];
  int t = tid();
  int run = (nblocks + SCAN - 1) / SCAN;
  int lo = t * run, hi = lo + run < nblocks ? lo + run : nblocks;
  int sum = 0;
  for (int b = lo; b < hi; b++) sum += counts[b];
  scan[t] = sum;
  sync();
  for (int off = 1; off < SCAN; off <<= 1) {
    int v = t >= off ? scan[t - off] : 0;
    sync();
    scan[t] += v;
    sync();
  }
  int at = scan[t] - sum;
  for (int b = lo; b < hi; b++) {
    int c = counts[b];
    counts[b] = at;
    at += c;
  }
  if (t == SCAN - 1) {
    counts[nblocks] = scan[t];
    *mid = begin + scan[t];
  }
}

// Partition, pass 3: each block ranks its positions (a scan over flags in
// shared memory) and writes lefts then rights into tmp, in order.
GLOBAL void sluice_part_scatter(const u8* bins, i64 n, const int* rows, int begin, int end,
                                int feature, int bin, int dl, const int* offsets, int* tmp) {
  SHARED int scan[PART];
  int t = tid();
  int pos = begin + bid() * PART + t;
  int valid = pos < end;
  int r = valid ? rows[pos] : 0;
  int left = valid && goes_left(bins, n, r, feature, bin, dl);
  scan[t] = left;
  sync();
  for (int off = 1; off < PART; off <<= 1) {
    int v = t >= off ? scan[t - off] : 0;
    sync();
    scan[t] += v;
    sync();
  }
  if (!valid) return;
  int lrank = scan[t] - left;  // lefts before t in the block
  int total = offsets[nbid()];
  if (left) {
    tmp[begin + offsets[bid()] + lrank] = r;
  } else {
    int rights_before = bid() * PART - offsets[bid()];
    tmp[begin + total + rights_before + (t - lrank)] = r;
  }
}

struct node {
  int feature, left, right, bin, default_left, pad;
  double value;
};

// Adds a tree's output to output j's margins, walking each row by its bins.
GLOBAL void sluice_add_tree(const u8* bins, i64 n, const struct node* nodes, double* score,
                            int k, int j) {
  for (int r = bid() * ntid() + tid(); r < n; r += nbid() * ntid()) {
    int i = 0;
    while (nodes[i].feature >= 0) {
      const struct node* nd = &nodes[i];
      i = goes_left(bins, n, r, nd->feature, nd->bin, nd->default_left) ? nd->left : nd->right;
    }
    score[(i64)r * k + j] += nodes[i].value;
  }
}
