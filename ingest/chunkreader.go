package ingest

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-ml/sluice/sources"
)

// chunkReader streams a source's parsed records as an Arrow RecordReader,
// keeping the rejects aside, so a full refresh writes without holding the
// whole source in memory.
type chunkReader struct {
	ctx     context.Context
	src     sources.Reader
	cur     arrow.RecordBatch
	err     error
	refs    atomic.Int64
	rejects []sources.Reject
	rows    int64
	// onRecord, when set, sees every record batch before it is written.
	onRecord func(arrow.RecordBatch)
}

var _ array.RecordReader = (*chunkReader)(nil)

func newChunkReader(ctx context.Context, src sources.Reader) *chunkReader {
	r := &chunkReader{ctx: ctx, src: src}
	r.refs.Store(1)
	return r
}

func (r *chunkReader) Retain() { r.refs.Add(1) }

func (r *chunkReader) Release() {
	if r.refs.Add(-1) == 0 && r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

func (r *chunkReader) Schema() *arrow.Schema { return r.src.Schema() }

func (r *chunkReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for r.err == nil {
		ch, err := r.src.Next(r.ctx)
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			r.err = err
			return false
		}
		r.rejects = append(r.rejects, ch.Rejects...)
		if ch.Records != nil {
			r.cur = ch.Records
			r.rows += ch.Records.NumRows()
			if r.onRecord != nil {
				r.onRecord(ch.Records)
			}
			return true
		}
	}
	return false
}

func (r *chunkReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record implements the deprecated half of array.RecordReader.
func (r *chunkReader) Record() arrow.RecordBatch { return r.cur }

func (r *chunkReader) Err() error { return r.err }
