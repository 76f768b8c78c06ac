package sources

import (
	"strconv"
	"unsafe"
)

// This file parses text values straight from the bytes of a file. The
// common shapes (plain integers, short decimals, ISO 8601 times) take a
// fast path; anything else goes through strconv and time.Parse, so the
// accepted language is exactly theirs.

// unsafeString views b as a string without copying; the string must not
// outlive b's contents.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isNullBytes(b []byte) bool {
	switch len(b) {
	case 0:
		return true
	case 2:
		return b[0] == 'N' && b[1] == 'A'
	case 4:
		s := unsafeString(b)
		return s == "null" || s == "NULL"
	}
	return false
}

// parseInt64 parses a base-10 integer as strconv.ParseInt does.
func parseInt64(b []byte) (int64, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, i = b[0] == '-', 1
	}
	if i == len(b) || len(b)-i > 18 {
		v, err := strconv.ParseInt(unsafeString(b), 10, 64)
		return v, err == nil
	}
	var v int64
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + int64(d)
	}
	if neg {
		v = -v
	}
	return v, true
}

var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseFloat64 parses a number as strconv.ParseFloat does. Decimals of up
// to 15 digits without an exponent are exact integers divided by an exact
// power of ten, which IEEE division rounds correctly (Clinger's fast
// path); the rest go to strconv.
func parseFloat64(b []byte) (float64, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, i = b[0] == '-', 1
	}
	var mant uint64
	digits, frac := 0, -1
	for ; i < len(b); i++ {
		c := b[i]
		if d := c - '0'; d <= 9 {
			mant = mant*10 + uint64(d)
			digits++
			if frac >= 0 {
				frac++
			}
			continue
		}
		if c == '.' && frac < 0 {
			frac = 0
			continue
		}
		digits = 99 // an exponent, NaN, Inf, junk: strconv decides
		break
	}
	if digits == 0 || digits > 15 {
		v, err := strconv.ParseFloat(unsafeString(b), 64)
		return v, err == nil
	}
	v := float64(mant)
	if frac > 0 {
		v /= exactPow10[frac]
	}
	if neg {
		v = -v
	}
	return v, true
}

// parseBool accepts what strconv.ParseBool accepts, in any letter case.
func parseBool(b []byte) (v, ok bool) {
	switch len(b) {
	case 1:
		switch b[0] {
		case '1', 't', 'T':
			return true, true
		case '0', 'f', 'F':
			return false, true
		}
	case 4:
		if (b[0]|0x20) == 't' && (b[1]|0x20) == 'r' && (b[2]|0x20) == 'u' && (b[3]|0x20) == 'e' {
			return true, true
		}
	case 5:
		if (b[0]|0x20) == 'f' && (b[1]|0x20) == 'a' && (b[2]|0x20) == 'l' && (b[3]|0x20) == 's' && (b[4]|0x20) == 'e' {
			return false, true
		}
	}
	return false, false
}

// digits reads n ASCII digits at b[i:].
func digits(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + int(d)
	}
	return v, true
}

// daysFromCivil counts days from 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// isoDate reads YYYY-MM-DD at the start of b.
func isoDate(b []byte) (days int64, ok bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(b, 0, 4)
	m, ok2 := digits(b, 5, 2)
	d, ok3 := digits(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// parseDate parses YYYY-MM-DD into days since the epoch.
func parseDate(b []byte) (int32, bool) {
	if len(b) != 10 {
		return 0, false
	}
	d, ok := isoDate(b)
	return int32(d), ok
}

// parseTimestamp parses a time in one of timeLayouts into microseconds
// since the epoch, UTC. ISO 8601 shapes take the fast path.
func parseTimestamp(b []byte) (int64, bool) {
	if us, ok := isoTimestamp(b); ok {
		return us, true
	}
	t, ok := parseTime(unsafeString(b))
	if !ok {
		return 0, false
	}
	return t.UnixMicro(), true
}

// isoTimestamp reads YYYY-MM-DD, optionally followed by [T ]HH:MM:SS, an
// optional fraction of up to 9 digits and an optional Z or ±HH:MM zone.
// It says no to anything else, which parseTime then decides.
func isoTimestamp(b []byte) (int64, bool) {
	days, ok := isoDate(b)
	if !ok {
		return 0, false
	}
	if len(b) == 10 {
		return days * 86_400_000_000, true
	}
	if len(b) < 19 || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	h, ok1 := digits(b, 11, 2)
	mi, ok2 := digits(b, 14, 2)
	s, ok3 := digits(b, 17, 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 59 {
		return 0, false
	}
	i, nanos := 19, 0
	if i < len(b) && b[i] == '.' {
		n := 0
		for i++; i < len(b) && b[i]-'0' <= 9; i++ {
			if n++; n > 9 {
				return 0, false
			}
			nanos = nanos*10 + int(b[i]-'0')
		}
		if n == 0 {
			return 0, false
		}
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	offset := 0
	switch {
	case i == len(b):
	case b[i] == 'Z' && i+1 == len(b):
	case (b[i] == '+' || b[i] == '-') && i+6 == len(b) && b[i+3] == ':':
		oh, ok1 := digits(b, i+1, 2)
		om, ok2 := digits(b, i+4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if b[i] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := days*86_400 + int64(h*3600+mi*60+s-offset)
	return secs*1_000_000 + int64(nanos/1000), true
}
