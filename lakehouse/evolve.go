package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go/table"
)

// ErrSchemaDrift reports input whose columns were removed or changed type
// against the table's schema.
var ErrSchemaDrift = errors.New("lakehouse: schema drift")

// Evolve brings the table's schema in line with incoming data: columns the
// data adds are added to the table (nullable, so old rows read null); a
// column the data lacks, or whose type changed, is ErrSchemaDrift. It
// returns the added column names.
func (c *Catalog) Evolve(ctx context.Context, name string, in *arrow.Schema) ([]string, error) {
	ident, err := Ident(name)
	if err != nil {
		return nil, err
	}
	t, err := retrying{c.cat}.LoadTable(ctx, ident)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", name, err)
	}
	tx := t.NewTransaction()
	added, err := evolveIn(tx, t, name, in)
	if err != nil || len(added) == 0 {
		return nil, err
	}
	if _, err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("evolving %s: %w", name, err)
	}
	return added, nil
}

// evolveIn checks the incoming schema against the table's and stages the
// columns it adds in tx.
func evolveIn(tx *table.Transaction, t *table.Table, name string, in *arrow.Schema) ([]string, error) {
	cur, err := table.SchemaToArrowSchema(t.Schema(), nil, false, false)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	var problems []string
	for _, f := range cur.Fields() {
		idx := in.FieldIndices(f.Name)
		switch {
		case len(idx) == 0:
			problems = append(problems, fmt.Sprintf("column %s was removed", f.Name))
		case !arrow.TypeEqual(in.Field(idx[0]).Type, f.Type):
			problems = append(problems, fmt.Sprintf("column %s changed type from %s to %s", f.Name, f.Type, in.Field(idx[0]).Type))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w in %s: %s", ErrSchemaDrift, name, strings.Join(problems, "; "))
	}
	var added []arrow.Field
	for _, f := range in.Fields() {
		if len(cur.FieldIndices(f.Name)) == 0 {
			added = append(added, f)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	u := tx.UpdateSchema(true, false)
	var names []string
	for _, f := range added {
		f.Nullable = true
		isc, err := table.ArrowSchemaToIcebergWithFreshIDs(arrow.NewSchema([]arrow.Field{f}, nil), true)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		u = u.AddColumn([]string{f.Name}, isc.Field(0).Type, "", false, nil)
		names = append(names, f.Name)
	}
	if err := u.Commit(); err != nil {
		return nil, fmt.Errorf("evolving %s: %w", name, err)
	}
	return names, nil
}
