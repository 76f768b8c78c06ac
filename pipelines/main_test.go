package pipelines_test

import (
	"testing"

	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
