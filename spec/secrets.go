package spec

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
)

// SourceEnvPrefix starts the environment variables a postgres source's url
// may name: source orders names ${SLUICE_SOURCE_ORDERS_URL} or
// ${SLUICE_SOURCE_ORDERS_PASSWORD}. The spec (stored, and shown in every
// run's history) holds the name; the environment of the worker that runs
// the query holds the secret. Only a source's own variables are expanded,
// so a spec can send neither a worker's other variables (its S3 keys, say)
// nor another source's secrets to a server it chooses.
const SourceEnvPrefix = "SLUICE_SOURCE_"

var envRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// sourceVarPart is what follows SLUICE_SOURCE_<NAME>_: one word without
// an underscore, so that no variable belongs to two sources (orders may not
// name SLUICE_SOURCE_ORDERS_DB_URL, which is source orders_db's).
var sourceVarPart = regexp.MustCompile(`^[A-Z0-9]+$`)

// SourceVariable says whether a source (its name, without the project)
// may read the environment variable.
func SourceVariable(source, variable string) bool {
	part, ok := strings.CutPrefix(variable, SourceEnvPrefix+strings.ToUpper(source)+"_")
	return ok && source != "" && sourceVarPart.MatchString(part)
}

// ExpandSourceURL replaces the ${SLUICE_SOURCE_<NAME>_…} references in the
// url of the postgres source (its name, without the project) with the
// worker's environment. A variable of another source, and an unset or
// empty one, is an error that names it. Values are pasted as they are: a
// variable used inside a URL must hold URL-encoded text.
func ExpandSourceURL(source, raw string) (string, error) {
	var foreign, missing []string
	out := envRef.ReplaceAllStringFunc(raw, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		if !SourceVariable(source, name) {
			foreign = append(foreign, name)
			return ""
		}
		v := os.Getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	})
	if len(foreign) > 0 {
		return "", fmt.Errorf("the source's url names %s: source %s reads only ${%s%s_<WORD>}", strings.Join(foreign, ", "), source, SourceEnvPrefix, strings.ToUpper(source))
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("the source's url names %s, which this worker's environment does not set (or sets empty)", strings.Join(missing, ", "))
	}
	return out, nil
}

// keywordPassword finds a password in libpq's key=value form, in a URL's
// query (password=, sslpassword=), spaces around the = allowed.
var keywordPassword = regexp.MustCompile(`(?i)(^|[\s?&])(ssl)?password\s*=\s*('[^']+'|[^\s&']+)`)

// sourceURLProblem says what is wrong with a postgres source's url: a
// reference to a variable that is not the source's own, or a password
// written in the spec.
func sourceURLProblem(source, raw string) string {
	for _, m := range envRef.FindAllStringSubmatch(raw, -1) {
		if !SourceVariable(source, m[1]) {
			return fmt.Sprintf("${%s}: source %s may name only its own variables, ${%s%s_<WORD>} (URL, PASSWORD, …)", m[1], source, SourceEnvPrefix, strings.ToUpper(source))
		}
	}
	literal := envRef.ReplaceAllString(raw, "")
	if len(passwordSpans(literal)) > 0 || urlHasPassword(literal) {
		return "holds a password; specs are stored and shown in run histories: write the url (or the password) as ${" + SourceEnvPrefix +
			strings.ToUpper(source) + "_URL} (or _PASSWORD), set on the workers, or use PGPASSWORD or ~/.pgpass there"
	}
	return ""
}

// urlHasPassword reads a postgres URL as pgx does (net/url, so
// percent-encoded keys such as pass%77ord decode first) and says whether
// it carries a password: in its userinfo or as a query parameter.
func urlHasPassword(raw string) bool {
	lower := strings.ToLower(raw)
	if !strings.HasPrefix(lower, "postgres://") && !strings.HasPrefix(lower, "postgresql://") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false // pgx cannot read it either; passwordSpans reads it by hand
	}
	// (A password that was all ${…} references is empty here.)
	if p, _ := u.User.Password(); p != "" {
		return true
	}
	for k, vs := range u.Query() {
		if k = strings.ToLower(k); (k == "password" || k == "sslpassword") && slices.ContainsFunc(vs, func(v string) bool { return v != "" }) {
			return true
		}
	}
	return false
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

// SecretEnvPrefix starts the environment variables an alert webhook may
// name, as ${SLUICE_SECRET_SLACK_WEBHOOK}: a Slack webhook URL is a bearer
// secret, so the spec, the run histories and the alert records hold the
// name, and only the delivering worker reads the value.
const SecretEnvPrefix = "SLUICE_SECRET_"

var secretName = regexp.MustCompile(`^` + SecretEnvPrefix + `[A-Z0-9_]+$`)

// webhookProblem says what is wrong with an alert webhook: a reference
// to a variable that is not a SLUICE_SECRET_*, or what is left that is not
// an http(s) URL.
func webhookProblem(raw string) string {
	for _, m := range envRef.FindAllStringSubmatch(raw, -1) {
		if !secretName.MatchString(m[1]) {
			return fmt.Sprintf("${%s}: a webhook names only ${%s<NAME>} variables", m[1], SecretEnvPrefix)
		}
	}
	if strings.HasPrefix(raw, "${") || strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		return ""
	}
	return fmt.Sprintf("want an http:// or https:// URL, or ${%s<NAME>} holding one; got %.64q", SecretEnvPrefix, raw)
}

// ExpandSecrets replaces the ${SLUICE_SECRET_<NAME>} references in raw
// with the environment, and returns the values pasted too, for Redact. An
// unset or empty variable, or one of another kind, is an error that names
// it.
func ExpandSecrets(raw string) (string, []string, error) {
	var bad, values []string
	out := envRef.ReplaceAllStringFunc(raw, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		// (A secret mounted from a file often ends in a line break.)
		v := strings.TrimSpace(os.Getenv(name))
		if !secretName.MatchString(name) || v == "" {
			bad = append(bad, name)
			return ""
		}
		values = append(values, v)
		return v
	})
	if len(bad) > 0 {
		return "", nil, fmt.Errorf("%s: not set (or empty) in this worker's environment, or not a %s* variable", strings.Join(bad, ", "), SecretEnvPrefix)
	}
	return out, values, nil
}

// RedactURL shortens a URL to its scheme and host: webhook paths and
// queries carry tokens.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "****"
	}
	return u.Scheme + "://" + u.Host + "/****"
}

// Redact hides, in a message, a URL (by RedactURL) and each secret value.
func Redact(msg, rawURL string, secrets []string) string {
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, RedactURL(rawURL))
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "****")
		}
	}
	return msg
}
