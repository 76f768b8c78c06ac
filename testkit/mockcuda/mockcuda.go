// Package mockcuda builds and loads a mock of libcuda (mockcuda.c, with
// gcc) for the tests: the driver calls run on host memory, and each kernel
// launch runs the kernel's Go reference (package kernels) on the launch's
// raw parameters, decoded by the kernel's C signature in kernels.cu. The
// GPU engine thus runs end to end, through purego, on a machine without a
// GPU.
package mockcuda

import (
	_ "embed"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/sluice-ml/sluice/gpu/kernels"
)

//go:embed csrc/mockcuda.c
var source []byte

// Mock is the loaded mock library.
type Mock struct {
	Path string

	setLauncher func(fn uintptr)
	size        func(p uint64, base *unsafe.Pointer) uint64
	live        func() int32
	log         func() *byte
	reset       func()

	mu     sync.Mutex
	errs   []error
	Launch map[string]int // launches by kernel
}

var (
	once   sync.Once
	loaded *Mock
	err    error
)

// Load builds the mock (once per test binary), points SLUICE_LIBCUDA at it
// and registers the reference launcher. Without gcc the test is skipped,
// or failed under CI=true.
func Load(t testing.TB) *Mock {
	t.Helper()
	once.Do(func() { loaded, err = build() })
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mock libcuda: %v", err)
		}
		t.Skipf("mock libcuda: %v", err)
	}
	t.Setenv("SLUICE_LIBCUDA", loaded.Path)
	t.Setenv("MOCKCUDA_FAIL", "")
	t.Setenv("MOCKCUDA_WRONG", "")
	loaded.Reset()
	return loaded
}

func build() (*Mock, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return nil, fmt.Errorf("no gcc to build it: %w", err)
	}
	dir, err := os.MkdirTemp("", "mockcuda-")
	if err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "mockcuda.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return nil, err
	}
	lib := filepath.Join(dir, "libmockcuda.so")
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", lib, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gcc: %v\n%s", err, out)
	}
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, err
	}
	m := &Mock{Path: lib, Launch: map[string]int{}}
	purego.RegisterLibFunc(&m.setLauncher, h, "mockcuda_set_launcher")
	purego.RegisterLibFunc(&m.size, h, "mockcuda_size")
	purego.RegisterLibFunc(&m.live, h, "mockcuda_live")
	purego.RegisterLibFunc(&m.log, h, "mockcuda_log")
	purego.RegisterLibFunc(&m.reset, h, "mockcuda_reset")
	sigs, err := signatures(kernels.Source)
	if err != nil {
		return nil, err
	}
	m.setLauncher(purego.NewCallback(func(name *byte, gx, gy, gz, bx, by, bz uintptr, params unsafe.Pointer) uintptr {
		k := cString(name)
		if err := m.run(k, sigs[k], kernels.Dims{GridX: int(gx), GridY: int(gy), Block: int(bx)}, params); err != nil {
			m.mu.Lock()
			m.errs = append(m.errs, fmt.Errorf("%s: %w", k, err))
			m.mu.Unlock()
			return 1
		}
		return 0
	}))
	return m, nil
}

func cString(p *byte) string {
	var b []byte
	for ; *p != 0; p = (*byte)(unsafe.Add(unsafe.Pointer(p), 1)) {
		b = append(b, *p)
	}
	return string(b)
}

// Reset clears the call log, the call counts and the launch errors.
func (m *Mock) Reset() {
	m.reset()
	m.mu.Lock()
	m.errs = nil
	m.Launch = map[string]int{}
	m.mu.Unlock()
}

// Calls is the driver calls since Reset, kernels by name, in order.
func (m *Mock) Calls() []string {
	return strings.Fields(cString(m.log()))
}

// Live is the number of device allocations not freed.
func (m *Mock) Live() int { return int(m.live()) }

// Errors are the launches whose parameters the reference refused.
func (m *Mock) Errors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.errs...)
}

// param is one kernel parameter: its name and C type.
type param struct{ name, ctype string }

var (
	globalRe = regexp.MustCompile(`(?s)GLOBAL void (\w+)\(([^)]*)\)`)
	paramRe  = regexp.MustCompile(`^(const )?(struct )?(\w+)\s*(\*?)\s*(\w+)$`)
)

// signatures parses the kernels' parameter lists from kernels.cu.
func signatures(src string) (map[string][]param, error) {
	out := map[string][]param{}
	for _, m := range globalRe.FindAllStringSubmatch(src, -1) {
		var ps []param
		for _, p := range strings.Split(m[2], ",") {
			pm := paramRe.FindStringSubmatch(strings.Join(strings.Fields(p), " "))
			if pm == nil {
				return nil, fmt.Errorf("kernels.cu: %s: cannot read parameter %q", m[1], p)
			}
			ps = append(ps, param{name: pm[5], ctype: pm[3] + pm[4]})
		}
		out[m[1]] = ps
	}
	for _, k := range kernels.Names {
		if out[k] == nil {
			return nil, fmt.Errorf("kernels.cu has no kernel %s", k)
		}
	}
	return out, nil
}

// args decodes raw kernel parameters by their C types.
type args struct {
	m    *Mock
	vals map[string]uint64
	err  error
}

func (a *args) int(name string) int {
	v, ok := a.vals[name]
	if !ok && a.err == nil {
		a.err = fmt.Errorf("no parameter %s", name)
	}
	return int(int64(v))
}

func (a *args) float(name string) float64 {
	return math.Float64frombits(a.vals[name])
}

// slice returns a device buffer parameter as a slice reaching the end of
// its allocation: a reference that reads past it panics, as a GPU would
// fault.
func slice[T any](a *args, name string) []T {
	p, ok := a.vals[name]
	if !ok {
		if a.err == nil {
			a.err = fmt.Errorf("no parameter %s", name)
		}
		return nil
	}
	var base unsafe.Pointer
	size := a.m.size(p, &base)
	if size == 0 {
		if a.err == nil {
			a.err = fmt.Errorf("parameter %s (%#x) is no device allocation", name, p)
		}
		return nil
	}
	var zero T
	off := p - uint64(uintptr(base))
	n := int(size-off) / int(unsafe.Sizeof(zero))
	return unsafe.Slice((*T)(unsafe.Add(base, off)), n)
}

func (m *Mock) run(name string, sig []param, d kernels.Dims, raw unsafe.Pointer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reference kernel panicked: %v", r)
		}
	}()
	if sig == nil {
		return fmt.Errorf("unknown kernel")
	}
	m.mu.Lock()
	m.Launch[name]++
	m.mu.Unlock()
	a := &args{m: m, vals: map[string]uint64{}}
	pp := unsafe.Slice((*unsafe.Pointer)(raw), len(sig))
	for i, p := range sig {
		switch p.ctype {
		case "int":
			a.vals[p.name] = uint64(int64(*(*int32)(pp[i])))
			// The engine pads each value with 0xff: a 32-bit value must
			// have been passed for a 32-bit parameter.
			if hi := *(*uint32)(unsafe.Add(pp[i], 4)); hi != 0xffffffff {
				return fmt.Errorf("parameter %s: an int passed as 8 bytes", p.name)
			}
		case "i64", "double":
			a.vals[p.name] = *(*uint64)(pp[i])
		default: // pointers
			if !strings.HasSuffix(p.ctype, "*") {
				return fmt.Errorf("parameter %s: unknown type %s", p.name, p.ctype)
			}
			a.vals[p.name] = *(*uint64)(pp[i])
		}
	}
	switch name {
	case "sluice_gradients":
		kernels.Gradients(d, a.int("task"), a.int("n"), a.int("k"), a.int("j"), slice[float64](a, "score"),
			slice[float32](a, "labels"), slice[float32](a, "grad"), slice[float32](a, "hess"))
	case "sluice_iota":
		kernels.Iota(d, slice[int32](a, "rows"), a.int("n"))
	case "sluice_hist":
		kernels.Hist(d, slice[uint8](a, "bins"), a.int("n"), slice[int32](a, "feats"), a.int("nfeat"),
			slice[int32](a, "rows"), a.int("begin"), a.int("end"), slice[float32](a, "grad"), slice[float32](a, "hess"),
			slice[float64](a, "hist"))
	case "sluice_subtract":
		kernels.Subtract(d, slice[float64](a, "a"), slice[float64](a, "b"), slice[int32](a, "feats"), a.int("nfeat"))
	case "sluice_best_split":
		kernels.BestSplit(d, slice[float64](a, "hists"), a.int("slot_len"), slice[kernels.Query](a, "qs"),
			slice[int32](a, "feats"), a.int("nfeat"), slice[int32](a, "nbins"), a.float("lambda"), a.float("mcw"),
			slice[kernels.Split](a, "out"))
	case "sluice_part_count":
		kernels.PartCount(d, slice[uint8](a, "bins"), a.int("n"), slice[int32](a, "rows"), a.int("begin"), a.int("end"),
			a.int("feature"), a.int("bin"), a.int("dl") != 0, slice[int32](a, "counts"))
	case "sluice_part_scan":
		if d.GridX != 1 || d.Block != kernels.Scan {
			return fmt.Errorf("launched with %d blocks of %d threads, want 1 of %d", d.GridX, d.Block, kernels.Scan)
		}
		kernels.PartScan(slice[int32](a, "counts"), a.int("nblocks"), a.int("begin"), slice[int32](a, "mid"))
	case "sluice_part_scatter":
		kernels.PartScatter(d, slice[uint8](a, "bins"), a.int("n"), slice[int32](a, "rows"), a.int("begin"), a.int("end"),
			a.int("feature"), a.int("bin"), a.int("dl") != 0, slice[int32](a, "offsets"), slice[int32](a, "tmp"))
	case "sluice_add_tree":
		kernels.AddTree(d, slice[uint8](a, "bins"), a.int("n"), slice[kernels.Node](a, "nodes"), slice[float64](a, "score"),
			a.int("k"), a.int("j"))
	default:
		return fmt.Errorf("no reference for kernel %s", name)
	}
	if os.Getenv("MOCKCUDA_WRONG") == name && name == "sluice_hist" {
		// A kernel that computes the wrong thing: one bin off.
		h := slice[float64](a, "hist")
		h[int(slice[int32](a, "feats")[0])*512] += 1
	}
	if (name == "sluice_part_count" || name == "sluice_part_scatter") && d.Block != kernels.Part {
		return fmt.Errorf("launched with blocks of %d threads, want %d", d.Block, kernels.Part)
	}
	return a.err
}
