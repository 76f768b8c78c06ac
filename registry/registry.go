// Package registry is the model registry in PostgreSQL: models, their
// numbered versions with everything each was made from (params, metrics,
// the snapshots of the tables it read, the spec version, the feature
// schema, the artifact, the workflow run and the code version), and
// aliases such as champion and challenger. There are no stages: an alias
// names a version, and every move of an alias is kept with who made it,
// when and why. Each move sends NOTIFY sluice_models, so servers can swap
// models at once.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/metastore"
)

// Channel is the NOTIFY channel of alias moves.
const Channel = "sluice_models"

// Errors the registry reports.
var (
	ErrNotFound = errors.New("registry: not found")
	// ErrAmbiguous reports a model named without its project that several
	// projects have.
	ErrAmbiguous   = errors.New("registry: ambiguous model name")
	ErrNoPrevious  = errors.New("registry: the alias has no earlier version to roll back to")
	ErrInvalidName = errors.New("registry: names are letters, digits, _ and -, starting with a letter")
	// ErrInvalidText reports who moved an alias, or why, that cannot be
	// kept: it must fit the move's NOTIFY payload and PostgreSQL's text.
	ErrInvalidText = errors.New("registry: who moves an alias (at most 200 bytes) and why (at most 2,000) is UTF-8 text without NUL")
)

// checkText checks an alias move's by and reason.
func checkText(by, reason string) error {
	for _, f := range []struct {
		name, v string
		most    int
	}{{"by", by, 200}, {"reason", reason, 2000}} {
		if len(f.v) > f.most || strings.IndexByte(f.v, 0) >= 0 || !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s", ErrInvalidText, f.name)
		}
	}
	return nil
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)
	modelRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_-]{0,62}\.)?[A-Za-z][A-Za-z0-9_-]{0,62}$`)
)

// ValidName says whether name can name a model: letters, digits, _ and
// -, starting with a letter, at most 63 characters, after an optional
// project of the same form and a dot (churn_demo.churn).
func ValidName(name string) bool { return modelRE.MatchString(name) }

// Version is one trained version of a model.
type Version struct {
	Model     string             `json:"model"`
	Version   int                `json:"version"`
	Algorithm string             `json:"algorithm"`
	Params    map[string]any     `json:"params"`
	Metrics   map[string]float64 `json:"metrics"`
	// TrainingSnapshots maps each table read to its snapshot id.
	TrainingSnapshots map[string]int64 `json:"training_snapshots"`
	SpecVersion       string           `json:"spec_version"`
	FeatureSchema     json.RawMessage  `json:"feature_schema"`
	ArtifactKey       string           `json:"artifact_key"`
	WorkflowID        string           `json:"workflow_id"`
	RunID             string           `json:"run_id"`
	CodeVersion       string           `json:"code_version"`
	// GateReport is the evaluation gates' verdict, stored with the version.
	GateReport json.RawMessage `json:"gate_report,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	// Aliases are the aliases that name this version now.
	Aliases []string `json:"aliases"`
}

// AliasMove is one move of an alias.
type AliasMove struct {
	Model string `json:"model"`
	Alias string `json:"alias"`
	// From is the version the alias named before (0: none); To the
	// version it names after.
	From   int       `json:"from"`
	To     int       `json:"to"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
}

// Registry reads and writes the registry's tables.
type Registry struct {
	DB *pgxpool.Pool
}

// Register adds a version of a model, numbered after the newest. A
// version with the same run id is the one an earlier attempt of that run
// registered: it is returned as it is.
func (r *Registry) Register(ctx context.Context, v Version) (Version, error) {
	return r.RegisterPlaced(ctx, v, nil)
}

// RegisterPlaced registers a version like Register; once the version is
// numbered, and before it commits, place (when set) stores the artifact
// where that number says and returns its key. A retry after a failure
// numbers the version the same, so place may run again for it.
func (r *Registry) RegisterPlaced(ctx context.Context, v Version, place func(version int) (string, error)) (Version, error) {
	if !modelRE.MatchString(v.Model) {
		return Version{}, fmt.Errorf("%w: model %q", ErrInvalidName, v.Model)
	}
	if v.ArtifactKey == "" && place == nil {
		return Version{}, errors.New("registry: a version needs its artifact key")
	}
	tx, err := r.DB.Begin(ctx)
	if err != nil {
		return Version{}, fmt.Errorf("registry: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `INSERT INTO sluice.models (name) VALUES ($1) ON CONFLICT DO NOTHING`, v.Model); err != nil {
		return Version{}, fmt.Errorf("registry: adding model %s: %w", v.Model, err)
	}
	// The model row serialises numbering.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM sluice.models WHERE name = $1 FOR UPDATE`, v.Model); err != nil {
		return Version{}, fmt.Errorf("registry: %w", err)
	}
	if v.RunID != "" {
		var n int
		err := tx.QueryRow(ctx, `SELECT version FROM sluice.model_versions WHERE model = $1 AND run_id = $2`, v.Model, v.RunID).Scan(&n)
		if err == nil {
			tx.Rollback(ctx)
			return r.Get(ctx, v.Model, n)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Version{}, fmt.Errorf("registry: %w", err)
		}
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM sluice.model_versions WHERE model = $1`, v.Model).Scan(&v.Version); err != nil {
		return Version{}, fmt.Errorf("registry: numbering %s: %w", v.Model, err)
	}
	if place != nil {
		if v.ArtifactKey, err = place(v.Version); err != nil {
			return Version{}, fmt.Errorf("registry: storing %s version %d: %w", v.Model, v.Version, err)
		}
	}
	if v.FeatureSchema == nil {
		v.FeatureSchema = json.RawMessage("[]")
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO sluice.model_versions (model, version, algorithm, params, metrics, training_snapshots, spec_version,
			feature_schema, artifact_key, workflow_id, run_id, code_version, gate_report)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		v.Model, v.Version, v.Algorithm, jsonOr(v.Params, "{}"), jsonOr(v.Metrics, "{}"), jsonOr(v.TrainingSnapshots, "{}"), v.SpecVersion,
		v.FeatureSchema, v.ArtifactKey, v.WorkflowID, v.RunID, v.CodeVersion, nullJSON(v.GateReport))
	if err != nil {
		return Version{}, fmt.Errorf("registry: registering %s: %w", v.Model, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Version{}, fmt.Errorf("registry: %w", err)
	}
	return r.Get(ctx, v.Model, v.Version)
}

func jsonOr[T any](v T, empty string) []byte {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return []byte(empty)
	}
	return b
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

// SetGateReport stores the gates' verdict with a version.
func (r *Registry) SetGateReport(ctx context.Context, model string, version int, report json.RawMessage) error {
	tag, err := r.DB.Exec(ctx, `UPDATE sluice.model_versions SET gate_report = $3 WHERE model = $1 AND version = $2`, model, version, []byte(report))
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s version %d", ErrNotFound, model, version)
	}
	return nil
}

const versionColumns = `v.model, v.version, v.algorithm, v.params, v.metrics, v.training_snapshots, v.spec_version, v.feature_schema,
	v.artifact_key, v.workflow_id, v.run_id, v.code_version, v.gate_report, v.created_at,
	coalesce((SELECT array_agg(a.alias ORDER BY a.alias) FROM sluice.model_aliases a WHERE a.model = v.model AND a.version = v.version), '{}')`

func scanVersion(row pgx.Row) (Version, error) {
	var v Version
	var params, metrics, snaps, schema, gates []byte
	err := row.Scan(&v.Model, &v.Version, &v.Algorithm, &params, &metrics, &snaps, &v.SpecVersion, &schema,
		&v.ArtifactKey, &v.WorkflowID, &v.RunID, &v.CodeVersion, &gates, &v.CreatedAt, &v.Aliases)
	if err != nil {
		return v, err
	}
	for _, u := range []struct {
		b  []byte
		to any
	}{{params, &v.Params}, {metrics, &v.Metrics}, {snaps, &v.TrainingSnapshots}} {
		if err := json.Unmarshal(u.b, u.to); err != nil {
			return v, fmt.Errorf("registry: decoding %s version %d: %w", v.Model, v.Version, err)
		}
	}
	v.FeatureSchema, v.GateReport = schema, gates
	return v, nil
}

// Get returns a version.
func (r *Registry) Get(ctx context.Context, model string, version int) (Version, error) {
	v, err := scanVersion(r.DB.QueryRow(ctx, `SELECT `+versionColumns+` FROM sluice.model_versions v WHERE v.model = $1 AND v.version = $2`, model, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("%w: %s version %d", ErrNotFound, model, version)
	}
	return v, err
}

// Resolve returns the version an alias names.
func (r *Registry) Resolve(ctx context.Context, model, alias string) (Version, error) {
	v, err := scanVersion(r.DB.QueryRow(ctx, `SELECT `+versionColumns+` FROM sluice.model_versions v
		JOIN sluice.model_aliases a ON a.model = v.model AND a.version = v.version WHERE a.model = $1 AND a.alias = $2`, model, alias))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("%w: %s has no %s", ErrNotFound, model, alias)
	}
	return v, err
}

// Versions lists a model's versions, newest first.
func (r *Registry) Versions(ctx context.Context, model string) ([]Version, error) {
	rows, err := r.DB.Query(ctx, `SELECT `+versionColumns+` FROM sluice.model_versions v WHERE v.model = $1 ORDER BY v.version DESC`, model)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Model summarises a model.
type Model struct {
	Name     string         `json:"name"`
	Versions int            `json:"versions"`
	Latest   int            `json:"latest"`
	Aliases  map[string]int `json:"aliases"`
}

// Lookup finds the full name of a model named with or without its
// project ("churn_demo.churn" or "churn"): the name itself when a model
// has it, else the one model of that name in any project. ErrNotFound
// when none has it; ErrAmbiguous, naming the candidates, when several do.
func (r *Registry) Lookup(ctx context.Context, name string) (string, error) {
	rows, err := r.DB.Query(ctx, `SELECT name FROM sluice.models WHERE name = $1 OR (strpos($1, '.') = 0 AND right(name, length($1) + 1) = '.' || $1) ORDER BY name`, name)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	if slices.Contains(names, name) {
		return name, nil
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("%w: model %s", ErrNotFound, name)
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("%w: %s is a model of several projects; name one of %s", ErrAmbiguous, name, strings.Join(names, ", "))
}

// Models lists the models by name.
func (r *Registry) Models(ctx context.Context) ([]Model, error) {
	rows, err := r.DB.Query(ctx, `
		SELECT m.name, count(v.version), coalesce(max(v.version), 0),
			coalesce((SELECT jsonb_object_agg(a.alias, a.version) FROM sluice.model_aliases a WHERE a.model = m.name), '{}')
		FROM sluice.models m LEFT JOIN sluice.model_versions v ON v.model = m.name
		GROUP BY m.name ORDER BY m.name`)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer rows.Close()
	var out []Model
	for rows.Next() {
		var m Model
		var aliases []byte
		if err := rows.Scan(&m.Name, &m.Versions, &m.Latest, &aliases); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		if err := json.Unmarshal(aliases, &m.Aliases); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetAlias points an alias at a version, in one transaction that records
// the move and sends NOTIFY sluice_models (a JSON AliasMove). Setting it
// to the version it already names records nothing.
func (r *Registry) SetAlias(ctx context.Context, model, alias string, version int, by, reason string) (AliasMove, error) {
	if !nameRE.MatchString(alias) {
		return AliasMove{}, fmt.Errorf("%w: alias %q", ErrInvalidName, alias)
	}
	tx, err := r.DB.Begin(ctx)
	if err != nil {
		return AliasMove{}, fmt.Errorf("registry: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	move, err := setAlias(ctx, tx, model, alias, version, by, reason)
	if err != nil {
		return move, err
	}
	if err := tx.Commit(ctx); err != nil {
		return move, fmt.Errorf("registry: %w", err)
	}
	return move, nil
}

func setAlias(ctx context.Context, tx pgx.Tx, model, alias string, version int, by, reason string) (AliasMove, error) {
	move := AliasMove{Model: model, Alias: alias, To: version, By: by, Reason: reason}
	if err := checkText(by, reason); err != nil {
		return move, err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT true FROM sluice.model_versions WHERE model = $1 AND version = $2`, model, version).Scan(&exists); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return move, fmt.Errorf("%w: %s version %d", ErrNotFound, model, version)
		}
		return move, fmt.Errorf("registry: %w", err)
	}
	var from *int
	err := tx.QueryRow(ctx, `SELECT version FROM sluice.model_aliases WHERE model = $1 AND alias = $2 FOR UPDATE`, model, alias).Scan(&from)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return move, fmt.Errorf("registry: %w", err)
	}
	if from != nil {
		move.From = *from
		if *from == version {
			return move, nil
		}
	}
	if err := tx.QueryRow(ctx, `
		INSERT INTO sluice.model_aliases (model, alias, version, moved_at, moved_by, reason) VALUES ($1, $2, $3, now(), $4, $5)
		ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version, moved_at = EXCLUDED.moved_at,
			moved_by = EXCLUDED.moved_by, reason = EXCLUDED.reason
		RETURNING moved_at`, model, alias, version, by, reason).Scan(&move.At); err != nil {
		return move, fmt.Errorf("registry: moving %s %s: %w", model, alias, err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO sluice.model_alias_history (model, alias, from_version, to_version, moved_at, moved_by, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, model, alias, from, version, move.At, by, reason); err != nil {
		return move, fmt.Errorf("registry: %w", err)
	}
	payload, _ := json.Marshal(move)
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, string(payload)); err != nil {
		return move, fmt.Errorf("registry: notifying: %w", err)
	}
	return move, nil
}

// Rollback points an alias back at the version it named before its last
// move.
func (r *Registry) Rollback(ctx context.Context, model, alias, by, reason string) (AliasMove, error) {
	tx, err := r.DB.Begin(ctx)
	if err != nil {
		return AliasMove{}, fmt.Errorf("registry: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var from *int
	err = tx.QueryRow(ctx, `SELECT from_version FROM sluice.model_alias_history WHERE model = $1 AND alias = $2 ORDER BY id DESC LIMIT 1`, model, alias).Scan(&from)
	if errors.Is(err, pgx.ErrNoRows) {
		return AliasMove{}, fmt.Errorf("%w: %s has no %s", ErrNotFound, model, alias)
	}
	if err != nil {
		return AliasMove{}, fmt.Errorf("registry: %w", err)
	}
	if from == nil {
		return AliasMove{}, fmt.Errorf("%w (%s %s)", ErrNoPrevious, model, alias)
	}
	move, err := setAlias(ctx, tx, model, alias, *from, by, reason)
	if err != nil {
		return move, err
	}
	if err := tx.Commit(ctx); err != nil {
		return move, fmt.Errorf("registry: %w", err)
	}
	return move, nil
}

// History lists an alias's moves, newest first.
func (r *Registry) History(ctx context.Context, model, alias string) ([]AliasMove, error) {
	rows, err := r.DB.Query(ctx, `SELECT model, alias, coalesce(from_version, 0), coalesce(to_version, 0), moved_at, moved_by, reason
		FROM sluice.model_alias_history WHERE model = $1 AND alias = $2 ORDER BY id DESC`, model, alias)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer rows.Close()
	var out []AliasMove
	for rows.Next() {
		var m AliasMove
		if err := rows.Scan(&m.Model, &m.Alias, &m.From, &m.To, &m.At, &m.By, &m.Reason); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Watch calls f with every alias move until ctx ends. It returns once it
// is listening; done yields how the watch ended (nil when ctx ended).
func (r *Registry) Watch(ctx context.Context, f func(AliasMove)) (done <-chan error, err error) {
	return metastore.Listen(ctx, r.DB, Channel, func(payload string) {
		var m AliasMove
		if json.Unmarshal([]byte(payload), &m) == nil {
			f(m)
		}
	})
}

// Experiment is one recorded trial of a training run.
type Experiment struct {
	RunID       string             `json:"run_id"`
	Trial       int                `json:"trial"`
	Params      map[string]string  `json:"params"`
	Metrics     map[string]float64 `json:"metrics"`
	Rounds      int                `json:"rounds"`
	ResumedFrom int                `json:"resumed_from"`
	Worker      string             `json:"worker"`
	Device      string             `json:"device"`
	ArtifactKey string             `json:"artifact_key"`
	Best        bool               `json:"best"`
	RecordedAt  time.Time          `json:"recorded_at"`
}

// Experiments lists a model's recorded trials, newest run first.
func (r *Registry) Experiments(ctx context.Context, model string) ([]Experiment, error) {
	rows, err := r.DB.Query(ctx, `SELECT run_id, trial, params, metrics, rounds, resumed_from, worker, device, artifact_key, best, recorded_at
		FROM sluice.experiments WHERE model = $1 ORDER BY recorded_at DESC, run_id, trial`, model)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer rows.Close()
	var out []Experiment
	for rows.Next() {
		var e Experiment
		var params, metrics []byte
		if err := rows.Scan(&e.RunID, &e.Trial, &params, &metrics, &e.Rounds, &e.ResumedFrom, &e.Worker, &e.Device, &e.ArtifactKey, &e.Best, &e.RecordedAt); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		if err := errors.Join(json.Unmarshal(params, &e.Params), json.Unmarshal(metrics, &e.Metrics)); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ParseVersion reads a version number written 3 or v3.
func ParseVersion(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("version %q: want a number like 3 or v3", s)
	}
	return n, nil
}
