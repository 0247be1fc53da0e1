package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomShape draws a dataset shape: up to 40 shards of 0..300 rows (some
// empty, some single-row), and a window size.
func randomShape(r *rand.Rand) (rows []int64, window int) {
	n := 1 + r.IntN(40)
	rows = make([]int64, n)
	for i := range rows {
		switch r.IntN(6) {
		case 0:
			rows[i] = 0
		case 1:
			rows[i] = 1
		default:
			rows[i] = int64(r.IntN(300))
		}
	}
	return rows, 1 + r.IntN(10)
}

type sample struct {
	shard int
	row   int64
}

func epochSamples(o *Order) []sample {
	out := make([]sample, o.Total())
	for g := range o.Total() {
		s, r := o.At(g)
		out[g] = sample{s, r}
	}
	return out
}

// rankSamples is what rank of world reads from cursor: positions ≡ rank
// (mod world), at or after cursor, in order.
func rankSamples(o *Order, cursor int64, rank, world int) []int64 {
	first, n := RankPositions(cursor, o.Total(), rank, world)
	out := make([]int64, 0, n)
	for g := first; g < o.Total(); g += int64(world) {
		out = append(out, g)
	}
	return out
}

func TestOrderIsAPermutation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		rows, win := randomShape(r)
		seed, epoch := r.Int64N(1000), r.Int64N(5)
		o := NewOrder(rows, seed, epoch, win)
		var want int64
		for _, n := range rows {
			want += n
		}
		if o.Total() != want {
			t.Fatalf("iter %d: total %d, want %d", iter, o.Total(), want)
		}
		seen := map[sample]bool{}
		for _, s := range epochSamples(o) {
			if s.row < 0 || s.row >= rows[s.shard] || seen[s] {
				t.Fatalf("iter %d rows %v win %d: sample %v out of range or twice", iter, rows, win, s)
			}
			seen[s] = true
		}
	}
}

func TestOrderDeterministicAndEpochsDiffer(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 100 {
		rows, win := randomShape(r)
		seed := r.Int64()
		a := epochSamples(NewOrder(rows, seed, 0, win))
		b := epochSamples(NewOrder(slices.Clone(rows), seed, 0, win))
		if !slices.Equal(a, b) {
			t.Fatalf("iter %d: the same (seed, epoch) gave two orders", iter)
		}
		if len(a) < 20 {
			continue
		}
		c := epochSamples(NewOrder(rows, seed, 1, win))
		d := epochSamples(NewOrder(rows, seed+1, 0, win))
		if slices.Equal(a, c) || slices.Equal(a, d) {
			t.Fatalf("iter %d: another epoch or seed gave the same order of %d samples", iter, len(a))
		}
	}
}

// TestOrderGolden pins one order: the same (seed, epoch) must give the same
// samples in every process, on every machine and Go release (a training job
// resumed after an upgrade continues the same epoch).
func TestOrderGolden(t *testing.T) {
	o := NewOrder([]int64{3, 0, 5, 2, 7, 1}, 7, 2, 2)
	got := fmt.Sprint(epochSamples(o))
	const want = "[{4 2} {4 1} {3 1} {4 3} {4 0} {3 0} {4 4} {4 6} {4 5} {0 1} {5 0} {0 2} {0 0} {2 3} {2 0} {2 1} {2 2} {2 4}]"
	if got != want {
		t.Fatalf("order changed:\n got %s\nwant %s", got, want)
	}
}

func TestRanksDisjointAndComplete(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := range 100 {
		rows, win := randomShape(r)
		o := NewOrder(rows, r.Int64(), r.Int64N(3), win)
		for _, w := range []int{1, 2, 3, 8} {
			seen := make([]int, o.Total())
			for rank := range w {
				ps := rankSamples(o, 0, rank, w)
				_, n := RankPositions(0, o.Total(), rank, w)
				if int64(len(ps)) != n {
					t.Fatalf("iter %d w %d rank %d: %d positions, RankPositions says %d", iter, w, rank, len(ps), n)
				}
				for _, g := range ps {
					seen[g]++
				}
			}
			for g, n := range seen {
				if n != 1 {
					t.Fatalf("iter %d w %d: position %d read %d times", iter, w, g, n)
				}
			}
		}
	}
}

// TestResumeAnyCursorAnyWorld: a job that consumed the first c samples of
// the epoch and resumes at cursor c with w2 ranks reads exactly the samples
// it had not read, in the same global order.
func TestResumeAnyCursorAnyWorld(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for iter := range 100 {
		rows, win := randomShape(r)
		o := NewOrder(rows, r.Int64(), r.Int64N(3), win)
		all := epochSamples(o)
		for range 5 {
			c := r.Int64N(o.Total() + 1)
			w1, w2 := 1+r.IntN(8), 1+r.IntN(8)
			// before: ranks of w1 read [0, c)
			var before []int64
			for rank := range w1 {
				for _, g := range rankSamples(o, 0, rank, w1) {
					if g < c {
						before = append(before, g)
					}
				}
			}
			var after []int64
			for rank := range w2 {
				after = append(after, rankSamples(o, c, rank, w2)...)
			}
			got := map[sample]int{}
			for _, g := range append(before, after...) {
				got[all[g]]++
			}
			if len(got) != len(all) {
				t.Fatalf("iter %d c %d w %d->%d: %d distinct samples, want %d", iter, c, w1, w2, len(got), len(all))
			}
			for s, n := range got {
				if n != 1 {
					t.Fatalf("iter %d c %d w %d->%d: sample %v read %d times", iter, c, w1, w2, s, n)
				}
			}
			slices.Sort(after)
			for i, g := range after {
				if g != c+int64(i) {
					t.Fatalf("iter %d: resumed positions are not exactly [c, total)", iter)
				}
			}
		}
	}
}

func TestFeistelIsABijection(t *testing.T) {
	for n := uint64(0); n < 300; n++ {
		f := newFeistel(n, n*31+7)
		seen := make([]bool, n)
		for i := range n {
			x := f.at(i)
			if x >= n || seen[x] {
				t.Fatalf("n %d: at(%d) = %d out of range or repeated", n, i, x)
			}
			seen[x] = true
		}
	}
}

func TestRankPositions(t *testing.T) {
	for from := int64(0); from < 20; from++ {
		for to := from; to < 30; to++ {
			for w := 1; w <= 5; w++ {
				for rank := range w {
					var first, n int64 = to, 0
					for g := from; g < to; g++ {
						if g%int64(w) == int64(rank) {
							if n == 0 {
								first = g
							}
							n++
						}
					}
					f, c := RankPositions(from, to, rank, w)
					if f != first || c != n {
						t.Fatalf("RankPositions(%d,%d,%d,%d) = %d,%d want %d,%d", from, to, rank, w, f, c, first, n)
					}
				}
			}
		}
	}
}
