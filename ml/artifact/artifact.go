// Package artifact reads and writes model artifacts: a versioned binary
// file holding the feature schema and encodings, the model, its metrics and
// reference histograms of every feature and of the score (for drift), with
// a readable JSON dump beside it.
//
// The file is: the magic "SLUICEML", a little-endian uint16 format version,
// a uint32 header length and a JSON header, the binary body (GBDT trees),
// and a CRC-32 (IEEE) of everything before it. Version 2 added categorical
// splits: after each node's version 1 fields, a flag byte, and for a
// categorical split the 32-byte set of bins that go left (flag 1), or a
// uint32 word count and the words of the set of category codes that go
// right (flag 2, gbdt.Node.RightCodes); the header holds each categorical
// feature's category-to-bin map. Version 1 files still decode.
package artifact

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"time"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/linear"
)

// Magic starts every artifact file.
const Magic = "SLUICEML"

// Version is the newest format this package writes: models with
// categorical splits are written in it, others in version 1.
const Version = 2

// MaxSize bounds the files Decode accepts.
const MaxSize = 1 << 30

// ErrFormat reports a file that is not a valid artifact.
var ErrFormat = errors.New("artifact: not a valid model artifact")

// Algorithm names the model family.
type Algorithm string

// Algorithms.
const (
	GBDT   Algorithm = "gbdt"
	Linear Algorithm = "linear"
)

// Feature describes one input column as the model expects it.
type Feature struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"` // numeric | categorical
	Categories []string `json:"categories,omitempty"`
}

// Histogram is a reference distribution. Numeric: Counts[i] counts values
// in [Edges[i], Edges[i+1]), the last bin closed. Categorical: Counts[i]
// counts category i, with no edges.
type Histogram struct {
	Edges   []float64 `json:"edges,omitempty"`
	Counts  []uint64  `json:"counts"`
	Missing uint64    `json:"missing"`
}

// Reference holds the training distributions, for drift monitoring.
type Reference struct {
	Features []Histogram `json:"features"`
	Score    Histogram   `json:"score"`
	// Samples hold, per numeric feature, ReferenceSample training values
	// at evenly spaced quantiles (nil for categorical features), and
	// ScoreSample the scores': what two-sample tests compare against.
	// Artifacts made before them have none.
	Samples     [][]float32 `json:"samples,omitempty"`
	ScoreSample []float32   `json:"score_sample,omitempty"`
}

// Artifact is a model with everything needed to serve and monitor it.
type Artifact struct {
	Task      ml.Task            `json:"task"`
	Algorithm Algorithm          `json:"algorithm"`
	Features  []Feature          `json:"features"`
	Label     string             `json:"label,omitempty"`
	Classes   []string           `json:"classes,omitempty"`
	Params    map[string]string  `json:"params,omitempty"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	// EvaluatedOn says what rows the metrics were measured on.
	EvaluatedOn string     `json:"evaluated_on,omitempty"`
	Reference   *Reference `json:"reference,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	// Source says where the model came from: "sluice" or "xgboost".
	Source string `json:"source,omitempty"`

	GBDT   *gbdt.Model   `json:"-"`
	Linear *linear.Model `json:"-"`
}

// header is the JSON part of the file: the artifact's fields and the
// model's scalars (the trees go in the binary body).
type header struct {
	Artifact
	Model   *modelHeader  `json:"gbdt,omitempty"`
	LinearM *linear.Model `json:"linear,omitempty"`
}

type modelHeader struct {
	Task        ml.Task   `json:"task"`
	NumClass    int       `json:"num_class"`
	BaseScore   []float64 `json:"base_score"`
	NumFeatures int       `json:"num_features"`
	BestRound   int       `json:"best_round"`
	Trees       int       `json:"trees"`
	// CategoryBins maps each categorical feature's category codes to
	// bins (gbdt.Model.CategoryBins), base64 in JSON.
	CategoryBins [][]byte `json:"category_bins,omitempty"`
}

// Validate checks the artifact's parts agree.
func (a *Artifact) Validate() error {
	if _, err := ml.ParseTask(string(a.Task)); err != nil {
		return err
	}
	for i, f := range a.Features {
		if f.Kind != "numeric" && f.Kind != "categorical" {
			return fmt.Errorf("artifact: feature %d (%q) has kind %q", i, f.Name, f.Kind)
		}
	}
	switch a.Algorithm {
	case GBDT:
		if a.GBDT == nil || a.Linear != nil {
			return errors.New("artifact: a gbdt artifact needs a tree model and no other")
		}
		if err := a.GBDT.Validate(); err != nil {
			return err
		}
		if a.GBDT.NumFeatures > len(a.Features) || a.GBDT.Task != a.Task {
			return fmt.Errorf("artifact: model uses %d features of %d, task %q of %q", a.GBDT.NumFeatures, len(a.Features), a.GBDT.Task, a.Task)
		}
	case Linear:
		if a.Linear == nil || a.GBDT != nil {
			return errors.New("artifact: a linear artifact needs a linear model and no other")
		}
		if err := a.Linear.Validate(); err != nil {
			return err
		}
		if len(a.Linear.Inputs) != len(a.Features) || a.Linear.Task != a.Task {
			return fmt.Errorf("artifact: linear model has %d inputs for %d features", len(a.Linear.Inputs), len(a.Features))
		}
	default:
		return fmt.Errorf("artifact: unknown algorithm %q", a.Algorithm)
	}
	if r := a.Reference; r != nil && len(r.Features) != len(a.Features) {
		return fmt.Errorf("artifact: %d reference histograms for %d features", len(r.Features), len(a.Features))
	}
	return nil
}

// Outputs is the number of values a prediction returns per row.
func (a *Artifact) Outputs() int {
	if a.GBDT != nil {
		return a.GBDT.Outputs()
	}
	return a.Linear.Outputs()
}

// PredictRow predicts one row of raw features (categorical as codes).
func (a *Artifact) PredictRow(x []float32, out []float64) {
	if a.GBDT != nil {
		a.GBDT.PredictRow(x, out)
		return
	}
	a.Linear.PredictRow(x, out)
}

// Predict scores column-major features and returns row-major outputs.
func (a *Artifact) Predict(cols [][]float32, threads int) ([]float64, error) {
	if a.GBDT != nil {
		return a.GBDT.Predict(cols, threads)
	}
	return a.Linear.Predict(cols, threads)
}

// Encode writes the binary file.
func Encode(w io.Writer, a *Artifact) error {
	if err := a.Validate(); err != nil {
		return err
	}
	h := header{Artifact: *a}
	if m := a.GBDT; m != nil {
		h.Model = &modelHeader{Task: m.Task, NumClass: m.NumClass, BaseScore: m.BaseScore,
			NumFeatures: m.NumFeatures, BestRound: m.BestRound, Trees: len(m.Trees), CategoryBins: m.CategoryBins}
	}
	h.LinearM = a.Linear
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encoding artifact header: %w", err)
	}
	// A model with no categorical split is written as version 1, which
	// readers of before version 2 still read.
	version := uint16(1)
	if m := a.GBDT; m != nil && categorical(m) {
		version = Version
	}
	var buf bytes.Buffer
	buf.WriteString(Magic)
	le := binary.LittleEndian
	buf.Write(le.AppendUint16(nil, version))
	buf.Write(le.AppendUint32(nil, uint32(len(js))))
	buf.Write(js)
	if m := a.GBDT; m != nil {
		for _, t := range m.Trees {
			buf.Write(le.AppendUint32(nil, uint32(len(t.Nodes))))
			for _, n := range t.Nodes {
				b := le.AppendUint32(nil, uint32(n.Feature))
				b = le.AppendUint32(b, uint32(n.Left))
				b = le.AppendUint32(b, uint32(n.Right))
				b = le.AppendUint32(b, math.Float32bits(n.Threshold))
				dl := byte(0)
				if n.DefaultLeft {
					dl = 1
				}
				b = append(b, dl)
				b = le.AppendUint64(b, math.Float64bits(n.Value))
				b = le.AppendUint64(b, math.Float64bits(n.Gain))
				b = le.AppendUint64(b, math.Float64bits(n.Cover))
				switch {
				case version < 2:
				case n.RightCodes != nil:
					b = append(b, 2)
					b = le.AppendUint32(b, uint32(len(n.RightCodes)))
					for _, w := range n.RightCodes {
						b = le.AppendUint64(b, w)
					}
				case n.Categorical:
					b = append(b, 1)
					for _, w := range n.LeftBins {
						b = le.AppendUint64(b, w)
					}
				default:
					b = append(b, 0)
				}
				buf.Write(b)
			}
		}
	}
	buf.Write(le.AppendUint32(nil, crc32.ChecksumIEEE(buf.Bytes())))
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing artifact: %w", err)
	}
	return nil
}

// nodeSize is a version 1 node's size, and a version 2 numeric node's
// less its flag byte; a categorical one adds binSetSize.
const (
	nodeSize   = 4*4 + 1 + 3*8
	binSetSize = 32
)

// Decode reads a binary file. Any corruption is an error wrapping
// ErrFormat; decoding never panics and the model it returns is validated.
func Decode(r io.Reader) (*Artifact, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading artifact: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	if len(data) > MaxSize {
		return nil, bad("larger than %d bytes", MaxSize)
	}
	if len(data) < len(Magic)+2+4+4 || string(data[:len(Magic)]) != Magic {
		return nil, bad("missing the %q magic", Magic)
	}
	le := binary.LittleEndian
	body, sum := data[:len(data)-4], le.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, bad("checksum mismatch (truncated or corrupted file)")
	}
	p := body[len(Magic):]
	version := le.Uint16(p)
	if version != 1 && version != Version {
		return nil, bad("format version %d; this build reads versions 1 to %d", version, Version)
	}
	minNode := nodeSize
	if version >= 2 {
		minNode++ // the flag byte
	}
	hlen := int(le.Uint32(p[2:]))
	p = p[6:]
	if hlen > len(p) {
		return nil, bad("header length %d beyond the file", hlen)
	}
	var h header
	if err := json.Unmarshal(p[:hlen], &h); err != nil {
		return nil, bad("header: %v", err)
	}
	p = p[hlen:]
	a := h.Artifact
	a.Linear = h.LinearM
	if mh := h.Model; mh != nil {
		m := &gbdt.Model{Task: mh.Task, NumClass: mh.NumClass, BaseScore: mh.BaseScore, NumFeatures: mh.NumFeatures, BestRound: mh.BestRound,
			CategoryBins: mh.CategoryBins}
		if mh.Trees < 0 || mh.Trees > len(p)/4 {
			return nil, bad("%d trees in %d bytes", mh.Trees, len(p))
		}
		m.Trees = make([]gbdt.Tree, mh.Trees)
		for ti := range m.Trees {
			if len(p) < 4 {
				return nil, bad("tree %d truncated", ti)
			}
			nn := int(le.Uint32(p))
			p = p[4:]
			if nn < 1 || nn > len(p)/minNode {
				return nil, bad("tree %d has %d nodes in %d bytes", ti, nn, len(p))
			}
			nodes := make([]gbdt.Node, nn)
			for i := range nodes {
				var err error
				if nodes[i], p, err = decodeNode(p, version); err != nil {
					return nil, bad("tree %d node %d: %v", ti, i, err)
				}
			}
			m.Trees[ti] = gbdt.Tree{Nodes: nodes}
		}
		a.GBDT = m
	}
	if len(p) != 0 {
		return nil, bad("%d unexpected bytes after the model", len(p))
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return &a, nil
}

// decodeNode reads one node of a file of the given version from p and
// returns the rest of p.
func decodeNode(p []byte, version uint16) (gbdt.Node, []byte, error) {
	le := binary.LittleEndian
	size := nodeSize
	if version >= 2 {
		size++ // the flag byte
	}
	if len(p) < size {
		return gbdt.Node{}, nil, errors.New("truncated")
	}
	b := p[:nodeSize]
	n := gbdt.Node{
		Feature:     int32(le.Uint32(b)),
		Left:        int32(le.Uint32(b[4:])),
		Right:       int32(le.Uint32(b[8:])),
		Threshold:   math.Float32frombits(le.Uint32(b[12:])),
		DefaultLeft: b[16] == 1,
		Value:       math.Float64frombits(le.Uint64(b[17:])),
		Gain:        math.Float64frombits(le.Uint64(b[25:])),
		Cover:       math.Float64frombits(le.Uint64(b[33:])),
	}
	if version < 2 {
		return n, p[size:], nil
	}
	flag := p[nodeSize]
	p = p[size:]
	switch flag {
	case 0:
	case 1:
		if len(p) < binSetSize {
			return gbdt.Node{}, nil, errors.New("category set truncated")
		}
		n.Categorical = true
		for w := range n.LeftBins {
			n.LeftBins[w] = le.Uint64(p[8*w:])
		}
		p = p[binSetSize:]
	case 2:
		if len(p) < 4 {
			return gbdt.Node{}, nil, errors.New("category code set truncated")
		}
		words := int(le.Uint32(p))
		p = p[4:]
		if words < 0 || words > len(p)/8 {
			return gbdt.Node{}, nil, fmt.Errorf("category code set of %d words in %d bytes", words, len(p))
		}
		n.Categorical = true
		n.RightCodes = make([]uint64, words)
		for w := range n.RightCodes {
			n.RightCodes[w] = le.Uint64(p[8*w:])
		}
		p = p[8*words:]
	default:
		return gbdt.Node{}, nil, fmt.Errorf("flags %#x", flag)
	}
	return n, p, nil
}

// Dump is the readable JSON form: the header, and for GBDT every tree.
func Dump(a *Artifact) ([]byte, error) {
	type dumpNode struct {
		ID          int    `json:"id"`
		Feature     string `json:"feature,omitempty"`
		Threshold   any    `json:"threshold,omitempty"`
		DefaultLeft bool   `json:"default_left,omitempty"`
		Left        int32  `json:"left,omitempty"`
		Right       int32  `json:"right,omitempty"`
		// LeftCategories are the categories a categorical split sends
		// left.
		LeftCategories []string `json:"left_categories,omitempty"`
		Leaf           bool     `json:"leaf,omitempty"`
		Value          float64  `json:"value"`
		Gain           float64  `json:"gain,omitempty"`
		Cover          float64  `json:"cover"`
	}
	out := struct {
		Format    int `json:"format_version"`
		*Artifact `json:"artifact"`
		GBDT      any           `json:"gbdt,omitempty"`
		Linear    *linear.Model `json:"linear,omitempty"`
	}{Format: 1, Artifact: a, Linear: a.Linear}
	if a.GBDT != nil && categorical(a.GBDT) {
		out.Format = Version
	}
	if m := a.GBDT; m != nil {
		trees := make([][]dumpNode, len(m.Trees))
		for ti, t := range m.Trees {
			for i, n := range t.Nodes {
				d := dumpNode{ID: i, Value: n.Value, Cover: n.Cover}
				if n.Feature < 0 {
					d.Leaf = true
				} else {
					d.Feature = fmt.Sprint(n.Feature)
					if int(n.Feature) < len(a.Features) {
						d.Feature = a.Features[n.Feature].Name
					}
					d.Threshold, d.DefaultLeft, d.Left, d.Right, d.Gain = n.Threshold, n.DefaultLeft, n.Left, n.Right, n.Gain
					if n.Categorical {
						d.Threshold, d.LeftCategories = nil, leftCategories(a, n)
					} else if math.IsInf(float64(n.Threshold), 1) {
						d.Threshold = "inf" // every value left, missing right
					}
				}
				trees[ti] = append(trees[ti], d)
			}
		}
		out.GBDT = map[string]any{"base_score": m.BaseScore, "num_class": m.NumClass, "best_round": m.BestRound, "trees": trees}
	}
	return json.MarshalIndent(out, "", "  ")
}

// leftCategories names the categories a categorical node sends left.
func leftCategories(a *Artifact, n gbdt.Node) []string {
	f := int(n.Feature)
	out := []string{}
	if f >= len(a.Features) {
		return out
	}
	if n.RightCodes != nil {
		for code, name := range a.Features[f].Categories {
			if code>>6 >= len(n.RightCodes) || n.RightCodes[code>>6]>>(code&63)&1 == 0 {
				out = append(out, name)
			}
		}
		return out
	}
	if f >= len(a.GBDT.CategoryBins) {
		return out
	}
	for code, b := range a.GBDT.CategoryBins[f] {
		if n.LeftBins.Has(b) && code < len(a.Features[f].Categories) {
			out = append(out, a.Features[f].Categories[code])
		}
	}
	return out
}

// categorical says whether a model needs format 2: a categorical split or
// category maps.
func categorical(m *gbdt.Model) bool {
	if slices.ContainsFunc(m.CategoryBins, func(b []uint8) bool { return b != nil }) {
		return true
	}
	for _, t := range m.Trees {
		for _, n := range t.Nodes {
			if n.Feature >= 0 && n.Categorical {
				return true
			}
		}
	}
	return false
}
