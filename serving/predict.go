package serving

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
)

// Instance is one entity to score: its key and any feature values, by the
// feature's full name (customer_txn__amount_sum_7d) or its column's
// (tenure_months). Values it lacks come from the online store.
type Instance = map[string]any

// Prediction is one instance's answer.
type Prediction struct {
	// Score is the positive class's probability (binary), the chosen
	// class's (multiclass) or the prediction (regression).
	Score float64 `json:"score"`
	// Label is the predicted class's index; Class its name when the
	// model knows names. Both absent for regression.
	Label *int   `json:"label,omitempty"`
	Class string `json:"class,omitempty"`
	// Version and Variant name what scored it.
	Version int    `json:"version"`
	Variant string `json:"variant"`
	// UnknownEntity flags an entity the online store has no row for: it
	// was scored with missing values.
	UnknownEntity bool `json:"unknown_entity,omitempty"`
	// features is the model's input row, for the prediction log.
	features []float32
}

// PredictResponse answers POST /v1/models/{model}:predict. Version and
// Variant are set when every prediction shares them.
type PredictResponse struct {
	Model       string       `json:"model"`
	Version     int          `json:"version,omitempty"`
	Variant     string       `json:"variant,omitempty"`
	RequestID   string       `json:"request_id"`
	Predictions []Prediction `json:"predictions"`
}

var requestSeq atomic.Uint64

var processTag = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

// requestIDRE is what a caller's X-Request-Id may be; anything else is
// replaced, so the prediction log only ever holds plain ids.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// requestID is the caller's X-Request-Id, when it is a plain id, or a new
// one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); requestIDRE.MatchString(id) {
		return id
	}
	return processTag + "-" + strconv.FormatUint(requestSeq.Add(1), 36)
}

// predict answers POST /v1/models/{model}:predict.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) {
	begin := time.Now()
	model := chi.URLParam(r, "model")
	res, err := s.predictJSON(r, model)
	s.observe(res.Model, res.Version, res.Variant, err, begin)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (s *Server) predictJSON(r *http.Request, model string) (PredictResponse, error) {
	res := PredictResponse{Model: model, RequestID: requestID(r)}
	st, err := s.served(model)
	if err != nil {
		return res, err
	}
	// A name without its project answers, and is recorded, as the model.
	model = st.name
	res.Model = model
	instances, size, err := decodePredict(r, s.opts.MaxBodyBytes, s.opts.MaxInstances, st.reads())
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	begin := time.Now()
	preds, keys, err := s.score(ctx, model, st, instances, true)
	if err != nil {
		return res, err
	}
	res.Predictions = preds
	s.afterScoring(model, st, instances, size, keys, preds, res.RequestID, time.Since(begin))
	res.Version, res.Variant = res.Predictions[0].Version, res.Predictions[0].Variant
	for _, p := range res.Predictions[1:] {
		if p.Version != res.Version || p.Variant != res.Variant {
			res.Version, res.Variant = 0, ""
			break
		}
	}
	return res, nil
}

// served finds a model with at least one loaded variant.
func (s *Server) served(model string) (*modelState, error) {
	// A name no model can have is refused before anything else: it is
	// never echoed, looked up or counted under its own label.
	if !registry.ValidName(model) {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_model_name", "a model name is letters, digits, _ and -, starting with a letter, at most 63 characters, after an optional project and a dot (churn_demo.churn)")
	}
	if s.models == nil {
		return nil, httpx.Errorf(http.StatusNotFound, "unknown_model", "no model %q is served (this server has no registry)", model)
	}
	st := s.models.get(model)
	if st == nil || len(st.byAlias) == 0 {
		return nil, httpx.Errorf(http.StatusNotFound, "unknown_model", "no model %q is served: it has no %v version", model, s.models.routingOf(model).aliases())
	}
	return st, nil
}

// score routes each instance to its variant (primary) or to the shadow
// alias, fills its features and predicts. It returns each instance's
// entity key with its prediction.
func (s *Server) score(ctx context.Context, model string, st *modelState, instances batch, primary bool) ([]Prediction, []string, error) {
	n := instances.Len()
	if n == 0 || n > s.opts.MaxInstances {
		return nil, nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "give between 1 and %d instances, not %d", s.opts.MaxInstances, n)
	}
	keyName := ""
	for _, v := range st.routing.aliases() {
		if l := st.byAlias[v]; l != nil && l.key != "" {
			keyName = l.key
			break
		}
	}
	keys := make([]string, n)
	groups := map[*loaded][]int{}
	var order []*loaded
	for i := range n {
		if keyName != "" {
			v, _ := instances.Value(i, keyName)
			k, err := keyString(v)
			if err != nil {
				return nil, nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "instance %d: the key %s: %v", i, keyName, err)
			}
			keys[i] = k
		}
		alias := st.routing.pick(keys[i], uint64(i)+requestSeq.Load())
		if !primary {
			alias = st.routing.Shadow
		}
		l := st.byAlias[alias]
		if l == nil {
			// An alias not loaded (yet): the first loaded variant answers.
			for _, v := range st.routing.Variants {
				if l = st.byAlias[v.Alias]; l != nil {
					break
				}
			}
			if l == nil {
				return nil, nil, httpx.Errorf(http.StatusServiceUnavailable, "not_ready", "model %s has no loaded version to answer with", model)
			}
		}
		if groups[l] == nil {
			order = append(order, l)
		}
		groups[l] = append(groups[l], i)
	}
	out := make([]Prediction, n)
	for _, l := range order {
		if err := s.scoreGroup(ctx, l, instances, keys, groups[l], out); err != nil {
			return nil, nil, err
		}
	}
	return out, keys, nil
}

// maxKeyBytes bounds an entity key: keys are ids, and a longer one would
// only bloat the caches and the prediction log.
const maxKeyBytes = 256

// keyString reads an entity key: a string of at most maxKeyBytes valid
// UTF-8 without NUL (PostgreSQL's text refuses NUL, and a row the log's
// COPY refuses must not reach it), or a whole number.
func keyString(v any) (string, error) {
	switch k := v.(type) {
	case nil:
		return "", nil
	case string:
		switch {
		case len(k) > maxKeyBytes:
			return "", fmt.Errorf("a key is at most %d bytes, not %d", maxKeyBytes, len(k))
		case strings.IndexByte(k, 0) >= 0 || !utf8.ValidString(k):
			return "", errors.New("a key holds no NUL and is valid UTF-8")
		}
		return k, nil
	case float64:
		if k == math.Trunc(k) && math.Abs(k) < 1<<53 {
			return strconv.FormatInt(int64(k), 10), nil
		}
	}
	return "", fmt.Errorf("want a string or a whole number, got %v", v)
}

// scoreGroup scores the instances idx of one loaded version.
func (s *Server) scoreGroup(ctx context.Context, l *loaded, instances batch, keys []string, idx []int, out []Prediction) error {
	nf := len(l.inputs)
	// Which instances need each view's online row: those that lack one of
	// its features.
	rows := make([][]online.Row, len(l.views))
	fetched := make([]bool, len(idx))
	for vi, view := range l.views {
		var want []string
		var pos []int
		for j, i := range idx {
			if keys[i] == "" {
				continue
			}
			for _, in := range l.inputs {
				if in.view == view && !has(instances, i, in) {
					want, pos = append(want, keys[i]), append(pos, j)
					break
				}
			}
		}
		if len(want) == 0 || s.online == nil {
			continue
		}
		got, err := s.online.Get(ctx, view, want)
		if errors.Is(err, online.ErrNoView) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return httpx.Errorf(http.StatusServiceUnavailable, "timeout", "reading online features took longer than %s", s.opts.Timeout)
			}
			return fmt.Errorf("reading online features of %s: %w", view, err)
		}
		rows[vi] = make([]online.Row, len(idx))
		for k, j := range pos {
			rows[vi][j] = got[k]
			fetched[j] = true
		}
	}
	x := make([]float32, len(idx)*nf)
	unknown := make([]bool, len(idx))
	for j, i := range idx {
		found := false
		var missing []string
		for f, in := range l.inputs {
			v, ok := instances.Value(i, in.name)
			if !ok {
				v, ok = instances.Value(i, in.short)
			}
			if !ok {
				for vi, view := range l.views {
					if view == in.view && rows[vi] != nil && rows[vi][j] != nil {
						v, ok, found = rows[vi][j][in.name], true, true
					}
				}
			}
			if !ok {
				missing = append(missing, in.name)
			}
			val, err := in.value(v)
			if err != nil {
				return httpx.Errorf(http.StatusBadRequest, "bad_request", "instance %d: %v", i, err)
			}
			x[j*nf+f] = val
		}
		if len(missing) > 0 && !l.allowMissing {
			return missingError(i, missing, l.key, keys[i])
		}
		unknown[j] = fetched[j] && !found
	}
	k := l.art.Outputs()
	preds := make([]float64, len(idx)*k)
	for j := range idx {
		l.art.PredictRow(x[j*nf:(j+1)*nf], preds[j*k:(j+1)*k])
	}
	score, label, classes := l.art.Decide(preds, len(idx))
	for j, i := range idx {
		if math.IsNaN(score[j]) || math.IsInf(score[j], 0) {
			// JSON has no NaN: answering would fail after the 200 is out.
			return fmt.Errorf("%s v%d scored instance %d as %v", l.model, l.version, i, score[j])
		}
		p := Prediction{Score: score[j], Version: l.version, Variant: l.alias, UnknownEntity: unknown[j], features: x[j*nf : (j+1)*nf]}
		if label != nil {
			c := int(label[j])
			p.Label = &c
			if len(l.art.Classes) > 0 && l.art.Task != ml.Regression {
				p.Class = classes[c]
			}
		}
		out[i] = p
	}
	return nil
}

// missingError is the 400 for an instance whose features neither it nor
// the online store supply.
func missingError(i int, missing []string, keyName, key string) error {
	names := strings.Join(missing, ", ")
	if len(missing) > 5 {
		names = strings.Join(missing[:5], ", ") + fmt.Sprintf(" and %d more", len(missing)-5)
	}
	why := "give them in the instance"
	switch {
	case keyName != "" && key == "":
		why = fmt.Sprintf("give them, or the entity key %s for the online store to fill them", keyName)
	case keyName != "":
		why = "the online store holds no row for this entity: give them in the instance"
	}
	return httpx.Errorf(http.StatusBadRequest, "missing_features", "instance %d lacks %s; %s (or let the model answer with missing values: models.<m>.serving.allow_missing in the spec)", i, names, why)
}

// has says the instance gives the feature's value.
func has(instances batch, i int, in input) bool {
	if _, ok := instances.Value(i, in.name); ok {
		return true
	}
	_, ok := instances.Value(i, in.short)
	return ok
}
