package spec

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// SourceEnvPrefix starts the environment variables a postgres source's url
// may name, as ${SLUICE_SOURCE_ORDERS_URL}. The spec (stored, and shown in
// every run's history) holds the name; the environment of the worker that
// runs the query holds the secret. Only this prefix is expanded, so a spec
// cannot send a worker's other variables (its S3 keys, say) to a server.
const SourceEnvPrefix = "SLUICE_SOURCE_"

var envRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// ExpandSourceURL replaces the ${SLUICE_SOURCE_…} references in a postgres
// source's url with the worker's environment. An unset variable is an
// error that names it.
func ExpandSourceURL(raw string) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(raw, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		v, ok := os.LookupEnv(name)
		if !ok || !strings.HasPrefix(name, SourceEnvPrefix) {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("the source's url names %s, which this worker's environment does not set (only %s* variables are read)",
			strings.Join(missing, ", "), SourceEnvPrefix)
	}
	return out, nil
}

// sourceURLProblem says what is wrong with a postgres source's url: a
// reference to a variable without the prefix, or a password written in the
// spec.
func sourceURLProblem(raw string) string {
	for _, m := range envRef.FindAllStringSubmatch(raw, -1) {
		if !strings.HasPrefix(m[1], SourceEnvPrefix) || len(m[1]) == len(SourceEnvPrefix) {
			return fmt.Sprintf("${%s}: only ${%s<NAME>} variables are expanded", m[1], SourceEnvPrefix)
		}
	}
	literal := envRef.ReplaceAllString(raw, "")
	hint := "specs are stored and shown in run histories: write the url (or the password) as ${" + SourceEnvPrefix + "<NAME>}, set on the workers, or use PGPASSWORD or ~/.pgpass there"
	if u, err := url.Parse(literal); err == nil && u.User != nil {
		if pw, _ := u.User.Password(); pw != "" {
			return "holds a password; " + hint
		}
	}
	if q, err := url.Parse(literal); err == nil && q.Query().Get("password") != "" {
		return "holds a password; " + hint
	}
	for _, kv := range strings.Fields(literal) {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(strings.TrimSpace(k), "password") && v != "" {
			return "holds a password; " + hint
		}
	}
	return ""
}
