package activities

import (
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-ml/sluice/internal/permanent"
)

// temporalError turns a domain package's permanent failure into a
// non-retryable application error of its kind, with its details; other
// errors pass through and are retried.
func temporalError(err error) error {
	p, ok := permanent.As(err)
	if !ok {
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), p.Kind, p.Err, p.Details...)
}
