package online

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/metastore"
)

// Row is an entity's online features by column name, the event time
// included; nil for an entity the view has no row for.
type Row map[string]any

// ErrNoView reports a view that has never been materialized online.
var ErrNoView = errors.New("online: no such view")

// CacheOptions bound the reader's cache.
type CacheOptions struct {
	// Size is the most rows kept; 0 means 100,000.
	Size int
	// MaxBytes bounds the cache's memory, keys and rows estimated; 0
	// means 64 MiB. Clients choose the keys, so a count alone would not
	// bound it.
	MaxBytes int64
	// TTL is how long a row is served from the cache; 0 means a minute.
	// A load of the view empties its cache sooner (see Listen).
	TTL time.Duration
}

// Reader answers batched lookups of online features, from a size-bounded
// cache with a time to live where it can.
type Reader struct {
	db       *pgxpool.Pool
	size     int
	maxBytes int64
	ttl      time.Duration
	now      func() time.Time

	hits, misses atomic.Uint64

	mu    sync.Mutex
	bytes int64      // the estimated size of the cached entries
	lru   *list.List // of *entry, most recent first
	items map[cacheKey]*list.Element
	gen   map[string]uint64
	meta  map[string]viewMeta
}

type cacheKey struct {
	view, key string
	gen       uint64
}

type entry struct {
	k       cacheKey
	row     Row
	expires time.Time
	bytes   int64
}

// entryBytes estimates what an entry holds: its key, view and row (names
// and values), and the bookkeeping around them.
func entryBytes(k cacheKey, row Row) int64 {
	n := int64(len(k.view)+len(k.key)) + 160
	for name, v := range row {
		n += int64(len(name)) + 32
		if s, ok := v.(string); ok {
			n += int64(len(s))
		}
	}
	return n
}

type viewMeta struct {
	key     string
	integer bool // the key column is bigint
}

// NewReader reads the online tables in db.
func NewReader(db *pgxpool.Pool, o CacheOptions) *Reader {
	if o.Size <= 0 {
		o.Size = 100_000
	}
	if o.TTL <= 0 {
		o.TTL = time.Minute
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	return &Reader{db: db, size: o.Size, maxBytes: o.MaxBytes, ttl: o.TTL, now: time.Now, lru: list.New(),
		items: map[cacheKey]*list.Element{}, gen: map[string]uint64{}, meta: map[string]viewMeta{}}
}

// Invalidate forgets the cached rows of a view (and its key column, in
// case the table was rebuilt).
func (r *Reader) Invalidate(view string) {
	r.mu.Lock()
	r.gen[view]++
	delete(r.meta, view)
	r.mu.Unlock()
}

// InvalidateAll forgets every cached row.
func (r *Reader) InvalidateAll() {
	r.mu.Lock()
	for view := range r.gen {
		r.gen[view]++
	}
	clear(r.meta)
	r.items = map[cacheKey]*list.Element{}
	r.lru.Init()
	r.bytes = 0
	r.mu.Unlock()
}

// KeepFresh empties a view's cache whenever a load of it commits, until
// ctx ends, listening again when the connection drops (and then emptying
// the whole cache: loads committed meanwhile went unheard). It returns
// the first LISTEN's error.
func (r *Reader) KeepFresh(ctx context.Context, logger *slog.Logger) error {
	return metastore.KeepListening(ctx, r.db, Channel, r.Invalidate, r.InvalidateAll, logger)
}

// Watch empties a view's cache whenever a load of it commits, until ctx
// ends. It returns once it is listening; done yields how the watch ended
// (nil when ctx ended). It holds one connection of the pool.
func (r *Reader) Watch(ctx context.Context) (done <-chan error, err error) {
	return metastore.Listen(ctx, r.db, Channel, r.Invalidate)
}

// Get returns the rows of the keys, in order; a key without a row gets
// nil. Keys missing from the cache are read in one query.
func (r *Reader) Get(ctx context.Context, view string, keys []string) ([]Row, error) {
	out := make([]Row, len(keys))
	now := r.now()
	var missing []int
	r.mu.Lock()
	gen := r.gen[view]
	for i, k := range keys {
		if el, ok := r.items[cacheKey{view, k, gen}]; ok {
			e := el.Value.(*entry)
			if now.Before(e.expires) {
				r.lru.MoveToFront(el)
				out[i] = e.row
				continue
			}
		}
		missing = append(missing, i)
	}
	r.mu.Unlock()
	r.hits.Add(uint64(len(keys) - len(missing)))
	r.misses.Add(uint64(len(missing)))
	if len(missing) == 0 {
		return out, nil
	}
	want := make([]string, len(missing))
	for j, i := range missing {
		want[j] = keys[i]
	}
	rows, err := r.query(ctx, view, want)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	integer := r.meta[view].integer
	for _, i := range missing {
		row := rows[keys[i]]
		out[i] = row
		// A key the view's key column cannot hold is no entity: caching
		// its miss would let clients fill the cache with garbage.
		if integer {
			if _, err := strconv.ParseInt(keys[i], 10, 64); err != nil {
				continue
			}
		}
		r.put(cacheKey{view, keys[i], gen}, row, now.Add(r.ttl))
	}
	return out, nil
}

// CacheSize is what the cache holds: entries and their estimated bytes.
func (r *Reader) CacheSize() (entries int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len(), r.bytes
}

// CacheStats counts the lookups answered from the cache and those that
// went to PostgreSQL, since the reader was made.
func (r *Reader) CacheStats() (hits, misses uint64) { return r.hits.Load(), r.misses.Load() }

// KeyColumn names a view's entity key column; ErrNoView when the view
// was never materialized online.
func (r *Reader) KeyColumn(ctx context.Context, view string) (string, error) {
	m, err := r.describe(ctx, view)
	return m.key, err
}

// put caches a row (a nil row too: a known miss), evicting the least
// recently used beyond the size.
func (r *Reader) put(k cacheKey, row Row, expires time.Time) {
	size := entryBytes(k, row)
	if el, ok := r.items[k]; ok {
		e := el.Value.(*entry)
		r.bytes += size - e.bytes
		e.row, e.expires, e.bytes = row, expires, size
		r.lru.MoveToFront(el)
	} else {
		r.items[k] = r.lru.PushFront(&entry{k: k, row: row, expires: expires, bytes: size})
		r.bytes += size
	}
	for r.lru.Len() > r.size || (r.bytes > r.maxBytes && r.lru.Len() > 1) {
		last := r.lru.Back()
		e := last.Value.(*entry)
		delete(r.items, e.k)
		r.bytes -= e.bytes
		r.lru.Remove(last)
	}
}

// describe finds the view's key column: the table's primary key.
func (r *Reader) describe(ctx context.Context, view string) (viewMeta, error) {
	r.mu.Lock()
	m, ok := r.meta[view]
	r.mu.Unlock()
	if ok {
		return m, nil
	}
	var typ string
	err := r.db.QueryRow(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, table(view)).Scan(&m.key, &typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("%w: %s (materialize it with online: true first)", ErrNoView, view)
	}
	if err != nil {
		return m, fmt.Errorf("online: looking up %s: %w", view, err)
	}
	m.integer = typ == "bigint"
	r.mu.Lock()
	r.meta[view] = m
	r.mu.Unlock()
	return m, nil
}

func (r *Reader) query(ctx context.Context, view string, keys []string) (map[string]Row, error) {
	m, err := r.describe(ctx, view)
	if err != nil {
		return nil, err
	}
	var arg any = keys
	if m.integer {
		ints := make([]int64, 0, len(keys))
		for _, k := range keys {
			if v, err := strconv.ParseInt(k, 10, 64); err == nil {
				ints = append(ints, v)
			}
		}
		arg = ints
	}
	rows, err := r.db.Query(ctx, fmt.Sprintf("SELECT * FROM %s WHERE %s = ANY($1)", table(view), pgx.Identifier{m.key}.Sanitize()), arg)
	if err != nil {
		return nil, fmt.Errorf("online: reading %s: %w", view, err)
	}
	defer rows.Close()
	out := map[string]Row{}
	fields := rows.FieldDescriptions()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("online: reading %s: %w", view, err)
		}
		row := make(Row, len(vals))
		var key string
		for i, f := range fields {
			row[f.Name] = vals[i]
			if f.Name == m.key {
				key = fmt.Sprint(vals[i])
			}
		}
		out[key] = row
	}
	return out, rows.Err()
}
