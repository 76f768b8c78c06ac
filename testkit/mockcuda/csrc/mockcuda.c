// A mock of libcuda.so.1 for the tests: the CUDA driver API calls the GPU
// engine makes, on host memory. Kernel launches are handed to a launcher
// the test registers (the Go reference kernels), with the kernel's name,
// grid, block and the raw kernelParams array, so the engine's argument
// marshalling is read back exactly as a GPU would read it.
//
// Built by the tests: gcc -shared -fPIC -o libmockcuda.so mockcuda.c
//
// Faults: MOCKCUDA_FAIL=<call> fails every such call, MOCKCUDA_FAIL=<call>@N
// the Nth one (1-based, counted since mockcuda_reset). MOCKCUDA_DEVICES sets
// the device count (default 1).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef uint64_t CUdeviceptr;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_PTX = 218,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_LAUNCH_FAILED = 719,
};

typedef int (*launcher_fn)(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                           unsigned by, unsigned bz, void** params);

static int initialized;
static uintptr_t current_ctx;
static launcher_fn launcher;
static char call_log[1 << 20];
static size_t call_log_len;

#define MAX_CALLS 64
static struct {
  char name[48];
  int count;
} calls[MAX_CALLS];

#define MAX_ALLOCS 4096
static struct {
  void* p;
  size_t size;
} allocs[MAX_ALLOCS];

struct module {
  char* image;
};
struct function {
  char name[64];
};

static void log_call(const char* name) {
  size_t n = strlen(name);
  if (call_log_len + n + 2 < sizeof call_log) {
    memcpy(call_log + call_log_len, name, n);
    call_log_len += n;
    call_log[call_log_len++] = '\n';
    call_log[call_log_len] = 0;
  }
}

// fail reports whether this call of name is to fail, and logs it.
static int fail(const char* name) {
  log_call(name);
  int count = 0;
  for (int i = 0; i < MAX_CALLS; i++) {
    if (calls[i].name[0] == 0) {
      snprintf(calls[i].name, sizeof calls[i].name, "%s", name);
    }
    if (strcmp(calls[i].name, name) == 0) {
      count = ++calls[i].count;
      break;
    }
  }
  const char* f = getenv("MOCKCUDA_FAIL");
  if (f == NULL || *f == 0) return 0;
  size_t n = strlen(name);
  if (strncmp(f, name, n) != 0) return 0;
  if (f[n] == 0) return 1;
  if (f[n] == '@') return atoi(f + n + 1) == count;
  return 0;
}

#define CHECK_INIT()                                  \
  do {                                                \
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED; \
  } while (0)
#define CHECK_CTX()                                    \
  do {                                                 \
    if (current_ctx == 0) return CUDA_ERROR_INVALID_CONTEXT; \
  } while (0)

CUresult cuInit(unsigned flags) {
  if (fail("cuInit")) return CUDA_ERROR_NOT_INITIALIZED;
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  initialized = 1;
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* v) {
  if (fail("cuDriverGetVersion")) return CUDA_ERROR_INVALID_VALUE;
  *v = 12040;
  return CUDA_SUCCESS;
}

static int device_count(void) {
  const char* d = getenv("MOCKCUDA_DEVICES");
  return d ? atoi(d) : 1;
}

CUresult cuDeviceGetCount(int* n) {
  CHECK_INIT();
  if (fail("cuDeviceGetCount")) return CUDA_ERROR_INVALID_VALUE;
  *n = device_count();
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* dev, int ordinal) {
  CHECK_INIT();
  if (fail("cuDeviceGet")) return CUDA_ERROR_INVALID_DEVICE;
  if (ordinal < 0 || ordinal >= device_count()) return CUDA_ERROR_INVALID_DEVICE;
  *dev = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  CHECK_INIT();
  if (fail("cuDeviceGetName")) return CUDA_ERROR_INVALID_DEVICE;
  snprintf(name, len, "Mock GPU %d", dev);
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  CHECK_INIT();
  if (fail("cuDeviceTotalMem_v2")) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = (size_t)8 << 30;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(uintptr_t* ctx, CUdevice dev) {
  CHECK_INIT();
  if (fail("cuDevicePrimaryCtxRetain")) return CUDA_ERROR_INVALID_DEVICE;
  *ctx = 0x1000 + dev;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  (void)dev;
  fail("cuDevicePrimaryCtxRelease_v2");
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(uintptr_t ctx) {
  CHECK_INIT();
  if (fail("cuCtxSetCurrent")) return CUDA_ERROR_INVALID_CONTEXT;
  current_ctx = ctx;
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) {
  CHECK_CTX();
  if (fail("cuCtxSynchronize")) return CUDA_ERROR_LAUNCH_FAILED;
  return CUDA_SUCCESS;
}

enum { CU_JIT_ERROR_LOG_BUFFER = 5, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6 };

CUresult cuModuleLoadDataEx(struct module** mod, const void* image, unsigned n, int* opts,
                            void** vals) {
  CHECK_CTX();
  char* log = NULL;
  size_t log_size = 0;
  for (unsigned i = 0; i < n; i++) {
    if (opts[i] == CU_JIT_ERROR_LOG_BUFFER) log = (char*)vals[i];
    if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) log_size = (size_t)(uintptr_t)vals[i];
  }
  const char* text = (const char*)image;
  int bad = fail("cuModuleLoadDataEx") || strstr(text, ".version") == NULL || strstr(text, ".target") == NULL;
  if (bad) {
    if (log && log_size > 0) snprintf(log, log_size, "mock ptxas: fatal: cannot compile the module");
    return CUDA_ERROR_INVALID_PTX;
  }
  struct module* m = calloc(1, sizeof *m);
  m->image = strdup(text);
  *mod = m;
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(struct module* m) {
  fail("cuModuleUnload");
  free(m->image);
  free(m);
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(struct function** fn, struct module* m, const char* name) {
  CHECK_CTX();
  if (fail("cuModuleGetFunction")) return CUDA_ERROR_NOT_FOUND;
  char entry[80];
  snprintf(entry, sizeof entry, ".entry %s(", name);
  if (strstr(m->image, entry) == NULL) return CUDA_ERROR_NOT_FOUND;
  struct function* f = calloc(1, sizeof *f);
  snprintf(f->name, sizeof f->name, "%s", name);
  *fn = f;
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t size) {
  CHECK_CTX();
  if (fail("cuMemAlloc_v2")) return CUDA_ERROR_OUT_OF_MEMORY;
  if (size == 0) return CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < MAX_ALLOCS; i++) {
    if (allocs[i].p == NULL) {
      // Device memory starts as garbage: a kernel that reads what it
      // never wrote gets nonsense, as on a GPU.
      allocs[i].p = malloc(size);
      memset(allocs[i].p, 0xA5, size);
      allocs[i].size = size;
      *p = (CUdeviceptr)(uintptr_t)allocs[i].p;
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_OUT_OF_MEMORY;
}

// find returns the allocation that holds [p, p+size), or -1.
static int find(CUdeviceptr p, size_t size) {
  for (int i = 0; i < MAX_ALLOCS; i++) {
    uintptr_t base = (uintptr_t)allocs[i].p;
    if (base != 0 && p >= base && p + size <= base + allocs[i].size) return i;
  }
  return -1;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  if (fail("cuMemFree_v2")) return CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < MAX_ALLOCS; i++) {
    if ((CUdeviceptr)(uintptr_t)allocs[i].p == p && p != 0) {
      free(allocs[i].p);
      allocs[i].p = NULL;
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t size) {
  CHECK_CTX();
  if (fail("cuMemcpyHtoD_v2") || find(dst, size) < 0) return CUDA_ERROR_INVALID_VALUE;
  memcpy((void*)(uintptr_t)dst, src, size);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t size) {
  CHECK_CTX();
  if (fail("cuMemcpyDtoH_v2") || find(src, size) < 0) return CUDA_ERROR_INVALID_VALUE;
  memcpy(dst, (void*)(uintptr_t)src, size);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t size) {
  CHECK_CTX();
  if (fail("cuMemcpyDtoD_v2") || find(dst, size) < 0 || find(src, size) < 0) return CUDA_ERROR_INVALID_VALUE;
  memmove((void*)(uintptr_t)dst, (void*)(uintptr_t)src, size);
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
  CHECK_CTX();
  if (fail("cuMemsetD8_v2") || find(dst, n) < 0) return CUDA_ERROR_INVALID_VALUE;
  memset((void*)(uintptr_t)dst, v, n);
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(struct function* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, void* stream, void** params,
                        void** extra) {
  CHECK_CTX();
  (void)shared;
  (void)stream;
  if (fail("cuLaunchKernel")) return CUDA_ERROR_LAUNCH_FAILED;
  if (extra != NULL || params == NULL || gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 ||
      bx * by * bz > 1024)
    return CUDA_ERROR_INVALID_VALUE;
  log_call(f->name);
  if (launcher == NULL) return CUDA_ERROR_LAUNCH_FAILED;
  return launcher(f->name, gx, gy, gz, bx, by, bz, params) ? CUDA_ERROR_LAUNCH_FAILED : CUDA_SUCCESS;
}

static const char* error_name(CUresult code) {
  switch (code) {
    case CUDA_SUCCESS: return "CUDA_SUCCESS";
    case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
    case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
    case CUDA_ERROR_INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
    case CUDA_ERROR_INVALID_PTX: return "CUDA_ERROR_INVALID_PTX";
    case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
    case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
  }
  return NULL;
}

CUresult cuGetErrorName(CUresult code, const char** s) {
  *s = error_name(code);
  return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult code, const char** s) {
  *s = error_name(code) ? "mock driver error" : NULL;
  return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

// The test's side.

void mockcuda_set_launcher(launcher_fn f) { launcher = f; }

// mockcuda_size returns the size of the allocation holding p, 0 if none,
// and its base in *base.
size_t mockcuda_size(CUdeviceptr p, CUdeviceptr* base) {
  int i = find(p, 1);
  if (i < 0) return 0;
  *base = (CUdeviceptr)(uintptr_t)allocs[i].p;
  return allocs[i].size;
}

// mockcuda_live counts the allocations not freed.
int mockcuda_live(void) {
  int n = 0;
  for (int i = 0; i < MAX_ALLOCS; i++) n += allocs[i].p != NULL;
  return n;
}

const char* mockcuda_log(void) { return call_log; }

void mockcuda_reset(void) {
  call_log_len = 0;
  call_log[0] = 0;
  memset(calls, 0, sizeof calls);
}
