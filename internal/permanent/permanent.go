// Package permanent marks errors that no retry can fix: bad input, a
// source whose schema drifted, too many rejected rows, a failed
// data-quality check. Domain packages return them without knowing who
// retries; the Temporal face (package activities) turns them into
// non-retryable application errors of the same kind, and the HTTP API
// into 4xx answers.
package permanent

import (
	"errors"
	"fmt"
)

// Kinds of permanent failure. They are the error types workflows name in
// their retry policies and that show in Temporal, so they never change.
const (
	BadInput       = "BadInput"
	RejectRatio    = "RejectRatioExceeded"
	SchemaMismatch = "SchemaDrift"
	Quality        = "QualityCheckFailed"
)

// Error is a failure of a Kind that retrying cannot fix. Its message is
// the wrapped error's, or Msg when set.
type Error struct {
	Kind string
	Msg  string
	Err  error
	// Details travel with the error to whoever reads it (the quality
	// checks' results, say).
	Details []any
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Kind
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf is a permanent failure of kind with a formatted message; %w
// wraps as fmt.Errorf does.
func Errorf(kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap marks err as a permanent failure of kind, keeping its message.
// A nil err stays nil.
func Wrap(kind string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// WrapIf marks err as a permanent failure of kind when it is target (as
// errors.Is sees it), and returns it unchanged otherwise.
func WrapIf(kind string, err, target error) error {
	if errors.Is(err, target) {
		return Wrap(kind, err)
	}
	return err
}

// As finds the permanent failure in err's chain.
func As(err error) (*Error, bool) {
	var p *Error
	ok := errors.As(err, &p)
	return p, ok
}
