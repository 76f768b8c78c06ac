package serving

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
)

// Variant is an alias of a model and its share of the traffic.
type Variant struct {
	Alias  string
	Weight int
}

// Routing splits a model's traffic between aliases, sticky per entity,
// and names an alias to score in the shadow of each request.
type Routing struct {
	Variants []Variant
	// Shadow is scored off the request path and logged, never answered.
	Shadow string
}

// DefaultRouting sends everything to the champion.
func DefaultRouting() Routing { return Routing{Variants: []Variant{{Alias: "champion", Weight: 100}}} }

// ParseRouting reads "champion=90,challenger=10".
func ParseRouting(s string) (Routing, error) {
	var r Routing
	for _, part := range strings.Split(s, ",") {
		alias, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 || alias == "" {
			return r, fmt.Errorf("routing %q: want alias=weight pairs, like champion=90,challenger=10", s)
		}
		r.Variants = append(r.Variants, Variant{Alias: alias, Weight: n})
	}
	if r.total() == 0 {
		return r, fmt.Errorf("routing %q: the weights add up to 0", s)
	}
	return r, nil
}

func (r Routing) total() int {
	t := 0
	for _, v := range r.Variants {
		t += v.Weight
	}
	return t
}

// aliases lists the aliases the routing serves, the shadow's included.
func (r Routing) aliases() []string {
	var out []string
	for _, v := range r.Variants {
		out = append(out, v.Alias)
	}
	if r.Shadow != "" && !slices.Contains(out, r.Shadow) {
		out = append(out, r.Shadow)
	}
	return out
}

var routeSeed = maphash.MakeSeed()

// pick chooses the variant of an entity: a hash of its key against the
// weights, so an entity always gets the same variant. An empty key picks
// by the fallback value.
func (r Routing) pick(key string, fallback uint64) string {
	if len(r.Variants) == 1 {
		return r.Variants[0].Alias
	}
	h := fallback
	if key != "" {
		h = maphash.String(routeSeed, key)
	}
	n := int(h % uint64(r.total()))
	for _, v := range r.Variants {
		if n < v.Weight {
			return v.Alias
		}
		n -= v.Weight
	}
	return r.Variants[len(r.Variants)-1].Alias
}

// ParseRoutes reads per-model routings, "churn:champion=90,challenger=10;
// fraud:champion=100", and shadows, "churn:challenger".
func ParseRoutes(routes, shadows string) (map[string]Routing, error) {
	out := map[string]Routing{}
	for _, part := range strings.Split(routes, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		model, spec, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || model == "" {
			return nil, fmt.Errorf("route %q: want model:alias=weight,alias=weight", part)
		}
		r, err := ParseRouting(spec)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", model, err)
		}
		out[model] = r
	}
	for _, part := range strings.Split(shadows, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		model, alias, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || model == "" || alias == "" {
			return nil, fmt.Errorf("shadow %q: want model:alias", part)
		}
		r, ok := out[model]
		if !ok {
			r = DefaultRouting()
		}
		r.Shadow = alias
		out[model] = r
	}
	return out, nil
}
