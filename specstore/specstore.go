// Package specstore keeps the versions of a project spec in PostgreSQL:
// `sluice apply` adds one when the text changed, and runs read the version
// they were started with.
package specstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Version is one applied spec.
type Version struct {
	Version   int       `json:"version"`
	Project   string    `json:"project"`
	Content   string    `json:"content"`
	SHA256    string    `json:"sha256"`
	BaseDir   string    `json:"base_dir"`
	AppliedBy string    `json:"applied_by"`
	AppliedAt time.Time `json:"applied_at"`
}

// ErrNotFound reports a project or version that was never applied.
var ErrNotFound = errors.New("specstore: no such spec version")

// Store reads and writes sluice.spec_versions.
type Store struct {
	DB *pgxpool.Pool
}

const columns = `version, project, content, sha256, base_dir, applied_by, applied_at`

func scan(row pgx.Row) (Version, error) {
	var v Version
	err := row.Scan(&v.Version, &v.Project, &v.Content, &v.SHA256, &v.BaseDir, &v.AppliedBy, &v.AppliedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// Apply stores the spec as the project's newest version unless it is the
// newest already (same text and base folder); changed says which. prev is
// the version before (zero Version when there was none).
func (s *Store) Apply(ctx context.Context, project, content, baseDir, by string) (v, prev Version, changed bool, err error) {
	sum := sha256.Sum256([]byte(content))
	hash := hex.EncodeToString(sum[:])
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sluice.spec.' || $1))`, project); err != nil {
			return err
		}
		prev, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM sluice.spec_versions WHERE project = $1 ORDER BY version DESC LIMIT 1`, project))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err == nil && prev.SHA256 == hash && prev.BaseDir == baseDir {
			v = prev
			return nil
		}
		changed = true
		// Versions count per project; the lock above serialises the
		// project's applies.
		v, err = scan(tx.QueryRow(ctx, `INSERT INTO sluice.spec_versions (version, project, content, sha256, base_dir, applied_by)
			VALUES ($6, $1, $2, $3, $4, $5) RETURNING `+columns, project, content, hash, baseDir, by, prev.Version+1))
		return err
	})
	if err != nil {
		return v, prev, false, fmt.Errorf("specstore: applying %s: %w", project, err)
	}
	return v, prev, changed, nil
}

// Get reads a version; version 0 reads the project's newest.
func (s *Store) Get(ctx context.Context, project string, version int) (Version, error) {
	var v Version
	var err error
	if version == 0 {
		v, err = scan(s.DB.QueryRow(ctx, `SELECT `+columns+` FROM sluice.spec_versions WHERE project = $1 ORDER BY version DESC LIMIT 1`, project))
	} else {
		v, err = scan(s.DB.QueryRow(ctx, `SELECT `+columns+` FROM sluice.spec_versions WHERE project = $1 AND version = $2`, project, version))
	}
	if err != nil {
		return v, fmt.Errorf("specstore: %s version %d: %w", project, version, err)
	}
	return v, nil
}

// Latest reads the newest version of any project: what a command without
// a spec file runs.
func (s *Store) Latest(ctx context.Context) (Version, error) {
	v, err := scan(s.DB.QueryRow(ctx, `SELECT `+columns+` FROM sluice.spec_versions ORDER BY applied_at DESC, version DESC LIMIT 1`))
	if err != nil {
		return v, fmt.Errorf("specstore: the newest spec: %w", err)
	}
	return v, nil
}

// Newest reads the newest version of every project, by project name.
func (s *Store) Newest(ctx context.Context) ([]Version, error) {
	rows, err := s.DB.Query(ctx, `SELECT DISTINCT ON (project) `+columns+` FROM sluice.spec_versions ORDER BY project, version DESC`)
	if err != nil {
		return nil, fmt.Errorf("specstore: the newest specs: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("specstore: the newest specs: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Diff is a line diff of two texts: unchanged lines with "  ", removed
// with "- " and added with "+ ", by a longest common subsequence.
func Diff(from, to string) string {
	a, b := lines(from), lines(to)
	// lcs[i][j] is the common length of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			sb.WriteString("  " + a[i] + "\n")
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			sb.WriteString("+ " + b[j] + "\n")
			j++
		default:
			sb.WriteString("- " + a[i] + "\n")
			i++
		}
	}
	return sb.String()
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
