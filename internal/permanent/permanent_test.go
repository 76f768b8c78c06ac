package permanent

import (
	"errors"
	"fmt"
	"testing"
)

var errSentinel = errors.New("the cause")

func TestKindsTravelThroughWrapping(t *testing.T) {
	for _, c := range []struct {
		name     string
		err      error
		kind     string // "" when not permanent
		msg      string
		isCause  bool
		nilInput bool
	}{
		{"Errorf", Errorf(BadInput, "a %s", "message"), BadInput, "a message", false, false},
		{"Errorf wraps %w", Errorf(SchemaMismatch, "reading: %w", errSentinel), SchemaMismatch, "reading: the cause", true, false},
		{"Wrap keeps the message", Wrap(Quality, errSentinel), Quality, "the cause", true, false},
		{"wrapped again by a caller", fmt.Errorf("trial 3: %w", Wrap(BadInput, errSentinel)), BadInput, "trial 3: the cause", true, false},
		{"WrapIf on its target", WrapIf(BadInput, fmt.Errorf("x: %w", errSentinel), errSentinel), BadInput, "x: the cause", true, false},
		{"WrapIf elsewhere", WrapIf(BadInput, errors.New("timeout"), errSentinel), "", "timeout", false, false},
		{"Wrap of nil", Wrap(BadInput, nil), "", "", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.nilInput {
				if c.err != nil {
					t.Fatalf("Wrap(nil) = %v", c.err)
				}
				return
			}
			switch p, ok := As(c.err); {
			case ok && p.Kind != c.kind:
				t.Errorf("kind %q, want %q", p.Kind, c.kind)
			case !ok && c.kind != "":
				t.Errorf("not permanent, want kind %q", c.kind)
			}
			if c.err.Error() != c.msg {
				t.Errorf("message %q, want %q", c.err.Error(), c.msg)
			}
			if errors.Is(c.err, errSentinel) != c.isCause {
				t.Errorf("errors.Is(cause) = %v", !c.isCause)
			}
		})
	}
}
