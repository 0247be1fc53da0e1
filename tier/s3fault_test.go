package tier

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"strata/internal/faultproxy"
)

// s3BehindProxy returns an S3 store that reaches the real test server
// through a fault-injecting TCP proxy.
func s3BehindProxy(t *testing.T) (*S3, *faultproxy.Proxy) {
	t.Helper()
	env := testS3Env(t)
	u, err := url.Parse(env.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	st := newTestS3(t, func(o *S3Options) {
		o.Endpoint = p.URL()
		o.HTTPTimeout = 2 * time.Second
	})
	return st, p
}

// TestS3Faults drives the S3 store with WithRetry against the real server
// through the proxy: slow, failing (cut connections), down then back.
func TestS3Faults(t *testing.T) {
	ctx := context.Background()
	data := randBytes(11, 3<<20)

	t.Run("Slow", func(t *testing.T) {
		st, p := s3BehindProxy(t)
		r := WithRetry(st, fastRetry(3))
		small := data[:100<<10]
		mustPut(t, r, "k", small)
		p.SetDelay(20 * time.Millisecond)
		start := time.Now()
		got, err := readObject(ctx, r, "k", 0, -1)
		if err != nil || !bytes.Equal(got, small) {
			t.Fatalf("slow get: %v", err)
		}
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Fatalf("delay not applied: %v", d)
		}
	})

	t.Run("StalledAttemptTimesOut", func(t *testing.T) {
		st, p := s3BehindProxy(t)
		mustPut(t, st, "k", data[:1000])
		p.SetDelay(time.Second)
		r := WithRetry(st, RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Timeout: 200 * time.Millisecond})
		start := time.Now()
		_, err := r.Head(ctx, "k")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("stalled head: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("two 200 ms attempts took %v", d)
		}
		p.SetDelay(0)
		if _, err := r.Head(ctx, "k"); err != nil {
			t.Fatalf("after the stall: %v", err)
		}
	})

	t.Run("CutMidBody", func(t *testing.T) {
		st, p := s3BehindProxy(t)
		r := WithRetry(st, fastRetry(5))
		mustPut(t, r, "k", data)
		for _, c := range []struct{ off, length int64 }{{0, -1}, {100, 2 << 20}} {
			rc, err := r.Get(ctx, "k", c.off, c.length)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 256<<10)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatal(err)
			}
			before := p.Accepted()
			p.CutAll()
			rest, err := io.ReadAll(rc)
			rc.Close()
			got := append(head, rest...)
			end := int64(len(data))
			if c.length >= 0 {
				end = c.off + c.length
			}
			if err != nil || !bytes.Equal(got, data[c.off:end]) {
				t.Fatalf("get(%d, %d) across a cut: %d bytes, %v", c.off, c.length, len(got), err)
			}
			if p.Accepted() == before {
				t.Fatal("the body was not fetched again on a new connection")
			}
		}
		// Without WithRetry, the cut surfaces as ErrUnavailable.
		rc, err := st.Get(ctx, "k", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(rc, make([]byte, 1<<10))
		p.CutAll()
		_, err = io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("bare store, cut body: %v", err)
		}
	})

	t.Run("DownThenBack", func(t *testing.T) {
		st, p := s3BehindProxy(t)
		mustPut(t, st, "k", data)
		p.Refuse()
		if _, err := st.Head(ctx, "k"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("bare head while down: %v", err)
		}
		r := WithRetry(st, RetryOptions{MaxAttempts: 100, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, Timeout: 2 * time.Second})
		time.AfterFunc(300*time.Millisecond, func() {
			if err := p.Heal(); err != nil {
				t.Error(err)
			}
		})
		start := time.Now()
		big := randBytes(12, 12<<20) // multipart at 5 MiB parts
		if err := r.Put(ctx, "big", bytes.NewReader(big), int64(len(big))); err != nil {
			t.Fatalf("put across an outage: %v", err)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("put succeeded after %v while the server was unreachable", d)
		}
		got, err := readObject(ctx, r, "big", 0, -1)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("read back: %v", err)
		}
		if got, err := readObject(ctx, r, "k", 0, -1); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("old object: %v", err)
		}
	})
}
