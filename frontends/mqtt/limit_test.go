package mqtt

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(2, 3)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if !l.allow("a", t0) {
			t.Fatalf("token %d of the burst refused", i)
		}
	}
	if l.allow("a", t0) {
		t.Fatal("a fourth token at once")
	}
	if !l.allow("b", t0) {
		t.Fatal("another key shares the bucket")
	}
	if !l.allow("a", t0.Add(500*time.Millisecond)) || l.allow("a", t0.Add(500*time.Millisecond)) {
		t.Fatal("half a second at 2/s should give one token")
	}
	l.sweep(t0.Add(time.Second))
	if n := l.size(); n != 1 {
		t.Fatalf("after a second %d buckets, want 1 (b refilled, a not yet)", n)
	}
	l.sweep(t0.Add(10 * time.Second))
	if n := l.size(); n != 0 {
		t.Fatalf("idle buckets kept: %d", n)
	}
	if d := newRateLimiter(0.5, 0); d.burst != 1 {
		t.Fatalf("default burst %v", d.burst)
	}
}
