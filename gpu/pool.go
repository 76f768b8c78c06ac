package gpu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sluice-ml/sluice/gpu/cuda"
	"github.com/sluice-ml/sluice/ml/gbdt"
)

// Pool is a gpu worker's GPUs: each opened and self-tested at start. A GPU
// that fails either, or fails later with a CUDA error, is set aside and
// its trials train on the CPU; the trial's record says which ran.
type Pool struct {
	logger  *slog.Logger
	mu      sync.Mutex
	devices []*Device
	reasons []string // why a GPU is set aside
}

// OpenPool opens GPUs 0 to n-1 and self-tests each. It never fails: a GPU
// that cannot be used is logged and left to the CPU.
func OpenPool(n int, logger *slog.Logger) *Pool {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{logger: logger, devices: make([]*Device, n), reasons: make([]string, n)}
	for i := range n {
		d, err := Open(i)
		if err == nil {
			if err = d.SelfTest(); err != nil {
				d.Close()
			}
		}
		if err != nil {
			p.reasons[i] = err.Error()
			logger.Error("GPU unusable: its trials train on the CPU", "gpu", i, "err", err)
			continue
		}
		p.devices[i] = d
		logger.Info("GPU ready", "gpu", d.String(), "memory_gib", d.Memory>>30)
	}
	return p
}

// Close releases the GPUs.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, d := range p.devices {
		if d != nil {
			d.Close()
			p.devices[i] = nil
		}
	}
}

// Ready counts the usable GPUs.
func (p *Pool) Ready() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, d := range p.devices {
		if d != nil {
			n++
		}
	}
	return n
}

// Run trains on GPU ordinal: train gets the GPU's engine, or nil (the CPU
// engine) when the GPU is set aside. A CUDA error sets the GPU aside and
// runs train again on the CPU. ran names what trained, for the trial's
// record: "gpu:0 (NVIDIA H100 80GB HBM3)" or "cpu (gpu:0 unusable: ...)".
func (p *Pool) Run(ordinal int, train func(gbdt.Engine) error) (ran string, err error) {
	p.mu.Lock()
	var d *Device
	reason := fmt.Sprintf("no GPU %d", ordinal)
	if ordinal >= 0 && ordinal < len(p.devices) {
		d, reason = p.devices[ordinal], p.reasons[ordinal]
	}
	p.mu.Unlock()
	if d == nil {
		return fmt.Sprintf("cpu (gpu:%d unusable: %s)", ordinal, reason), train(nil)
	}
	err = train(d.Engine())
	var cerr *cuda.Error
	if err == nil || !errors.As(err, &cerr) {
		return d.String(), err
	}
	p.logger.Error("CUDA error: the GPU is set aside and the trial trains on the CPU", "gpu", d.String(), "err", err)
	p.mu.Lock()
	if p.devices[ordinal] == d {
		p.devices[ordinal], p.reasons[ordinal] = nil, err.Error()
		d.Close()
	}
	p.mu.Unlock()
	return fmt.Sprintf("cpu (%s failed: %v)", d.String(), cerr), train(nil)
}
