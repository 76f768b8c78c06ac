package spec

import (
	"fmt"
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
// source's url with the worker's environment. An unset or empty variable is
// an error that names it. Values are pasted as they are: a variable used
// inside a URL must hold URL-encoded text.
func ExpandSourceURL(raw string) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(raw, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		v := os.Getenv(name)
		if v == "" || !strings.HasPrefix(name, SourceEnvPrefix) {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("the source's url names %s, which this worker's environment does not set (only non-empty %s* variables are read)",
			strings.Join(missing, ", "), SourceEnvPrefix)
	}
	return out, nil
}

// keywordPassword finds a password in libpq's key=value form, in a URL's
// query (password=, sslpassword=), spaces around the = allowed.
var keywordPassword = regexp.MustCompile(`(?i)(^|[\s?&])(ssl)?password\s*=\s*('[^']+'|[^\s&']+)`)

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
	const hint = "holds a password; specs are stored and shown in run histories: write the url (or the password) as ${" + SourceEnvPrefix +
		"<NAME>}, set on the workers, or use PGPASSWORD or ~/.pgpass there"
	if keywordPassword.MatchString(literal) {
		return hint
	}
	// URL userinfo, read by hand: url.Parse refuses some passwords (a
	// '#', say) that libpq takes.
	lower := strings.ToLower(literal)
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if !strings.HasPrefix(lower, scheme) {
			continue
		}
		rest := literal[len(scheme):]
		if q := strings.IndexByte(rest, '?'); q >= 0 {
			rest = rest[:q]
		}
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				return hint
			}
		}
	}
	return ""
}
