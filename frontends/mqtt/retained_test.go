package mqtt

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestRetainedTreeMatchesFilter holds the retained tree to matchFilter
// over random topics, filters, replacements and removals.
func TestRetainedTreeMatchesFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "$SYS", "", "c"}
	randTopic := func() string {
		n := 1 + rng.IntN(4)
		l := make([]string, n)
		for i := range l {
			l[i] = words[rng.IntN(len(words))]
		}
		return strings.Join(l, "/")
	}
	randFilter := func() string {
		n := 1 + rng.IntN(4)
		l := make([]string, n)
		for i := range l {
			switch rng.IntN(4) {
			case 0:
				l[i] = "+"
			default:
				l[i] = words[rng.IntN(len(words))]
			}
		}
		if rng.IntN(3) == 0 {
			l[n-1] = "#"
		}
		return strings.Join(l, "/")
	}
	r := newRetainedSet()
	want := map[string]*Message{}
	for range 3000 {
		topic := randTopic()
		if rng.IntN(4) == 0 {
			r.remove(topic)
			delete(want, topic)
		} else {
			m := &Message{Topic: topic, Payload: []byte("x")}
			r.set(m)
			want[topic] = m
		}
		if r.count() != len(want) {
			t.Fatalf("count %d, want %d", r.count(), len(want))
		}
		f := randFilter()
		var got, exp []string
		for _, m := range r.match(f) {
			got = append(got, m.Topic)
		}
		for topic := range want {
			if matchFilter(f, topic) {
				exp = append(exp, topic)
			}
		}
		slices.Sort(got)
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Fatalf("filter %q: tree %q, matchFilter %q", f, got, exp)
		}
	}
}
