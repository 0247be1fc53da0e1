package mqtt

// Rate limits: token buckets, one per source address for connections
// (SecurityOptions.ConnectRate: a client has no trusted name before it
// authenticates, and client ids are free to choose) and one per client
// id for PUBLISH packets (SecurityOptions.PublishRate: a reconnect, or a
// takeover, keeps the bucket). A bucket holds up to burst tokens, gains
// rate per second and spends one per connection or publish.
//
// What the core does with a refusal (auth.go, Limiter): a CONNECT gets
// CONNACK 0x9F Connection rate exceeded (3.x: 3, server unavailable); a
// PUBLISH gets DISCONNECT 0x96 Message rate too high (3.x: the connection
// is closed). The maximum number of connections is the core's
// (Options.MaxConnections: CONNACK 0x97 Quota exceeded / 3).
//
// The buckets live in 64 shards (a mutex and a map each), so publishers
// on many cores rarely meet on one lock; the refresh goroutine drops
// buckets that are full again (idle clients cost nothing).

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// AllowConnect implements Limiter: the connect rate of the client's
// source address.
func (s *Security) AllowConnect(c *ClientInfo) bool {
	if s.connects == nil {
		return true
	}
	key := ""
	if ip, ok := addrIP(c.Remote); ok {
		key = ip.String()
	}
	if !s.connects.allow(key, time.Now()) {
		s.stats.connects.Add(1)
		return false
	}
	return true
}

// AllowPublish implements Limiter: the publish rate of the client id.
func (s *Security) AllowPublish(c *ClientInfo, _ string, _ int) bool {
	if s.publishs == nil {
		return true
	}
	if !s.publishs.allow(c.ClientID, time.Now()) {
		s.stats.publishes.Add(1)
		return false
	}
	return true
}

const rateShards = 64

// rateLimiter is a set of token buckets by key.
type rateLimiter struct {
	rate   float64 // tokens per second
	burst  float64 // bucket size
	seed   maphash.Seed
	shards [rateShards]rateShard
}

type rateShard struct {
	mu struct {
		sync.Mutex
		buckets map[string]*bucket
	}
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter: burst 0 = the rate rounded up, at least 1.
func newRateLimiter(rate float64, burst int) *rateLimiter {
	b := float64(burst)
	if burst <= 0 {
		b = math.Max(1, math.Ceil(rate))
	}
	l := &rateLimiter{rate: rate, burst: b, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].mu.buckets = map[string]*bucket{}
	}
	return l
}

// allow spends a token of key's bucket if it has one.
func (l *rateLimiter) allow(key string, now time.Time) bool {
	sh := &l.shards[maphash.String(l.seed, key)%rateShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.mu.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		sh.mu.buckets[key] = b
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops the buckets that have refilled (they would be created full).
func (l *rateLimiter) sweep(now time.Time) {
	if l == nil {
		return
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, b := range sh.mu.buckets {
			if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
				delete(sh.mu.buckets, k)
			}
		}
		sh.mu.Unlock()
	}
}

// size is the number of buckets held (tests).
func (l *rateLimiter) size() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.mu.buckets)
		sh.mu.Unlock()
	}
	return n
}
