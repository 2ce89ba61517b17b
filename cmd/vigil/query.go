package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigilsec/vigil/storage"
)

// maxCell caps the characters of one table cell; longer values end in "…".
const maxCell = 80

// runQuery runs one read-only SQL statement on the store and prints the
// rows as an aligned table or as JSON objects, one per line.
func runQuery(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("query", s.err,
		"usage: vigil query [--store URL] [--format table|json] SQL",
		"SQL is one SELECT statement; several arguments are joined by spaces.")
	storeURL := fl.String("store", defaultStore, "store: duckdb://PATH or clickhouse://host:9000/database")
	format := fl.String("format", "table", "output format: table or json (one object per row)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("--format must be table or json, not %q", *format)
	}
	sql := strings.TrimSpace(strings.Join(fl.Args(), " "))
	if sql == "" {
		fl.Usage()
		return exitError(2)
	}
	st, err := openStore(ctx, *storeURL, true)
	if err != nil {
		return err
	}
	res, err := st.Query(ctx, sql)
	err = errors.Join(err, st.Close())
	if err != nil {
		return err
	}
	if *format == "json" {
		return printJSONRows(s.out, res)
	}
	return printTable(s.out, res)
}

// printTable writes the result as a table with a header line, columns
// padded to their widest cell, and a row count.
func printTable(w io.Writer, res *storage.Result) error {
	cells := make([][]string, 0, len(res.Rows)+1)
	cells = append(cells, res.Columns)
	for _, row := range res.Rows {
		line := make([]string, len(row))
		for i, v := range row {
			line[i] = cell(v)
		}
		cells = append(cells, line)
	}
	widths := make([]int, len(res.Columns))
	for _, line := range cells {
		for i, c := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, line := range cells {
		for i, c := range line {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if i < len(line)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteByte('\n')
	}
	noun := "rows"
	if len(res.Rows) == 1 {
		noun = "row"
	}
	fmt.Fprintf(&b, "(%d %s)\n", len(res.Rows), noun)
	_, err := io.WriteString(w, b.String())
	return err
}

// cell renders one value on one line, at most maxCell characters long.
func cell(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "NULL"
	case string:
		s = v
	case []byte:
		s = string(v)
	case time.Time:
		s = v.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		s = v.String()
	default:
		if b, err := json.Marshal(jsonValue(v)); err == nil && !isScalar(v) {
			s = string(b) // lists and maps
		} else {
			s = fmt.Sprint(v)
		}
	}
	s = terminalSafe(s)
	if utf8.RuneCountInString(s) > maxCell {
		s = string([]rune(s)[:maxCell-1]) + "…"
	}
	return s
}

// terminalSafe returns s on one line and without the characters a
// terminal would act on: control characters (C0 and C1, so no escape
// sequences) become spaces, bidirectional overrides and isolates are
// dropped. Stored logs are attacker-controlled text.
func terminalSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return -1
		}
		return r
	}, s)
}

// isScalar reports numbers and booleans, printed with fmt rather than JSON.
func isScalar(v any) bool {
	switch v.(type) {
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return true
	}
	return false
}

// jsonValue converts what a store returns into something encoding/json
// writes faithfully: times in RFC 3339 UTC, byte strings as text.
func jsonValue(v any) any {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	}
	return v
}

// printJSONRows writes one JSON object per row, keys in column order.
func printJSONRows(w io.Writer, res *storage.Result) error {
	var b strings.Builder
	for _, row := range res.Rows {
		b.Reset()
		b.WriteByte('{')
		for i, v := range row {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(res.Columns[i])
			val, err := json.Marshal(jsonValue(v))
			if err != nil {
				val, _ = json.Marshal(fmt.Sprint(v))
			}
			b.Write(k)
			b.WriteByte(':')
			b.Write(val)
		}
		b.WriteString("}\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}
