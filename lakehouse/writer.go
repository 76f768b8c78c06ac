package lakehouse

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// Writer pushes record batches into a stage: Add hands each batch to one
// of a few background writers, each writing data files of its own, and
// Close waits for them. Parquet encoding and compression are the costly
// part of writing to the lake, and one writer keeps one core busy, so a
// producer that computes batches (a parse, a join, a scoring run) pushes
// them here and goes on with the next. One producer calls Add and then
// Close; they are not for concurrent use.
type Writer struct {
	ctx    context.Context
	cancel context.CancelFunc
	feed   chan arrow.RecordBatch
	wg     sync.WaitGroup
	mu     sync.Mutex // guards files and errs
	files  []string
	errs   []error
	closed bool
}

// WriterOptions shape a Writer.
type WriterOptions struct {
	// Writers is how many background writers write at once; 0 means one
	// per core (GOMAXPROCS).
	Writers int
	// Buffer is how many batches may wait for a writer before Add
	// blocks; 0 means none.
	Buffer int
}

// NewWriter starts a stage's background writers. Call Close (or Abort)
// once the batches are in.
func (s *Stage) NewWriter(ctx context.Context, o WriterOptions) *Writer {
	n := o.Writers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Writer{ctx: ctx, cancel: cancel, feed: make(chan arrow.RecordBatch, o.Buffer)}
	w.wg.Add(n)
	for range n {
		go func() {
			defer w.wg.Done()
			paths, err := s.Write(ctx, func(yield func(arrow.RecordBatch, error) bool) {
				for rec := range w.feed {
					if !yield(rec, nil) {
						return
					}
				}
			})
			w.mu.Lock()
			w.files = append(w.files, paths...)
			if err != nil {
				w.errs = append(w.errs, err)
			}
			w.mu.Unlock()
			if err != nil {
				cancel() // Add stops taking batches
			}
		}()
	}
	return w
}

// Add hands a batch to a writer, which releases it once written: the
// caller gives up its reference. Once a writer failed (or the context
// ended), or after Close, Add releases the batch and returns the failure.
func (w *Writer) Add(rec arrow.RecordBatch) error {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed || w.ctx.Err() != nil {
		rec.Release()
		if closed {
			return errors.New("lakehouse: the writer is closed")
		}
		return w.failure()
	}
	select {
	case w.feed <- rec:
		return nil
	case <-w.ctx.Done():
		rec.Release()
		return w.failure()
	}
}

// failure is the writers' error, or the context's when none failed.
func (w *Writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		return errors.Join(w.errs...)
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	return errors.New("lakehouse: the writer stopped")
}

// Close waits for the writers to write what was added and returns the
// files written. The files stay staged: the stage's Commit adds them.
// Batches a failed writer left waiting are released.
func (w *Writer) Close() ([]string, error) {
	w.mu.Lock()
	closed := w.closed
	w.closed = true
	w.mu.Unlock()
	if !closed {
		close(w.feed)
	}
	w.wg.Wait()
	for rec := range w.feed {
		rec.Release()
	}
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.files, errors.Join(w.errs...)
}
