package cache

import (
	"bytes"
	"context"
	"testing"

	"strata/tier"
)

// testStore is the tests' object store: tier.Memory behind tier.Faulty, for
// latency, outages and counted requests.
type testStore struct {
	*tier.Faulty
	tb testing.TB
}

func newTestStore(tb testing.TB) *testStore {
	return &testStore{Faulty: tier.NewFaulty(tier.NewMemory()), tb: tb}
}

// set stores b at key, bypassing the faults.
func (s *testStore) set(key string, b []byte) {
	if err := s.Unwrap().Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		s.tb.Fatal(err)
	}
}

// gets counts the store Gets so far.
func (s *testStore) gets() int64 { return s.Requests(tier.OpGet) }
