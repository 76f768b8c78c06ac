package serving

// What happens around every prediction, v1 or v2: its metrics, its entry
// in the prediction log, and its scoring in the shadow.

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-ml/sluice/internal/httpx"
)

// otherModels is the metrics label of requests for models this server
// does not serve, so a client cannot add labels by inventing names.
const otherModels = "_other"

// observe counts a request and its latency, under the model's name only
// when the model is served.
func (s *Server) observe(model string, version int, variant string, err error, begin time.Time) {
	if s.models == nil || s.models.get(model) == nil {
		model = otherModels
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusInternalServerError
		if he, ok := err.(*httpx.Error); ok {
			status = he.Status
		}
	}
	v := ""
	if version > 0 {
		v = strconv.Itoa(version)
	}
	s.metrics.requests.WithLabelValues(model, v, variant, strconv.Itoa(status)).Inc()
	if err == nil {
		s.metrics.latency.WithLabelValues(model, v, variant).Observe(time.Since(begin).Seconds())
	}
}

// afterScoring logs the request's predictions and hands it to the
// shadow, both without blocking.
func (s *Server) afterScoring(model string, st *modelState, instances batch, size int64, keys []string, preds []Prediction, reqID string, took time.Duration) {
	s.record(model, keys, preds, reqID, "", took)
	if st.routing.Shadow == "" || st.byAlias[st.routing.Shadow] == nil {
		return
	}
	s.shadowOnce.Do(func() {
		s.shadow = make(chan shadowJob, 1024)
		go s.runShadow()
	})
	// The queue holds at most 1,024 requests and shadowQueueBytes of
	// their bodies' worth: a burst of large requests is dropped, not kept.
	if s.shadowBytes.Add(size) > shadowQueueBytes {
		s.shadowBytes.Add(-size)
		s.metrics.shadowDropped.Inc()
		return
	}
	select {
	case s.shadow <- shadowJob{model: model, st: st, instances: instances, size: size, reqID: reqID}:
	default:
		s.shadowBytes.Add(-size)
		s.metrics.shadowDropped.Inc()
	}
}

// shadowQueueBytes bounds the request bodies the shadow queue holds.
const shadowQueueBytes = 16 << 20

// shadowJob is a request to score again with the shadow alias.
type shadowJob struct {
	model     string
	st        *modelState
	instances batch
	size      int64
	reqID     string
}

// runShadow scores shadow jobs one at a time and logs them as variant
// shadow:<alias>.
func (s *Server) runShadow() {
	for job := range s.shadow {
		s.shadowBytes.Add(-job.size)
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		begin := time.Now()
		preds, keys, err := s.score(ctx, job.model, job.st, job.instances, false)
		cancel()
		if err != nil {
			s.logger.Warn("serving: shadow scoring failed", "model", job.model, "request", job.reqID, "error", err)
			continue
		}
		s.record(job.model, keys, preds, job.reqID, "shadow:", time.Since(begin))
	}
}

// record logs a request's predictions, their variants prefixed.
func (s *Server) record(model string, keys []string, preds []Prediction, reqID, prefix string, took time.Duration) {
	if s.predLog == nil {
		return
	}
	now := time.Now()
	for i, p := range preds {
		s.predLog.Add(LogEntry{RequestID: reqID, Model: model, Entity: keys[i], Version: p.Version, Variant: prefix + p.Variant,
			Score: p.Score, Latency: took, At: now, Features: p.features})
	}
}
