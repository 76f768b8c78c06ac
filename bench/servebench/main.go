// Command servebench sets up and loads the online-serving benchmark.
//
//	servebench setup -database-url URL -lake URL -out DIR
//
// writes an online view of N entities with 10 numeric features, trains a
// 100-tree depth-6 GBDT on them, registers it as a model's champion, and
// leaves the model's name, its training rows and the entities' features in
// DIR (for the Flask + XGBoost reference).
//
//	servebench load -url URL -rate 5000 -duration 30s [-batch 1]
//
// sends requests open-loop at a fixed rate, each with random entities,
// over a pool of keep-alive connections, and reports latency percentiles.
// The schedule never waits for the server: requests are released into an
// unbounded queue on time whatever the server does, and a request's
// latency runs from its release, so time spent waiting for a connection
// behind a slow server counts (no coordinated omission). The release
// time, not the scheduled one, starts the clock because the Go timer
// wakes the releaser up to a millisecond late on this VM even when idle;
// that lateness is reported on its own.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
)

const nfeat = 10

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: servebench setup|load|promote|refresh ...")
	}
	switch os.Args[1] {
	case "setup":
		setup(os.Args[2:])
	case "load":
		load(os.Args[2:])
	case "promote":
		promote(os.Args[2:])
	case "refresh":
		refresh(os.Args[2:])
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func setup(args []string) {
	f := flag.NewFlagSet("setup", flag.ExitOnError)
	dbURL := f.String("database-url", "", "PostgreSQL")
	lakeURL := f.String("lake", "", "lake URL")
	out := f.String("out", "", "folder for model.json, train.csv and features.csv")
	entities := f.Int("entities", 50_000, "entities in the online view")
	f.Parse(args)
	ctx := context.Background()
	db, err := metastore.Open(ctx, *dbURL, nil)
	check(err)
	defer db.Close()
	lake, err := lakehouse.Open(ctx, lakehouse.Options{URL: *lakeURL})
	check(err)
	stamp := time.Now().Unix()
	model, view := fmt.Sprintf("servebench_%d", stamp), fmt.Sprintf("servebench_%d", stamp)

	// Entities' features: the online view, and features.csv.
	fc, err := os.Create(filepath.Join(*out, "features.csv"))
	check(err)
	fw := csv.NewWriter(fc)
	// The model's data continues the features' random stream, as before.
	r, err := upsertFeatures(ctx, db, view, *entities, 3, fw)
	check(err)
	fw.Flush()
	check(fc.Close())

	// The model: 100 trees of depth 6 on 200k synthetic rows, also
	// written to train.csv for XGBoost.
	const n = 200_000
	d := &ml.Dataset{Labels: make([]float32, n)}
	for j := range nfeat {
		d.Features = append(d.Features, ml.Feature{Name: fmt.Sprintf("%s__f%d", view, j), Kind: ml.Numeric, Values: make([]float32, n)})
	}
	tc, err := os.Create(filepath.Join(*out, "train.csv"))
	check(err)
	tw := csv.NewWriter(tc)
	for i := range n {
		z, row := 0.0, make([]string, 0, nfeat+1)
		for j := range nfeat {
			v := float32(r.NormFloat64())
			d.Features[j].Values[i] = v
			z += float64(v) * float64(j%3-1)
			row = append(row, strconv.FormatFloat(float64(v), 'g', -1, 32))
		}
		z += float64(d.Features[0].Values[i]*d.Features[1].Values[i]) + r.NormFloat64()
		if z > 0 {
			d.Labels[i] = 1
		}
		check(tw.Write(append(row, strconv.Itoa(int(d.Labels[i])))))
	}
	tw.Flush()
	check(tc.Close())
	art, err := trainer.Train(ctx, d, nil, trainer.Spec{Task: ml.Binary, Algorithm: artifact.GBDT, Label: "y",
		Params: map[string]string{"trees": "100", "max_depth": "6"}})
	check(err)
	key := "models/" + model + "/v1/model.sluice"
	var buf bytes.Buffer
	check(artifact.Encode(&buf, art))
	check(lake.Put(ctx, key, &buf))
	reg := &registry.Registry{DB: db}
	_, err = reg.Register(ctx, registry.Version{Model: model, Algorithm: "gbdt", ArtifactKey: key, RunID: "servebench"})
	check(err)
	_, err = reg.SetAlias(ctx, model, "champion", 1, "servebench", "")
	check(err)
	info, _ := json.Marshal(map[string]any{"model": model, "view": view, "entities": *entities})
	check(os.WriteFile(filepath.Join(*out, "model.json"), info, 0o644))
	fmt.Println(model)
}

// upsertFeatures loads every entity's features into the online view,
// drawn from seed, and writes them to w when it is not nil. It returns the
// random stream, drawn that far.
func upsertFeatures(ctx context.Context, db *pgxpool.Pool, view string, entities int, seed uint64, w *csv.Writer) (*rand.Rand, error) {
	fields := []arrow.Field{{Name: "entity_id", Type: arrow.BinaryTypes.String}}
	for j := range nfeat {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("%s__f%d", view, j), Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	r := rand.New(rand.NewPCG(seed, 4))
	for i := range entities {
		id := fmt.Sprintf("E%d", i)
		row := []string{id}
		b.Field(0).(*array.StringBuilder).Append(id)
		for j := range nfeat {
			v := r.NormFloat64()
			b.Field(j + 1).(*array.Float64Builder).Append(v)
			row = append(row, strconv.FormatFloat(v, 'g', -1, 64))
		}
		if w != nil {
			if err := w.Write(row); err != nil {
				return nil, err
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	_, err := (&online.Store{DB: db}).Upsert(ctx, view, "entity_id", schema, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }, time.Now())
	return r, err
}

// promote registers the champion's artifact again as a new version and
// moves the champion to it: a promotion as serving sees it (NOTIFY, load,
// swap), for the soak.
func promote(args []string) {
	f := flag.NewFlagSet("promote", flag.ExitOnError)
	dbURL := f.String("database-url", "", "PostgreSQL")
	model := f.String("model", "", "model")
	f.Parse(args)
	ctx := context.Background()
	db, err := metastore.Open(ctx, *dbURL, nil)
	check(err)
	defer db.Close()
	reg := &registry.Registry{DB: db}
	cur, err := reg.Resolve(ctx, *model, "champion")
	check(err)
	cur.RunID = fmt.Sprintf("soak-%d", time.Now().UnixNano())
	v, err := reg.Register(ctx, cur)
	check(err)
	_, err = reg.SetAlias(ctx, *model, "champion", v.Version, "soak", "soak promotion")
	check(err)
	fmt.Println(v.Version)
}

// refresh reloads every entity's features with new values: the online
// store's side of a materialization, for the soak.
func refresh(args []string) {
	f := flag.NewFlagSet("refresh", flag.ExitOnError)
	dbURL := f.String("database-url", "", "PostgreSQL")
	view := f.String("view", "", "online view")
	entities := f.Int("entities", 50_000, "entities")
	seed := f.Uint64("seed", 9, "values' seed")
	f.Parse(args)
	ctx := context.Background()
	db, err := metastore.Open(ctx, *dbURL, nil)
	check(err)
	defer db.Close()
	_, err = upsertFeatures(ctx, db, *view, *entities, *seed, nil)
	check(err)
}

func load(args []string) {
	f := flag.NewFlagSet("load", flag.ExitOnError)
	url := f.String("url", "", "predict URL")
	rate := f.Int("rate", 5000, "requests per second")
	duration := f.Duration("duration", 30*time.Second, "how long")
	batch := f.Int("batch", 1, "instances per request")
	entities := f.Int("entities", 50_000, "entities to draw from")
	warmup := f.Duration("warmup", 3*time.Second, "load not measured first")
	get := f.Bool("get", false, "send GETs without a body (a baseline against /healthz)")
	conns := f.Int("connections", 64, "keep-alive connections")
	hostileShare := f.Float64("hostile", 0, "the share of requests that are hostile (bad names, NUL and long keys, malformed, oversized and too-many-instance bodies, bad request ids)")
	idPrefix := f.String("request-ids", "", "give every valid request X-Request-Id <prefix><n>, to find it in the prediction log")
	f.Parse(args)
	u, err := neturl.Parse(*url)
	check(err)
	valid := make([]request, 4096)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range valid {
		var sb bytes.Buffer
		sb.WriteString(`{"instances":[`)
		for k := range *batch {
			if k > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"entity_id":"E%d"}`, r.IntN(*entities))
		}
		sb.WriteString("]}")
		valid[i] = request{method: "POST", path: u.RequestURI(), body: slices.Clone(sb.Bytes()), want: 200}
		if *get {
			valid[i] = request{method: "GET", path: u.RequestURI(), want: 200}
		}
	}
	var hostile []request
	if *hostileShare > 0 {
		hostile = hostileRequests(u.RequestURI())
	}
	raw := func(q request, id string) []byte {
		extra := ""
		if id != "" {
			extra = "X-Request-Id: " + id + "\r\n"
		}
		return fmt.Appendf(nil, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s",
			q.method, q.path, u.Host, extra, len(q.body), q.body)
	}
	// A fixed pool of keep-alive connections, each a goroutine writing
	// raw HTTP/1.1 and reading the answer: the generator costs little of
	// the cores it shares with the server. Requests wait for a free
	// connection in the queue, and that wait counts.
	type job struct {
		at, released time.Time
		req          request
		wire         []byte
	}
	queue := make(chan job, 1<<20)
	var mu sync.Mutex
	var lat []time.Duration
	var errs, sent, validAll, badIDs, hostileSent, hostile4xx atomic.Int64
	unexpected := map[string]int{} // hostile kind and status, when not the one expected
	var wg sync.WaitGroup
	var late []time.Duration // the generator's own lateness
	interval := time.Second / time.Duration(*rate)
	start := time.Now()
	end := start.Add(*warmup + *duration)
	measureFrom := start.Add(*warmup)
	for range *conns {
		wg.Go(func() {
			var conn net.Conn
			var br *bufio.Reader
			for j := range queue {
				status, closing := 0, false
				err := func() error {
					if conn == nil {
						c, err := net.Dial("tcp", u.Host)
						if err != nil {
							return err
						}
						conn, br = c, bufio.NewReaderSize(c, 64<<10)
					}
					if _, err := conn.Write(j.wire); err != nil {
						return err
					}
					var err error
					status, closing, err = readResponse(br)
					return err
				}()
				took := time.Since(j.released)
				if (err != nil || closing) && conn != nil {
					conn.Close()
					conn = nil
				}
				if j.req.kind != "" && !j.req.badID {
					hostileSent.Add(1)
					if err == nil && status >= 400 && status < 500 {
						hostile4xx.Add(1)
					} else {
						mu.Lock()
						unexpected[fmt.Sprintf("%s: %d %v", j.req.kind, status, err)]++
						mu.Unlock()
					}
					continue
				}
				validAll.Add(1)
				if j.req.badID {
					badIDs.Add(1)
				}
				if j.at.Before(measureFrom) {
					continue
				}
				sent.Add(1)
				if err == nil && status != 200 {
					err = fmt.Errorf("status %d", status)
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				mu.Lock()
				lat = append(lat, took)
				mu.Unlock()
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
	hr := rand.New(rand.NewPCG(7, 8))
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.After(end) {
			break
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		q := valid[i%len(valid)]
		if *hostileShare > 0 && hr.Float64() < *hostileShare {
			q = hostile[hr.IntN(len(hostile))]
		}
		id := ""
		switch {
		case q.badID:
			id = "bad id, not plain"
		case q.kind == "" && *idPrefix != "":
			id = *idPrefix + strconv.Itoa(i)
		}
		now := time.Now()
		queue <- job{at: at, released: now, req: q, wire: raw(q, id)}
		if at.After(measureFrom) {
			late = append(late, now.Sub(at))
		}
	}
	close(queue)
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	res := map[string]any{"rate": *rate, "batch": *batch, "seconds": duration.Seconds(), "sent": sent.Load(), "errors": errs.Load(),
		"achieved_rps": float64(sent.Load()) / duration.Seconds(),
		"p50_ms":       pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "p999_ms": pct(0.999)}
	if *hostileShare > 0 {
		res["valid_sent_with_warmup"], res["bad_request_ids"] = validAll.Load(), badIDs.Load()
		res["hostile_sent"], res["hostile_4xx"], res["hostile_unexpected"] = hostileSent.Load(), hostile4xx.Load(), unexpected
	}
	slices.Sort(late)
	if len(late) > 0 {
		res["generator_late_p99_ms"] = float64(late[len(late)*99/100].Microseconds()) / 1000
	}
	if len(lat) > 0 {
		res["max_ms"] = float64(lat[len(lat)-1].Microseconds()) / 1000
	}
	check(json.NewEncoder(os.Stdout).Encode(res))
}

// request is one request the load sends: a valid one (no kind) or a
// hostile one.
type request struct {
	method, path string
	body         []byte
	// want is the status expected.
	want  int
	kind  string
	badID bool
}

// hostileRequests are what a hostile client sends the predict endpoint
// path: each is answered a 4xx, except a bad request id, which is served
// under a generated id (and counted with the valid requests).
func hostileRequests(path string) []request {
	model := path[len("/v1/models/") : len(path)-len(":predict")]
	many := bytes.Repeat([]byte(`{"entity_id":"E1"},`), 1001)
	big := append([]byte(`{"instances":[{"entity_id":"`), bytes.Repeat([]byte("x"), 1<<20+1024)...)
	big = append(big, `"}]}`...)
	fields := []byte(`{"instances":[{`)
	for i := range 200 {
		fields = fmt.Appendf(fields, `"f%d":%d,`, i, i)
	}
	fields = append(fields, `"entity_id":"E1"}]}`...)
	one := []byte(`{"instances":[{"entity_id":"E1"}]}`)
	return []request{
		{kind: "bad model name", method: "POST", path: "/v1/models/%FF%FE:predict", body: one},
		{kind: "long model name", method: "POST", path: "/v1/models/" + strings.Repeat("m", 300) + ":predict", body: one},
		{kind: "unknown model", method: "POST", path: "/v1/models/no_such_model:predict", body: one},
		{kind: "NUL key", method: "POST", path: path, body: []byte(`{"instances":[{"entity_id":"E\u00001"}]}`)},
		{kind: "long key", method: "POST", path: path, body: []byte(`{"instances":[{"entity_id":"` + strings.Repeat("k", 300) + `"}]}`)},
		{kind: "malformed body", method: "POST", path: path, body: []byte(`{"instances":[{"entity_id":`)},
		{kind: "not JSON", method: "POST", path: path, body: []byte("\x00\xff<xml/>")},
		{kind: "too many instances", method: "POST", path: path, body: append(append([]byte(`{"instances":[`), many...), `{"entity_id":"E1"}]}`...)},
		{kind: "too many fields", method: "POST", path: path, body: fields},
		{kind: "nested value", method: "POST", path: path, body: []byte(`{"instances":[{"entity_id":"E1","x":[[[[1]]]]}]}`)},
		{kind: "oversized body", method: "POST", path: path, body: big},
		{kind: "bad request id", method: "POST", path: path, body: one, badID: true, want: 200},
		{kind: "model " + model + " via v2 with a bad shape", method: "POST", path: "/v2/models/" + model + "/infer",
			body: []byte(`{"inputs":[{"name":"entity_id","shape":[2],"datatype":"BYTES","data":["E1"]}]}`)},
	}
}

// readResponse reads one HTTP/1.1 response, sized by Content-Length or
// chunked: its status, and whether the server closes the connection.
func readResponse(br *bufio.Reader) (int, bool, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	fields := bytes.Fields(line)
	if len(fields) < 2 {
		return 0, false, fmt.Errorf("a bad status line %q", line)
	}
	status, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return 0, false, fmt.Errorf("a bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return status, true, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		switch {
		case !found:
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(bytes.TrimSpace(value)))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.Contains(bytes.ToLower(value), []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return status, true, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil {
				return status, true, fmt.Errorf("a bad chunk size %q", line)
			}
			if _, err := br.Discard(int(size) + 2); err != nil { // the chunk and its CRLF
				return status, true, err
			}
			if size == 0 {
				break
			}
		}
	case length >= 0:
		if _, err := br.Discard(length); err != nil {
			return status, true, err
		}
	default:
		return status, true, fmt.Errorf("a response without Content-Length or chunks")
	}
	return status, closing, nil
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
