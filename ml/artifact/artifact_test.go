package artifact

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/linear"
)

func data(n int, seed uint64) *ml.Dataset {
	rng := rand.New(rand.NewPCG(seed, 5))
	d := &ml.Dataset{Labels: make([]float32, n)}
	d.Features = []ml.Feature{
		{Name: "tenure", Values: make([]float32, n)},
		{Name: "charges", Values: make([]float32, n)},
		{Name: "plan", Kind: ml.Categorical, Categories: []string{"basic", "pro", "max"}, Values: make([]float32, n)},
	}
	for r := range n {
		a, b, c := rng.NormFloat64(), rng.NormFloat64(), rng.IntN(3)
		d.Features[0].Values[r] = float32(a)
		d.Features[1].Values[r] = float32(b)
		if rng.Float64() < 0.1 {
			d.Features[1].Values[r] = float32(math.NaN())
		}
		d.Features[2].Values[r] = float32(c)
		if a*b+float64(c)/2 > 0.3 {
			d.Labels[r] = 1
		}
	}
	return d
}

func features(d *ml.Dataset) []Feature {
	var fs []Feature
	for _, f := range d.Features {
		k := "numeric"
		if f.Kind == ml.Categorical {
			k = "categorical"
		}
		fs = append(fs, Feature{Name: f.Name, Kind: k, Categories: f.Categories})
	}
	return fs
}

func cols(d *ml.Dataset) [][]float32 {
	c := make([][]float32, len(d.Features))
	for f := range c {
		c[f] = d.Features[f].Values
	}
	return c
}

func artifacts(t testing.TB) []*Artifact {
	d := data(2000, 1)
	p := gbdt.DefaultParams()
	p.Trees = 15
	g, err := gbdt.Train(context.Background(), d, p, gbdt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := linear.Train(context.Background(), d, linear.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	scores, _ := g.Predict(cols(d), 0)
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	return []*Artifact{
		{Task: ml.Binary, Algorithm: GBDT, Features: features(d), Label: "churned", GBDT: g, CreatedAt: at,
			Params: map[string]string{"trees": "15"}, Metrics: map[string]float64{"auc": 0.9}, Reference: NewReference(d, scores, 1)},
		{Task: ml.Binary, Algorithm: Linear, Features: features(d), Linear: l, CreatedAt: at},
		// An imported model's split by category code (gbdt.Node.RightCodes).
		{Task: ml.Binary, Algorithm: GBDT, Source: "xgboost", CreatedAt: at, Features: []Feature{
			{Name: "c", Kind: "categorical", Categories: []string{"a", "b", "c", "d"}}, {Name: "x", Kind: "numeric"}},
			GBDT: &gbdt.Model{Task: ml.Binary, BaseScore: []float64{0}, NumFeatures: 2, BestRound: 1, Trees: []gbdt.Tree{{Nodes: []gbdt.Node{
				{Feature: 0, Left: 1, Right: 2, Categorical: true, RightCodes: []uint64{0b1010}, DefaultLeft: true},
				{Feature: 1, Left: 3, Right: 4, Threshold: 0.5},
				{Feature: -1, Value: 0.25},
				{Feature: -1, Value: -0.5},
				{Feature: -1, Value: 0.75},
			}}}}},
	}
}

func TestRoundTripPredictsTheSame(t *testing.T) {
	d := data(500, 2)
	for _, a := range artifacts(t) {
		t.Run(string(a.Algorithm), func(t *testing.T) {
			var buf bytes.Buffer
			if err := Encode(&buf, a); err != nil {
				t.Fatal(err)
			}
			b, err := Decode(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := a.Predict(cols(d), 1)
			got, err := b.Predict(cols(d), 1)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("row %d: %v before saving, %v after", i, want[i], got[i])
				}
			}
			sameFeatures := slices.EqualFunc(a.Features, b.Features, func(x, y Feature) bool {
				return x.Name == y.Name && x.Kind == y.Kind && slices.Equal(x.Categories, y.Categories)
			})
			if b.Label != a.Label || !sameFeatures || b.Source != a.Source || !b.CreatedAt.Equal(a.CreatedAt) {
				t.Errorf("metadata changed: %+v", b)
			}
			if a.Reference != nil && (b.Reference == nil || len(b.Reference.Features) != 3) {
				t.Error("reference histograms lost")
			}
			js, err := Dump(b)
			if err != nil || !json.Valid(js) {
				t.Fatalf("dump: %v", err)
			}
		})
	}
}

func TestCorruptFilesAreErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, artifacts(t)[0]); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	tests := map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("NOTSLUIC"), good[8:]...),
		"truncated": good[:len(good)/2],
		"bit flip":  flip(good, len(good)/3),
		"extra":     append(append([]byte(nil), good...), 0),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(bytes.NewReader(b)); !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

func TestReferenceHistogram(t *testing.T) {
	d := data(1000, 3)
	r := NewReference(d, nil, 1)
	var total uint64
	for _, c := range r.Features[0].Counts {
		total += c
	}
	if total != 1000 {
		t.Errorf("numeric histogram counts %d of 1000 rows", total)
	}
	if r.Features[1].Missing == 0 {
		t.Error("missing values not counted")
	}
	if len(r.Features[2].Counts) != 3 {
		t.Errorf("categorical histogram has %d bins", len(r.Features[2].Counts))
	}
}

// FuzzDecode: corrupt artifacts give errors, never panics, and whatever
// decodes can predict without panicking.
func FuzzDecode(f *testing.F) {
	for _, a := range artifacts(f) {
		var buf bytes.Buffer
		if err := Encode(&buf, a); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		x := make([]float32, len(a.Features))
		out := make([]float64, a.Outputs())
		a.PredictRow(x, out)
	})
}

// FuzzDecodeValidChecksum mutates the contents behind a correct checksum,
// so the fuzzer reaches the header and tree parsers and the validation.
func FuzzDecodeValidChecksum(f *testing.F) {
	for _, a := range artifacts(f) {
		var buf bytes.Buffer
		if err := Encode(&buf, a); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes()[:buf.Len()-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.ChecksumIEEE(body))
		a, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		x := make([]float32, len(a.Features))
		for i := range x {
			x[i] = float32(i) - 1
		}
		out := make([]float64, a.Outputs())
		a.PredictRow(x, out)
		if _, err := a.Predict([][]float32{x}, 1); err != nil && len(a.Features) == 1 {
			t.Fatal(err)
		}
	})
}

// TestVersion1ArtifactsPredictAsBefore: an artifact written by the format
// before categorical splits (testdata/v1-gbdt.sluice, with the predictions
// it made when it was written) decodes and predicts bit for bit the same.
func TestVersion1ArtifactsPredictAsBefore(t *testing.T) {
	raw, err := os.ReadFile("testdata/v1-gbdt.sluice")
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(raw[len(Magic):]); v != 1 {
		t.Fatalf("the golden file is format %d, want 1", v)
	}
	a, err := Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	js, err := os.ReadFile("testdata/v1-gbdt.predictions.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	got, err := a.Predict(cols(data(300, 78)), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d predictions, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: %v, and %v when the file was written", i, got[i], want[i])
		}
	}
	// Written again, it is still a version 1 file (it has no categorical
	// split), and predicts the same.
	var buf bytes.Buffer
	if err := Encode(&buf, a); err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(buf.Bytes()[len(Magic):]); v != 1 {
		t.Errorf("a model without categorical splits was written as format %d, want 1", v)
	}
	b := roundTrip(t, a)
	again, _ := b.Predict(cols(data(300, 78)), 1)
	if !slices.Equal(again, want) {
		t.Fatal("the re-encoded artifact predicts differently")
	}
}

// TestCategoricalSplitsRoundTrip: a model with partition splits on a
// feature of many levels (rare ones sharing a bin) predicts the same
// after saving, row by row and in batches, and its dump names the
// categories each split sends left.
func TestCategoricalSplitsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, levels = 4000, 300
	cats := make([]string, levels)
	for i := range cats {
		cats[i] = fmt.Sprintf("city-%03d", i)
	}
	d := &ml.Dataset{Labels: make([]float32, n), Features: []ml.Feature{
		{Name: "city", Kind: ml.Categorical, Categories: cats, Values: make([]float32, n)},
		{Name: "x", Values: make([]float32, n)},
	}}
	for r := range n {
		c := rng.IntN(levels)
		d.Features[0].Values[r] = float32(c)
		d.Features[1].Values[r] = float32(rng.NormFloat64())
		if (c%7 == 0) != (rng.Float64() < 0.1) {
			d.Labels[r] = 1
		}
	}
	p := gbdt.DefaultParams()
	p.Trees = 10
	g, err := gbdt.Train(context.Background(), d, p, gbdt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &Artifact{Task: ml.Binary, Algorithm: GBDT, Features: features(d), GBDT: g, CreatedAt: time.Unix(0, 0).UTC()}
	var buf bytes.Buffer
	if err := Encode(&buf, a); err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(buf.Bytes()[len(Magic):]); v != 2 {
		t.Errorf("a model with categorical splits was written as format %d, want 2", v)
	}
	b := roundTrip(t, a)
	want, _ := a.Predict(cols(d), 2)
	got, _ := b.Predict(cols(d), 2)
	if !slices.Equal(got, want) {
		t.Fatal("predictions changed across saving")
	}
	row := make([]float64, 1)
	for r := range 50 {
		b.PredictRow([]float32{d.Features[0].Values[r], d.Features[1].Values[r]}, row)
		if row[0] != want[r] {
			t.Fatalf("row %d: %v one at a time, %v in a batch", r, row[0], want[r])
		}
	}
	js, err := Dump(b)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"left_categories": \[\s+"city-\d+"`).Match(js) {
		t.Error("the dump does not name the categories of the splits")
	}
}

// roundTrip encodes and decodes an artifact.
func roundTrip(t *testing.T, a *Artifact) *Artifact {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, a); err != nil {
		t.Fatal(err)
	}
	b, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
