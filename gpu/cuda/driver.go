// Package cuda calls the CUDA driver API (libcuda.so.1) without cgo: the
// library is loaded at run time with purego, so the sluice binary builds
// with CGO_ENABLED=0 and runs on machines without a GPU. Only the calls the
// GBDT engine needs are bound.
package cuda

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// DefaultLibrary is the driver's soname. SLUICE_LIBCUDA overrides it (the
// tests load a mock).
const DefaultLibrary = "libcuda.so.1"

// Error is a failed driver call.
type Error struct {
	Call string
	Code int32
	Name string // CUDA_ERROR_...
	Msg  string
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s: %s (%d): %s", e.Call, e.Name, e.Code, e.Msg)
	}
	return fmt.Sprintf("%s: %s (%d)", e.Call, e.Name, e.Code)
}

// Ptr is a device address (CUdeviceptr).
type Ptr uint64

// Driver is the loaded libcuda with its entry points.
type Driver struct {
	Path string

	cuInit                    func(flags uint32) int32
	cuDriverGetVersion        func(v *int32) int32
	cuDeviceGetCount          func(n *int32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDeviceTotalMem          func(bytes *uint64, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuCtxSynchronize          func() int32
	cuModuleLoadDataEx        func(mod *uintptr, image unsafe.Pointer, n uint32, opts *int32, vals *uintptr) int32
	cuModuleUnload            func(mod uintptr) int32
	cuModuleGetFunction       func(fn *uintptr, mod uintptr, name *byte) int32
	cuMemAlloc                func(p *Ptr, size uint64) int32
	cuMemFree                 func(p Ptr) int32
	cuMemcpyHtoD              func(dst Ptr, src unsafe.Pointer, size uint64) int32
	cuMemcpyDtoH              func(dst unsafe.Pointer, src Ptr, size uint64) int32
	cuMemcpyDtoD              func(dst, src Ptr, size uint64) int32
	cuMemsetD8                func(dst Ptr, v uint8, n uint64) int32
	cuLaunchKernel            func(fn uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) int32
	cuGetErrorName            func(code int32, s **byte) int32
	cuGetErrorString          func(code int32, s **byte) int32
}

var (
	openMu sync.Mutex
	opened = map[string]*Driver{}
)

// Open loads the driver library (path, else SLUICE_LIBCUDA, else
// libcuda.so.1) and calls cuInit. A library is loaded once per process.
func Open(path string) (*Driver, error) {
	if path == "" {
		path = os.Getenv("SLUICE_LIBCUDA")
	}
	if path == "" {
		path = DefaultLibrary
	}
	openMu.Lock()
	defer openMu.Unlock()
	if d, ok := opened[path]; ok {
		// cuInit again: cheap, and a driver that has gone bad says so.
		if err := d.check("cuInit", d.cuInit(0)); err != nil {
			return nil, err
		}
		return d, nil
	}
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("loading the CUDA driver %s: %w", path, err)
	}
	d := &Driver{Path: path}
	for _, b := range []struct {
		fn   any
		name string
	}{
		{&d.cuInit, "cuInit"}, {&d.cuDriverGetVersion, "cuDriverGetVersion"},
		{&d.cuDeviceGetCount, "cuDeviceGetCount"}, {&d.cuDeviceGet, "cuDeviceGet"},
		{&d.cuDeviceGetName, "cuDeviceGetName"}, {&d.cuDeviceTotalMem, "cuDeviceTotalMem_v2"},
		{&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
		{&d.cuCtxSetCurrent, "cuCtxSetCurrent"}, {&d.cuCtxSynchronize, "cuCtxSynchronize"},
		{&d.cuModuleLoadDataEx, "cuModuleLoadDataEx"}, {&d.cuModuleUnload, "cuModuleUnload"},
		{&d.cuModuleGetFunction, "cuModuleGetFunction"},
		{&d.cuMemAlloc, "cuMemAlloc_v2"}, {&d.cuMemFree, "cuMemFree_v2"},
		{&d.cuMemcpyHtoD, "cuMemcpyHtoD_v2"}, {&d.cuMemcpyDtoH, "cuMemcpyDtoH_v2"},
		{&d.cuMemcpyDtoD, "cuMemcpyDtoD_v2"}, {&d.cuMemsetD8, "cuMemsetD8_v2"},
		{&d.cuLaunchKernel, "cuLaunchKernel"},
		{&d.cuGetErrorName, "cuGetErrorName"}, {&d.cuGetErrorString, "cuGetErrorString"},
	} {
		sym, err := purego.Dlsym(lib, b.name)
		if err != nil {
			return nil, fmt.Errorf("the CUDA driver %s lacks %s: %w", path, b.name, err)
		}
		purego.RegisterFunc(b.fn, sym)
	}
	if err := d.check("cuInit", d.cuInit(0)); err != nil {
		return nil, err
	}
	opened[path] = d
	return d, nil
}

func cString(p *byte) string {
	if p == nil {
		return ""
	}
	var n int
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// check turns a CUresult into an error naming the call.
func (d *Driver) check(call string, code int32) error {
	if code == 0 {
		return nil
	}
	e := &Error{Call: call, Code: code, Name: fmt.Sprintf("CUDA_ERROR_%d", code)}
	var s *byte
	if d.cuGetErrorName(code, &s) == 0 && s != nil {
		e.Name = cString(s)
	}
	if d.cuGetErrorString(code, &s) == 0 && s != nil {
		e.Msg = cString(s)
	}
	return e
}

// Version is the driver's CUDA version, like 12040 for 12.4.
func (d *Driver) Version() (int, error) {
	var v int32
	err := d.check("cuDriverGetVersion", d.cuDriverGetVersion(&v))
	return int(v), err
}

// DeviceCount is the number of CUDA devices.
func (d *Driver) DeviceCount() (int, error) {
	var n int32
	err := d.check("cuDeviceGetCount", d.cuDeviceGetCount(&n))
	return int(n), err
}

// Context is a device's primary context with the module of kernels
// loaded in it. Its methods make it current on the calling OS thread; use
// Do to keep a sequence of calls on one thread.
type Context struct {
	d       *Driver
	dev     int32
	ordinal int
	ctx     uintptr
	Name    string
	Memory  uint64
}

// Retain retains device ordinal's primary context.
func (d *Driver) Retain(ordinal int) (*Context, error) {
	c := &Context{d: d, ordinal: ordinal}
	if err := d.check("cuDeviceGet", d.cuDeviceGet(&c.dev, int32(ordinal))); err != nil {
		return nil, err
	}
	var name [256]byte
	if err := d.check("cuDeviceGetName", d.cuDeviceGetName(&name[0], int32(len(name)), c.dev)); err != nil {
		return nil, err
	}
	c.Name = cString(&name[0])
	if err := d.check("cuDeviceTotalMem", d.cuDeviceTotalMem(&c.Memory, c.dev)); err != nil {
		return nil, err
	}
	if err := d.check("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&c.ctx, c.dev)); err != nil {
		return nil, err
	}
	return c, nil
}

// Ordinal is the device's number.
func (c *Context) Ordinal() int { return c.ordinal }

// Release releases the primary context.
func (c *Context) Release() error {
	return c.d.check("cuDevicePrimaryCtxRelease", c.d.cuDevicePrimaryCtxRelease(c.dev))
}

// Do runs f on one OS thread with the context current: the driver's
// current context is per thread, and goroutines move between threads.
func (c *Context) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := c.d.check("cuCtxSetCurrent", c.d.cuCtxSetCurrent(c.ctx)); err != nil {
		return err
	}
	return f()
}

// Synchronize waits for the context's work; kernel errors surface here.
func (c *Context) Synchronize() error {
	return c.d.check("cuCtxSynchronize", c.d.cuCtxSynchronize())
}

// Module is loaded PTX.
type Module struct {
	c   *Context
	mod uintptr
}

// Load JITs PTX text into a module. A JIT failure's log is in the error.
func (c *Context) Load(ptx []byte) (*Module, error) {
	image := make([]byte, len(ptx)+1) // NUL-terminated
	copy(image, ptx)
	var log [8192]byte
	const (
		jitErrorLogBuffer     = 5 // CU_JIT_ERROR_LOG_BUFFER
		jitErrorLogBufferSize = 6 // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
	)
	opts := []int32{jitErrorLogBuffer, jitErrorLogBufferSize}
	vals := []uintptr{uintptr(unsafe.Pointer(&log[0])), uintptr(len(log))}
	var mod uintptr
	code := c.d.cuModuleLoadDataEx(&mod, unsafe.Pointer(&image[0]), uint32(len(opts)), &opts[0], &vals[0])
	runtime.KeepAlive(image)
	runtime.KeepAlive(log)
	if err := c.d.check("cuModuleLoadDataEx", code); err != nil {
		if msg := cString(&log[0]); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return &Module{c: c, mod: mod}, nil
}

// Unload unloads the module.
func (m *Module) Unload() error {
	return m.c.d.check("cuModuleUnload", m.c.d.cuModuleUnload(m.mod))
}

// Function is a kernel of a module.
type Function struct {
	m    *Module
	fn   uintptr
	Name string
}

// Function looks a kernel up by name.
func (m *Module) Function(name string) (*Function, error) {
	cname := append([]byte(name), 0)
	var fn uintptr
	if err := m.c.d.check("cuModuleGetFunction("+name+")", m.c.d.cuModuleGetFunction(&fn, m.mod, &cname[0])); err != nil {
		return nil, err
	}
	return &Function{m: m, fn: fn, Name: name}, nil
}

// Dim is a grid or block size.
type Dim struct{ X, Y, Z int }

// Launch runs the kernel on the default stream. args are the kernel's
// parameters in order, each an int32, int64, uint64, float64 or Ptr.
func (f *Function) Launch(grid, block Dim, shared int, args ...any) error {
	// The driver reads each parameter through a pointer to its value, as
	// many bytes as the kernel's parameter has. Each value sits in its own
	// 16 bytes, the rest set to 0xff: a kernel (or the tests' mock) that
	// reads a wider type than was passed reads garbage.
	vals := make([]uint64, 2*len(args))
	for i := range vals {
		vals[i] = ^uint64(0)
	}
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		at := unsafe.Pointer(&vals[2*i])
		switch v := a.(type) {
		case int32:
			*(*int32)(at) = v
		case int:
			if v != int(int32(v)) {
				return fmt.Errorf("launching %s: parameter %d (%d) overflows a C int", f.Name, i, v)
			}
			*(*int32)(at) = int32(v)
		case int64:
			*(*int64)(at) = v
		case uint64:
			*(*uint64)(at) = v
		case Ptr:
			*(*uint64)(at) = uint64(v)
		case float64:
			*(*float64)(at) = v
		default:
			return fmt.Errorf("launching %s: parameter %d has unsupported type %T", f.Name, i, a)
		}
		params[i] = at
	}
	var pp *unsafe.Pointer
	if len(params) > 0 {
		pp = &params[0]
	}
	for _, d := range []int{grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z} {
		if d < 1 {
			return fmt.Errorf("launching %s: grid %v, block %v", f.Name, grid, block)
		}
	}
	code := f.m.c.d.cuLaunchKernel(f.fn, uint32(grid.X), uint32(grid.Y), uint32(grid.Z),
		uint32(block.X), uint32(block.Y), uint32(block.Z), uint32(shared), 0, pp, nil)
	runtime.KeepAlive(vals)
	runtime.KeepAlive(params)
	return f.m.c.d.check("cuLaunchKernel("+f.Name+")", code)
}

// Alloc allocates device memory.
func (c *Context) Alloc(size int) (Ptr, error) {
	if size <= 0 {
		return 0, errors.New("cuda: allocating no bytes")
	}
	var p Ptr
	err := c.d.check(fmt.Sprintf("cuMemAlloc(%d)", size), c.d.cuMemAlloc(&p, uint64(size)))
	return p, err
}

// Free frees device memory; 0 is ignored.
func (c *Context) Free(p Ptr) error {
	if p == 0 {
		return nil
	}
	return c.d.check("cuMemFree", c.d.cuMemFree(p))
}

// ToDevice copies a slice's bytes to dst.
func ToDevice[T any](c *Context, dst Ptr, src []T) error {
	if len(src) == 0 {
		return nil
	}
	size := uint64(len(src)) * uint64(unsafe.Sizeof(src[0]))
	code := c.d.cuMemcpyHtoD(dst, unsafe.Pointer(&src[0]), size)
	runtime.KeepAlive(src)
	return c.d.check("cuMemcpyHtoD", code)
}

// ToHost copies len(dst) elements from src.
func ToHost[T any](c *Context, dst []T, src Ptr) error {
	if len(dst) == 0 {
		return nil
	}
	size := uint64(len(dst)) * uint64(unsafe.Sizeof(dst[0]))
	code := c.d.cuMemcpyDtoH(unsafe.Pointer(&dst[0]), src, size)
	runtime.KeepAlive(dst)
	return c.d.check("cuMemcpyDtoH", code)
}

// Copy copies size bytes between device buffers.
func (c *Context) Copy(dst, src Ptr, size int) error {
	return c.d.check("cuMemcpyDtoD", c.d.cuMemcpyDtoD(dst, src, uint64(size)))
}

// Zero sets size bytes to zero.
func (c *Context) Zero(dst Ptr, size int) error {
	return c.d.check("cuMemsetD8", c.d.cuMemsetD8(dst, 0, uint64(size)))
}
