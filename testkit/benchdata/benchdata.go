// Package benchdata writes the synthetic files the ingestion benchmarks
// read.
package benchdata

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/sluice-ml/sluice/sources"
)

// WideCSV writes rows × 20 columns, deterministically: an id, an event
// time that rises by half a second a row (5M rows span about 29 days), 12
// numbers with two decimals from a seeded generator, 4 categorical
// strings and 2 booleans.
func WideCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("id,ts")
	for i := range 12 {
		fmt.Fprintf(w, ",n%d", i)
	}
	w.WriteString(",plan,region,device,country,active,churned\n")
	plans := []string{"basic", "pro", "max"}
	devices := []string{"ios", "android", "web", "desktop"}
	countries := []string{"US", "DE", "FR", "GB", "IN", "BR", "JP", "NG", "MX", "CA"}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	state := uint64(42)
	next := func() uint64 { // splitmix64
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	var buf []byte
	for r := range rows {
		buf = append(buf[:0], 'C')
		buf = strconv.AppendInt(buf, int64(r), 10)
		buf = append(buf, ',')
		buf = start.Add(time.Duration(r)*500*time.Millisecond).AppendFormat(buf, time.RFC3339)
		for i := range 12 {
			v := next()
			cents := int64(v%(uint64(100_000)<<uint(i%4))) - 1000
			buf = append(buf, ',')
			if cents < 0 {
				buf = append(buf, '-')
				cents = -cents
			}
			buf = strconv.AppendInt(buf, cents/100, 10)
			buf = append(buf, '.', byte('0'+cents/10%10), byte('0'+cents%10))
		}
		v := next()
		buf = append(buf, ',')
		buf = append(buf, plans[v%3]...)
		buf = append(buf, ",region-"...)
		buf = strconv.AppendInt(buf, int64(v>>8%50), 10)
		buf = append(buf, ',')
		buf = append(buf, devices[v>>16%4]...)
		buf = append(buf, ',')
		buf = append(buf, countries[v>>24%10]...)
		buf = strconv.AppendBool(append(buf, ','), v>>32%3 != 0)
		buf = strconv.AppendBool(append(buf, ','), v>>40%10 == 0)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// ParquetFromCSV writes the rows of a CSV file (types inferred) as a
// zstd-compressed Parquet file.
func ParquetFromCSV(csvPath, pqPath string) error {
	r, err := sources.OpenCSV(csvPath, sources.Options{Key: "id", Timestamp: "ts"})
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(pqPath)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(r.Schema(), f, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	for {
		ch, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if ch.Records != nil {
			err = w.WriteBuffered(ch.Records)
			ch.Records.Release()
			if err != nil {
				return err
			}
		}
	}
	return w.Close()
}
