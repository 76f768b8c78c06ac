package lakehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // the s3:// warehouse
	"github.com/apache/iceberg-go/table"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// RunIDProperty is the snapshot summary key that records which run wrote a
// snapshot, so a retried write can see it already committed.
const RunIDProperty = "sluice.run-id"

// commitRetries is how often a commit that lost a race is replayed on the
// table's new state.
const commitRetries = "10"

// CatalogOptions locates the lake's Iceberg catalog (tables listed in
// PostgreSQL) and warehouse (data and metadata files).
type CatalogOptions struct {
	// DatabaseURL is the PostgreSQL that holds the catalog.
	DatabaseURL string
	// Lake is the warehouse.
	Lake Options
	// Name is the catalog's name in PostgreSQL; "sluice" when empty.
	Name string
}

// Catalog is the lake's Iceberg catalog.
type Catalog struct {
	cat *sqlcat.Catalog
	db  *sql.DB
}

// OpenCatalog connects to the catalog, creating its tables when new.
func OpenCatalog(ctx context.Context, o CatalogOptions) (*Catalog, error) {
	if err := o.Lake.Validate(); err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = "sluice"
	}
	db, err := sql.Open("pgx", o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("opening the catalog database: %w", err)
	}
	props := iceberg.Properties{"warehouse": warehouseURL(o.Lake.URL)}
	if o.Lake.S3Endpoint != "" {
		props[icebergio.S3EndpointURL] = o.Lake.S3Endpoint
	}
	if o.Lake.S3PathStyle {
		props[icebergio.S3ForceVirtualAddressing] = "false"
	}
	if o.Lake.S3Region != "" {
		props[icebergio.S3Region] = o.Lake.S3Region
	}
	cat, err := sqlcat.NewCatalog(o.Name, db, sqlcat.Postgres, props)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the Iceberg catalog: %w", err)
	}
	if err := cat.CreateSQLTables(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the Iceberg catalog tables: %w", err)
	}
	return &Catalog{cat: cat, db: db}, nil
}

// warehouseURL is the lake URL as Iceberg's IO names it.
func warehouseURL(lake string) string {
	u, err := url.Parse(lake)
	if err != nil || u.Scheme != "file" {
		return strings.TrimSuffix(lake, "/")
	}
	return "file://" + strings.TrimSuffix(u.Path, "/")
}

// Close releases the database connection.
func (c *Catalog) Close() error { return c.db.Close() }

// Ident splits "namespace.table".
func Ident(name string) (table.Identifier, error) {
	ns, tbl, ok := strings.Cut(name, ".")
	if !ok || ns == "" || tbl == "" || strings.Contains(tbl, ".") {
		return nil, fmt.Errorf("lakehouse: table name %q: want namespace.table, like raw.customers", name)
	}
	return table.Identifier{ns, tbl}, nil
}

// retrying makes a lost commit race retriable: the SQL catalog reports it
// as a plain "requirement failed ... has changed" error rather than
// table.ErrCommitFailed, so Iceberg's replay-on-conflict never ran.
type retrying struct{ *sqlcat.Catalog }

// CommitTable turns a lost race into table.ErrCommitFailed, and makes a
// run's commit exactly once: when the commit carries a run id (withRun),
// every attempt, Iceberg's replays included, first looks for that run's
// snapshot in the table as the catalog holds it now, and stops with
// runCommitted when another attempt of the run got there first.
// (Checking once, before the first attempt, let two attempts of one run
// that raced both append: the loser's replay never looked again.) The
// catalog's optimistic check then closes the window between that look and
// the commit: a commit that lands in it makes this one conflict and look
// again.
func (r retrying) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	if runID, ok := ctx.Value(runKey{}).(string); ok && runID != "" {
		if cur, err := r.Catalog.LoadTable(ctx, ident); err == nil {
			if id, found := snapshotOfRun(cur, runID); found {
				return nil, "", runCommitted{snapshotID: id}
			}
		}
	}
	meta, loc, err := r.Catalog.CommitTable(ctx, ident, reqs, updates)
	if err != nil && !errors.Is(err, table.ErrCommitFailed) && isConflict(err) {
		err = fmt.Errorf("%w: %w", table.ErrCommitFailed, err)
	}
	return meta, loc, err
}

func (r retrying) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	t, err := r.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	return table.New(t.Identifier(), t.Metadata(), t.MetadataLocation(), t.FS, r), nil
}

// runKey carries the run id of a commit to retrying.CommitTable.
type runKey struct{}

// withRun marks the commits made with ctx as the run's.
func withRun(ctx context.Context, runID string) context.Context {
	return context.WithValue(ctx, runKey{}, runID)
}

// runCommitted stops a commit whose run another attempt already committed.
type runCommitted struct{ snapshotID int64 }

func (e runCommitted) Error() string {
	return fmt.Sprintf("the run already committed snapshot %d", e.snapshotID)
}

func isConflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "requirement failed") && (strings.Contains(msg, "has changed") || strings.Contains(msg, "created concurrently"))
}

// EnsureTable returns the table, creating it (and its namespace) with the
// Arrow schema when missing. A non-empty partitionBy partitions the table
// by the day of that timestamp column.
func (c *Catalog) EnsureTable(ctx context.Context, name string, schema *arrow.Schema, partitionBy string) (*table.Table, error) {
	ident, err := Ident(name)
	if err != nil {
		return nil, err
	}
	r := retrying{c.cat}
	if t, err := r.LoadTable(ctx, ident); err == nil {
		return t, nil
	} else if !errors.Is(err, catalog.ErrNoSuchTable) && !errors.Is(err, catalog.ErrNoSuchNamespace) {
		return nil, fmt.Errorf("loading %s: %w", name, err)
	}
	ns := table.Identifier{ident[0]}
	if err := c.cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return nil, fmt.Errorf("creating namespace %s: %w", ident[0], err)
	}
	isc, err := table.ArrowSchemaToIcebergWithFreshIDs(schema, true)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	opts := []catalog.CreateTableOpt{catalog.WithProperties(iceberg.Properties{
		table.CommitNumRetriesKey: commitRetries,
		// zstd at its fastest level: most of zstd's ratio at about twice
		// the speed of its default level, which bounds ingestion.
		"write.parquet.compression-level": "1",
		// A column with more distinct values than a 128 KiB dictionary
		// holds (ids, times, measurements) gives up on dictionary
		// encoding early instead of hashing 2 MiB worth of values first;
		// categorical columns fit easily.
		"write.parquet.dict-size-bytes": "131072",
	})}
	if partitionBy != "" {
		field, ok := isc.FindFieldByName(partitionBy)
		if !ok {
			return nil, fmt.Errorf("table %s: partition column %q is not in the schema", name, partitionBy)
		}
		spec, err := iceberg.NewPartitionSpecOpts(iceberg.AddPartitionFieldBySourceID(field.ID, partitionBy+"_day", iceberg.DayTransform{}, isc, nil))
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		opts = append(opts, catalog.WithPartitionSpec(&spec))
	}
	if _, err := c.cat.CreateTable(ctx, ident, isc, opts...); err != nil && !errors.Is(err, catalog.ErrTableAlreadyExists) {
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	return r.LoadTable(ctx, ident)
}

// AppendResult says what an append did.
type AppendResult struct {
	// SnapshotID is the snapshot holding the run's rows.
	SnapshotID int64
	// AlreadyCommitted is set when an earlier attempt of the run had
	// committed: nothing was written again.
	AlreadyCommitted bool
}

// Append commits the records to the table as one snapshot, stamped with
// runID. When a snapshot of the table already carries runID (an earlier
// attempt that committed before dying), it writes nothing.
func (c *Catalog) Append(ctx context.Context, name string, recs []arrow.RecordBatch, runID string) (AppendResult, error) {
	if len(recs) == 0 {
		return AppendResult{}, errors.New("lakehouse: nothing to append")
	}
	rdr, err := array.NewRecordReader(recs[0].Schema(), recs)
	if err != nil {
		return AppendResult{}, fmt.Errorf("appending to %s: %w", name, err)
	}
	defer rdr.Release()
	return c.AppendStream(ctx, name, rdr, runID, nil)
}

// forRun loads a table for a write by runID; done is set, with the
// snapshot, when that run already committed.
func (c *Catalog) forRun(ctx context.Context, name, runID string) (t *table.Table, done AppendResult, ok bool, err error) {
	if runID == "" {
		return nil, done, false, errors.New("lakehouse: a write needs a run id")
	}
	ident, err := Ident(name)
	if err != nil {
		return nil, done, false, err
	}
	t, err = retrying{c.cat}.LoadTable(ctx, ident)
	if err != nil {
		return nil, done, false, fmt.Errorf("loading %s: %w", name, err)
	}
	if id, found := snapshotOfRun(t, runID); found {
		return t, AppendResult{SnapshotID: id, AlreadyCommitted: true}, true, nil
	}
	return t, done, false, nil
}

// RunSnapshot finds the snapshot a run committed to a table: its id and
// summary; ok is false when the run committed nothing there (or the table
// does not exist).
func (c *Catalog) RunSnapshot(ctx context.Context, name, runID string) (id int64, summary map[string]string, ok bool, err error) {
	t, err := c.loadIfExists(ctx, name)
	if t == nil || err != nil {
		return 0, nil, false, err
	}
	id, ok = snapshotOfRun(t, runID)
	if !ok {
		return 0, nil, false, nil
	}
	if s := t.Metadata().SnapshotByID(id); s != nil && s.Summary != nil {
		summary = s.Summary.Properties
	}
	return id, summary, true, nil
}

// loadIfExists loads a table; nil and no error when it does not exist.
func (c *Catalog) loadIfExists(ctx context.Context, name string) (*table.Table, error) {
	ident, err := Ident(name)
	if err != nil {
		return nil, err
	}
	t, err := retrying{c.cat}.LoadTable(ctx, ident)
	if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchNamespace) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", name, err)
	}
	return t, nil
}

// commitRun commits a write and returns the run's snapshot; when another
// attempt of the run committed first, it commits nothing and returns that
// attempt's snapshot, AlreadyCommitted.
func commitRun(ctx context.Context, tx *table.Transaction, name, runID string) (AppendResult, error) {
	nt, err := tx.Commit(withRun(ctx, runID))
	var done runCommitted
	if errors.As(err, &done) {
		return AppendResult{SnapshotID: done.snapshotID, AlreadyCommitted: true}, nil
	}
	if err != nil {
		return AppendResult{}, fmt.Errorf("committing to %s: %w", name, err)
	}
	id, ok := snapshotOfRun(nt, runID)
	if !ok {
		return AppendResult{}, fmt.Errorf("committing to %s: the new snapshot does not carry run %s", name, runID)
	}
	return AppendResult{SnapshotID: id}, nil
}

// snapshotOfRun finds the snapshot a run committed.
func snapshotOfRun(t *table.Table, runID string) (int64, bool) {
	for _, s := range t.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[RunIDProperty] == runID {
			return s.SnapshotID, true
		}
	}
	return 0, false
}

// ScanOptions narrows a scan.
type ScanOptions struct {
	// Columns projects the named columns; nil reads them all.
	Columns []string
	// Filter keeps the matching rows and prunes the files that cannot
	// match; nil keeps every row.
	Filter iceberg.BooleanExpression
	// SnapshotID reads an older snapshot; zero reads the current one.
	SnapshotID int64
	// Limit stops after that many rows; zero reads them all.
	Limit int64
	// AppendedAfter, when set, reads only the rows that snapshots after
	// it (up to SnapshotID, or the current one) appended. It fails with
	// ErrNotAppendOnly when one of them did more than append (an
	// overwrite or a delete; a compaction's replace adds no rows), and
	// with ErrNoSnapshot when the snapshot is not an ancestor.
	AppendedAfter int64
}

// ErrNotAppendOnly reports a snapshot range that changed rows rather
// than only adding them.
var ErrNotAppendOnly = errors.New("lakehouse: the snapshots did more than append")

// ScanResult is what a scan read.
type ScanResult struct {
	Records    []arrow.RecordBatch
	SnapshotID int64
	// FilesPlanned counts the data files the scan read after pruning.
	FilesPlanned int
}

// Scan reads a table into memory. The caller releases the records.
func (c *Catalog) Scan(ctx context.Context, name string, o ScanOptions) (ScanResult, error) {
	rd, err := c.Read(ctx, name, o)
	if err != nil {
		return ScanResult{}, err
	}
	res := ScanResult{SnapshotID: rd.SnapshotID, FilesPlanned: rd.FilesPlanned}
	for rec, err := range rd.Records {
		if err != nil {
			for _, r := range res.Records {
				r.Release()
			}
			return ScanResult{}, err
		}
		rec.Retain()
		res.Records = append(res.Records, rec)
	}
	return res, nil
}

// Reading is a planned scan whose records stream as they are read.
type Reading struct {
	// SnapshotID is the snapshot read (zero for an empty table), so a
	// reader can record exactly what it read.
	SnapshotID   int64
	FilesPlanned int
	// Schema is the records' schema.
	Schema *arrow.Schema
	// Records yields the rows; each record is valid until the next.
	Records iter.Seq2[arrow.RecordBatch, error]
}

// Read plans a scan of a table and streams its records, holding one
// batch at a time rather than the table.
func (c *Catalog) Read(ctx context.Context, name string, o ScanOptions) (Reading, error) {
	ident, err := Ident(name)
	if err != nil {
		return Reading{}, err
	}
	t, err := retrying{c.cat}.LoadTable(ctx, ident)
	if err != nil {
		return Reading{}, fmt.Errorf("loading %s: %w", name, err)
	}
	var opts []table.ScanOption
	if o.Columns != nil {
		opts = append(opts, table.WithSelectedFields(o.Columns...))
	}
	if o.Filter != nil {
		opts = append(opts, table.WithRowFilter(o.Filter))
	}
	if o.Limit > 0 {
		opts = append(opts, table.WithLimit(o.Limit))
	}
	res := Reading{SnapshotID: o.SnapshotID, Records: func(func(arrow.RecordBatch, error) bool) {}}
	if o.SnapshotID != 0 && t.Metadata().SnapshotByID(o.SnapshotID) == nil {
		return Reading{}, fmt.Errorf("%w: %s has no snapshot %d", ErrNoSnapshot, name, o.SnapshotID)
	}
	if o.SnapshotID != 0 {
		opts = append(opts, table.WithSnapshotID(o.SnapshotID))
	} else if s := t.CurrentSnapshot(); s != nil {
		res.SnapshotID = s.SnapshotID
	}
	scan := t.Scan(opts...)
	if res.Schema, err = projectedSchema(scan); err != nil {
		return Reading{}, fmt.Errorf("scanning %s: %w", name, err)
	}
	if res.SnapshotID == 0 {
		return res, nil // an empty table
	}
	var tasks []table.FileScanTask
	if o.AppendedAfter != 0 {
		tasks, err = appendedTasks(ctx, t, opts, o.AppendedAfter, res.SnapshotID)
	} else {
		tasks, err = scan.PlanFiles(ctx)
	}
	if err != nil {
		return Reading{}, fmt.Errorf("planning the scan of %s: %w", name, err)
	}
	res.FilesPlanned = len(tasks)
	// Read the tasks just planned rather than planning again.
	_, it, err := scan.ReadTasks(ctx, tasks)
	if err != nil {
		return Reading{}, fmt.Errorf("scanning %s: %w", name, err)
	}
	res.Records = func(yield func(arrow.RecordBatch, error) bool) {
		for rec, err := range it {
			if err != nil {
				yield(nil, fmt.Errorf("scanning %s: %w", name, err))
				return
			}
			ok := yield(rec, nil)
			rec.Release()
			if !ok {
				return
			}
		}
	}
	return res, nil
}

// appendedTasks plans the data files the snapshots in (after, to]
// appended, checking that they only appended.
func appendedTasks(ctx context.Context, t *table.Table, opts []table.ScanOption, after, to int64) ([]table.FileScanTask, error) {
	if after == to {
		return nil, nil
	}
	for id := to; id != after; {
		snap := t.Metadata().SnapshotByID(id)
		if snap == nil || snap.ParentSnapshotID == nil {
			return nil, fmt.Errorf("%w: %d is not an ancestor of %d", ErrNoSnapshot, after, to)
		}
		if snap.Summary != nil {
			switch snap.Summary.Operation {
			case table.OpAppend, table.OpReplace:
			default:
				return nil, fmt.Errorf("%w: snapshot %d is an %s", ErrNotAppendOnly, id, snap.Summary.Operation)
			}
		}
		id = *snap.ParentSnapshotID
	}
	return t.NewIncrementalAppendScan(opts...).FromSnapshotExclusive(after).ToSnapshot(to).PlanFiles(ctx)
}

// projectedSchema is the Arrow schema a scan's records have.
func projectedSchema(scan *table.Scan) (*arrow.Schema, error) {
	isc, err := scan.Projection()
	if err != nil {
		return nil, err
	}
	return table.SchemaToArrowSchema(isc, nil, false, false)
}

// Replace swaps the table's whole content for the reader's records in one
// atomic snapshot stamped with runID (a full refresh): readers see the old
// rows or the new, never a mix. When a snapshot of runID exists, it writes
// nothing.
func (c *Catalog) Replace(ctx context.Context, name string, rdr array.RecordReader, runID string) (AppendResult, error) {
	return c.write(ctx, name, rdr, runID, nil, true)
}

// AppendStream writes the reader's records as one snapshot stamped with
// runID. After the data files are written and before the commit, finish
// may veto the commit (the files are then removed) or return table
// properties to set in the same atomic commit, such as a watermark
// computed from the data. When a snapshot of runID exists, it writes
// nothing.
func (c *Catalog) AppendStream(ctx context.Context, name string, rdr array.RecordReader, runID string, finish func() (map[string]string, error)) (AppendResult, error) {
	return c.write(ctx, name, rdr, runID, finish, false)
}

func (c *Catalog) write(ctx context.Context, name string, rdr array.RecordReader, runID string, finish func() (map[string]string, error), replace bool) (AppendResult, error) {
	s, err := c.Stage(ctx, name, rdr.Schema(), runID)
	if err != nil || s.Done {
		if s != nil {
			return s.done, nil
		}
		return AppendResult{}, err
	}
	// WriteRecords releases what it consumes; the reader owns its records.
	recs := func(yield func(arrow.RecordBatch, error) bool) {
		for rdr.Next() {
			rec := rdr.RecordBatch()
			rec.Retain()
			if !yield(rec, nil) {
				return
			}
		}
		if err := rdr.Err(); err != nil {
			yield(nil, err)
		}
	}
	if _, err := s.Write(ctx, recs); err != nil {
		s.Abort(context.WithoutCancel(ctx))
		return AppendResult{}, err
	}
	o := CommitOptions{Replace: replace}
	if finish != nil {
		if o.TableProperties, err = finish(); err != nil {
			s.Abort(context.WithoutCancel(ctx))
			return AppendResult{}, err
		}
	}
	return s.Commit(ctx, o)
}

// ErrNoSuchTable reports a table the catalog does not list.
var ErrNoSuchTable = catalog.ErrNoSuchTable

// Purge drops a table and deletes its files.
func (c *Catalog) Purge(ctx context.Context, name string) error {
	ident, err := Ident(name)
	if err != nil {
		return err
	}
	if err := c.cat.PurgeTable(ctx, ident); err != nil && !errors.Is(err, catalog.ErrNoSuchTable) {
		return fmt.Errorf("purging %s: %w", name, err)
	}
	return nil
}

// Rename moves a table to a new name, creating the new namespace when
// missing. Its metadata and data files stay where they are: a catalog
// rename changes what the table is called, not where it is stored.
func (c *Catalog) Rename(ctx context.Context, from, to string) error {
	src, err := Ident(from)
	if err != nil {
		return err
	}
	dst, err := Ident(to)
	if err != nil {
		return err
	}
	ns := table.Identifier{dst[0]}
	if ok, err := c.cat.CheckNamespaceExists(ctx, ns); err != nil {
		return fmt.Errorf("looking up namespace %s: %w", dst[0], err)
	} else if !ok {
		if err := c.cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return fmt.Errorf("creating namespace %s: %w", dst[0], err)
		}
	}
	if _, err := c.cat.RenameTable(ctx, src, dst); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", from, to, err)
	}
	return nil
}

// Exists says whether the table exists.
func (c *Catalog) Exists(ctx context.Context, name string) (bool, error) {
	ident, err := Ident(name)
	if err != nil {
		return false, err
	}
	ok, err := c.cat.CheckTableExists(ctx, ident)
	if errors.Is(err, catalog.ErrNoSuchNamespace) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", name, err)
	}
	return ok, nil
}

// DropIfEmpty drops a table that has no snapshot: a table a failed run
// created and never wrote to.
func (c *Catalog) DropIfEmpty(ctx context.Context, name string) error {
	ident, err := Ident(name)
	if err != nil {
		return err
	}
	t, err := c.cat.LoadTable(ctx, ident)
	if err != nil {
		return fmt.Errorf("loading %s: %w", name, err)
	}
	if t.CurrentSnapshot() != nil {
		return nil
	}
	if err := c.cat.DropTable(ctx, ident); err != nil {
		return fmt.Errorf("dropping %s: %w", name, err)
	}
	return nil
}

// Property returns a table property, such as an incremental load's
// watermark; ok is false when the table or the property does not exist.
func (c *Catalog) Property(ctx context.Context, name, key string) (string, bool, error) {
	ident, err := Ident(name)
	if err != nil {
		return "", false, err
	}
	t, err := retrying{c.cat}.LoadTable(ctx, ident)
	if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchNamespace) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("loading %s: %w", name, err)
	}
	v, ok := t.Properties()[key]
	return v, ok, nil
}

// Current returns a table's current snapshot id and the summary its
// commit wrote; ok is false when the table does not exist or has no
// snapshot.
func (c *Catalog) Current(ctx context.Context, name string) (id int64, summary map[string]string, ok bool, err error) {
	t, err := c.loadIfExists(ctx, name)
	if t == nil || err != nil {
		return 0, nil, false, err
	}
	s := t.CurrentSnapshot()
	if s == nil {
		return 0, nil, false, nil
	}
	if s.Summary != nil {
		summary = s.Summary.Properties
	}
	return s.SnapshotID, summary, true, nil
}
