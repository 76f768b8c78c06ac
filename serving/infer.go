package serving

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-ml/sluice/internal/httpx"
)

type inferOutput struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	Data     any    `json:"data"`
}

type inferResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version,omitempty"`
	ID           string         `json:"id,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	Outputs      []inferOutput  `json:"outputs"`
}

// infer answers POST /v2/models/{model}/infer: one input tensor of shape
// [n] per feature (or the entity key), one row per instance; outputs
// score, label, version and variant.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	begin := time.Now()
	model := chi.URLParam(r, "model")
	res, version, variant, err := s.inferJSON(r, model)
	s.observe(res.ModelName, version, variant, err, begin)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (s *Server) inferJSON(r *http.Request, model string) (inferResponse, int, string, error) {
	res := inferResponse{ModelName: model}
	st, err := s.served(model)
	if err != nil {
		return res, 0, "", err
	}
	model = st.name
	res.ModelName = model
	req, err := decodeInfer(r, s.opts.MaxBodyBytes, s.opts.MaxInstances, st.reads())
	if err != nil {
		return res, 0, "", err
	}
	res.ID = req.id
	n := req.rows.n
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	reqID := requestID(r)
	begin := time.Now()
	preds, keys, err := s.score(ctx, model, st, req.rows, true)
	if err != nil {
		return res, 0, "", err
	}
	s.afterScoring(model, st, req.rows, req.size, keys, preds, reqID, time.Since(begin))
	scores, labels, versions, variants := make([]float64, n), make([]int, n), make([]int, n), make([]string, n)
	for i, p := range preds {
		scores[i], versions[i], variants[i] = p.Score, p.Version, p.Variant
		if p.Label != nil {
			labels[i] = *p.Label
		}
	}
	res.Outputs = []inferOutput{{Name: "score", Shape: []int{n}, Datatype: "FP64", Data: scores}}
	if preds[0].Label != nil {
		res.Outputs = append(res.Outputs, inferOutput{Name: "label", Shape: []int{n}, Datatype: "INT64", Data: labels})
	}
	res.Outputs = append(res.Outputs, inferOutput{Name: "version", Shape: []int{n}, Datatype: "INT64", Data: versions},
		inferOutput{Name: "variant", Shape: []int{n}, Datatype: "BYTES", Data: variants})
	res.ModelVersion = strconv.Itoa(preds[0].Version)
	res.Parameters = map[string]any{"variant": preds[0].Variant, "request_id": reqID}
	return res, preds[0].Version, preds[0].Variant, nil
}

type tensorMeta struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

type modelMetadata struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []tensorMeta `json:"inputs"`
	Outputs  []tensorMeta `json:"outputs"`
	// Variants maps each served alias to its loaded version, and Failures
	// each alias whose last load failed to why.
	Variants map[string]int    `json:"variants"`
	Failures map[string]string `json:"failures,omitempty"`
}

// modelMetadata answers GET /v2/models/{model}.
func (s *Server) modelMetadata(r *http.Request) (any, error) {
	model := chi.URLParam(r, "model")
	st, err := s.served(model)
	if err != nil {
		return nil, err
	}
	md := modelMetadata{Name: model, Platform: "sluice", Variants: map[string]int{}, Failures: st.failure}
	var first *loaded
	for _, alias := range st.routing.aliases() {
		if l := st.byAlias[alias]; l != nil {
			md.Variants[alias] = l.version
			md.Versions = append(md.Versions, strconv.Itoa(l.version))
			if first == nil {
				first = l
			}
		}
	}
	if first.key != "" {
		md.Inputs = append(md.Inputs, tensorMeta{Name: first.key, Datatype: "BYTES", Shape: []int{-1}})
	}
	for _, in := range first.inputs {
		dt := "FP64"
		if in.codes != nil {
			dt = "BYTES"
		}
		md.Inputs = append(md.Inputs, tensorMeta{Name: in.name, Datatype: dt, Shape: []int{-1}})
	}
	md.Outputs = []tensorMeta{{Name: "score", Datatype: "FP64", Shape: []int{-1}}, {Name: "label", Datatype: "INT64", Shape: []int{-1}},
		{Name: "version", Datatype: "INT64", Shape: []int{-1}}, {Name: "variant", Datatype: "BYTES", Shape: []int{-1}}}
	return md, nil
}

// modelReady answers GET /v2/models/{model}/ready: 200 when the model's
// first variant is loaded.
func (s *Server) modelReady(r *http.Request) (any, error) {
	model := chi.URLParam(r, "model")
	st, err := s.served(model)
	if err != nil {
		return nil, err
	}
	first := st.routing.Variants[0].Alias
	if st.byAlias[first] == nil {
		return nil, httpx.Errorf(http.StatusServiceUnavailable, "not_ready", "model %s has no %s loaded", model, first)
	}
	return map[string]any{"name": model, "ready": true}, nil
}
