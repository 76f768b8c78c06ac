package lakehouse

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tables lists the lake's tables as namespace.table, sorted.
func (c *Catalog) Tables(ctx context.Context) ([]string, error) {
	nss, err := c.cat.ListNamespaces(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	var out []string
	for _, ns := range nss {
		for ident, err := range c.cat.ListTables(ctx, ns) {
			if err != nil {
				return nil, fmt.Errorf("listing tables of %s: %w", strings.Join(ns, "."), err)
			}
			out = append(out, strings.Join(ident, "."))
		}
	}
	slices.Sort(out)
	return out, nil
}

// SnapshotInfo describes one snapshot.
type SnapshotInfo struct {
	ID        int64
	Time      time.Time
	Operation string
	RunID     string
	// TotalRecords is the table's row count as of the snapshot.
	TotalRecords int64
}

// TableInfo describes a table.
type TableInfo struct {
	Name      string
	Location  string
	Schema    string
	Partition string
	Snapshots []SnapshotInfo
	// Current is the current snapshot's id; zero for an empty table.
	Current int64
}

// Rows is the row count at the current snapshot.
func (t TableInfo) Rows() int64 {
	for _, s := range t.Snapshots {
		if s.ID == t.Current {
			return s.TotalRecords
		}
	}
	return 0
}

// Describe reports a table's schema, partitioning and snapshots.
func (c *Catalog) Describe(ctx context.Context, name string) (TableInfo, error) {
	ident, err := Ident(name)
	if err != nil {
		return TableInfo{}, err
	}
	t, err := retrying{c.cat}.LoadTable(ctx, ident)
	if err != nil {
		return TableInfo{}, fmt.Errorf("loading %s: %w", name, err)
	}
	info := TableInfo{Name: name, Location: t.Location(), Schema: t.Schema().String(), Partition: t.Spec().String()}
	if s := t.CurrentSnapshot(); s != nil {
		info.Current = s.SnapshotID
	}
	for _, s := range t.Metadata().Snapshots() {
		si := SnapshotInfo{ID: s.SnapshotID, Time: time.UnixMilli(s.TimestampMs).UTC()}
		if s.Summary != nil {
			si.Operation = string(s.Summary.Operation)
			si.RunID = s.Summary.Properties[RunIDProperty]
			si.TotalRecords, _ = strconv.ParseInt(s.Summary.Properties["total-records"], 10, 64)
		}
		info.Snapshots = append(info.Snapshots, si)
	}
	return info, nil
}
