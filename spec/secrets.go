package spec

import (
	"fmt"
	"os"
	"regexp"
	"slices"
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
	if len(passwordSpans(literal)) > 0 {
		return "holds a password; specs are stored and shown in run histories: write the url (or the password) as ${" + SourceEnvPrefix +
			"<NAME>}, set on the workers, or use PGPASSWORD or ~/.pgpass there"
	}
	return ""
}

// passwordSpans finds where a connection string writes a password: the
// value of password= (or sslpassword=) in libpq's key=value form or a
// URL's query, and a postgres URL's userinfo, read by hand (url.Parse
// refuses some passwords, a '#' say, that libpq takes).
func passwordSpans(raw string) [][2]int {
	var out [][2]int
	for _, m := range keywordPassword.FindAllStringSubmatchIndex(raw, -1) {
		out = append(out, [2]int{m[6], m[7]}) // the value
	}
	lower := strings.ToLower(raw)
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if !strings.HasPrefix(lower, scheme) {
			continue
		}
		rest := raw[len(scheme):]
		if q := strings.IndexByte(rest, '?'); q >= 0 {
			rest = rest[:q]
		}
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if c := strings.IndexByte(rest[:at], ':'); c >= 0 && c+1 < at {
				out = append(out, [2]int{len(scheme) + c + 1, len(scheme) + at})
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
	return out
}

// RedactPassword hides every password a connection string writes (see
// passwordSpans) behind ****, for banners and logs.
func RedactPassword(raw string) string {
	var b strings.Builder
	last := 0
	for _, s := range passwordSpans(raw) {
		if s[0] < last {
			continue
		}
		b.WriteString(raw[last:s[0]])
		b.WriteString("****")
		last = s[1]
	}
	b.WriteString(raw[last:])
	return b.String()
}
