package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchKafka runs `strata bench kafka produce` small, with every
// reference, and checks the report has each row.
func TestBenchKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	c := kafkaBenchConfig{mode: "produce", records: 2000, recordSize: 1024, partitions: 8, dir: t.TempDir()}
	if err := runKafkaBench(ctx, c, &out); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"strata ", "log engine append", "loopback TCP", "kfake (in-memory)"} {
		if !strings.Contains(out.String(), row) {
			t.Fatalf("no %q row in:\n%s", row, out.String())
		}
	}
}
