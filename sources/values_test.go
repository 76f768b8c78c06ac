package sources

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// The fast paths must accept exactly what strconv and time.Parse accept,
// with the same values.

func TestParseInt64MatchesStrconv(t *testing.T) {
	cases := []string{"0", "-0", "+7", "42", "-9223372036854775808", "9223372036854775807", "9223372036854775808",
		"123456789012345678", "1234567890123456789", "", "-", "+", "1a", "0x10", "1_000", " 1", "١"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		cases = append(cases, strconv.FormatInt(r.Int64()>>r.IntN(63), 10), strconv.FormatInt(-r.Int64()>>r.IntN(63), 10))
	}
	for _, c := range cases {
		want, err := strconv.ParseInt(c, 10, 64)
		got, ok := parseInt64([]byte(c))
		if ok != (err == nil) || (ok && got != want) {
			t.Errorf("parseInt64(%q) = %d, %v; strconv says %d, %v", c, got, ok, want, err)
		}
	}
}

func TestParseFloat64MatchesStrconv(t *testing.T) {
	cases := []string{"0", "-0", "1.", ".5", ".", "-.5", "+1.25", "123456789012345", "1234567890123456", "0.1", "0.3",
		"3.14159265358979", "1e5", "1E-3", "NaN", "Inf", "-inf", "abc", "1.2.3", "", "-", "99999999999999.9", "0.000000000000001"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		v := (r.Float64() - 0.5) * float64(int64(1)<<r.IntN(50))
		cases = append(cases, strconv.FormatFloat(v, 'f', r.IntN(16), 64))
	}
	for _, c := range cases {
		want, err := strconv.ParseFloat(c, 64)
		got, ok := parseFloat64([]byte(c))
		if ok != (err == nil) || (ok && got != want && !(got != got && want != want)) {
			t.Errorf("parseFloat64(%q) = %v, %v; strconv says %v, %v", c, got, ok, want, err)
		}
	}
}

func TestParseTimestampMatchesTimeParse(t *testing.T) {
	cases := []string{"2026-11-01", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00+02:00", "2026-11-01 10:00:00", "2026-11-01T10:00:00",
		"2026-11-01 10:00:00.123456", "2026-11-01T10:00:00.123456789Z", "2026-11-01T10:00:00.1-05:30", "2024-02-29T00:00:00Z",
		"2023-02-29T00:00:00Z", "2026-13-01", "2026-11-31", "2026-11-01T24:00:00Z", "2026-11-01T10:60:00Z", "2026-11-01T10:00:60Z",
		"2026-11-01T10:00:00+0200", "2026-11-01T10:00:00z", "2026-11-01T10:00:00.Z", "1969-12-31T23:59:59.5Z", "0001-01-01T00:00:00Z",
		"2026-11-01T10:00:00+24:00", "2026-1-01", "yesterday", "2026-11-01T10:00:00.1234567891Z", "2026-11-01 10:00:00+02:00"}
	r := rand.New(rand.NewPCG(5, 6))
	layouts := []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02", "2006-01-02T15:04:05.000-07:00"}
	for range 3000 {
		tm := time.Unix(r.Int64N(4e10)-2e10, r.Int64N(1e9)).In(time.FixedZone("", (r.IntN(48)-24)*1800))
		cases = append(cases, tm.Format(layouts[r.IntN(len(layouts))]))
	}
	for _, c := range cases {
		want, wok := parseTime(c)
		got, ok := parseTimestamp([]byte(c))
		if ok != wok || (ok && got != want.UnixMicro()) {
			t.Errorf("parseTimestamp(%q) = %d, %v; time.Parse says %d, %v", c, got, ok, want.UnixMicro(), wok)
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int32
		ok   bool
	}{{"1970-01-01", 0, true}, {"2026-11-27", int32(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).Unix() / 86400), true},
		{"1969-12-31", -1, true}, {"2026-02-29", 0, false}, {"2026-11-27T00:00:00Z", 0, false}, {"27/11/2026", 0, false}} {
		got, ok := parseDate([]byte(c.in))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseDate(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "TRUE": true, "True": true, "tRuE": true, "t": true, "T": true, "1": true,
		"false": false, "FALSE": false, "fAlSe": false, "f": false, "F": false, "0": false} {
		if got, ok := parseBool([]byte(in)); !ok || got != want {
			t.Errorf("parseBool(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"yes", "", "truee", "2", "tr"} {
		if _, ok := parseBool([]byte(in)); ok {
			t.Errorf("parseBool(%q) accepted", in)
		}
	}
}
