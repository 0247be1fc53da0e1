package dataset

import (
	"fmt"
	"math/bits"
	"sort"
)

// DefaultWindowShards is how many consecutive shards of the shuffled shard
// order make one window, the unit whose samples are shuffled together. It is
// part of the order's definition: changing it changes every epoch's order.
const DefaultWindowShards = 8

// Order is one epoch's global sample order over a dataset's shards: a
// permutation of every sample, built from (seed, epoch) alone.
//
//  1. The shards with rows are permuted (Fisher-Yates driven by splitmix64
//     seeded from seed and epoch).
//  2. The permuted shards are cut into windows of WindowShards shards.
//  3. Within a window, whose samples are its shards' rows concatenated in
//     permuted order, sample j of the window is row perm_w(j) of that
//     concatenation, where perm_w is a keyed Feistel bijection on [0, n)
//     (cycle-walking) keyed by (seed, epoch, window index).
//
// A global position g in [0, Total()) maps to (shard, row) in O(log windows
// + log window shards) time and no per-sample memory, so orders of datasets
// with billions of samples cost only their shard list.
type Order struct {
	seed, epoch int64
	// shards is the permuted order of the shards (indexes into the
	// dataset's shard list) that have rows.
	shards  []int
	windows []window
	total   int64
}

type window struct {
	first, n int     // shards[first : first+n]
	start    int64   // global position of the window's first sample
	rows     int64   // samples in the window
	offsets  []int64 // offsets[i]: rows of the window's shards before shard i (len n+1)
	perm     feistel
}

// NewOrder builds the order of epoch over shards with the given row counts
// (a shard with no rows takes no part). windowShards < 1 means
// DefaultWindowShards.
func NewOrder(rows []int64, seed, epoch int64, windowShards int) *Order {
	if windowShards < 1 {
		windowShards = DefaultWindowShards
	}
	o := &Order{seed: seed, epoch: epoch}
	for i, r := range rows {
		if r > 0 {
			o.shards = append(o.shards, i)
		}
	}
	rng := newSplitmix(mix(uint64(seed), uint64(epoch), 0x5eed))
	for i := len(o.shards) - 1; i > 0; i-- {
		j := int(rng.below(uint64(i + 1)))
		o.shards[i], o.shards[j] = o.shards[j], o.shards[i]
	}
	for first, wi := 0, 0; first < len(o.shards); first, wi = first+windowShards, wi+1 {
		n := min(windowShards, len(o.shards)-first)
		w := window{first: first, n: n, start: o.total, offsets: make([]int64, n+1)}
		for i := range n {
			w.offsets[i+1] = w.offsets[i] + rows[o.shards[first+i]]
		}
		w.rows = w.offsets[n]
		w.perm = newFeistel(uint64(w.rows), mix(uint64(seed), uint64(epoch), uint64(wi)))
		o.total += w.rows
		o.windows = append(o.windows, w)
	}
	return o
}

// Total is the number of samples in the epoch.
func (o *Order) Total() int64 { return o.total }

// Windows is the number of windows.
func (o *Order) Windows() int { return len(o.windows) }

// Shards returns the permuted shard order (shards with rows only).
func (o *Order) Shards() []int { return o.shards }

// Window returns window wi's shards (in order) and its global start.
func (o *Order) Window(wi int) (shards []int, start, rows int64) {
	w := &o.windows[wi]
	return o.shards[w.first : w.first+w.n], w.start, w.rows
}

// WindowOf returns the window that holds global position g.
func (o *Order) WindowOf(g int64) int {
	return sort.Search(len(o.windows), func(i int) bool { return o.windows[i].start+o.windows[i].rows > g })
}

// Local returns the row, within window wi's concatenated shards, of global
// position g (which must lie in the window).
func (o *Order) Local(wi int, g int64) int64 {
	w := &o.windows[wi]
	return int64(w.perm.at(uint64(g - w.start)))
}

// At maps global position g to (index of the shard in the dataset, row in
// that shard).
func (o *Order) At(g int64) (shard int, row int64) {
	if g < 0 || g >= o.total {
		panic(fmt.Sprintf("dataset: position %d outside [0, %d)", g, o.total))
	}
	wi := o.WindowOf(g)
	w := &o.windows[wi]
	local := o.Local(wi, g)
	i := sort.Search(w.n, func(i int) bool { return w.offsets[i+1] > local })
	return o.shards[w.first+i], local - w.offsets[i]
}

// RankPositions returns how many positions in [from, to) rank of world owns
// (g ≡ rank mod world), and the first one (to when none).
func RankPositions(from, to int64, rank, world int) (first int64, count int64) {
	if from >= to {
		return to, 0
	}
	w, r := int64(world), int64(rank)
	first = from + ((r-from%w)%w+w)%w
	if first >= to {
		return to, 0
	}
	return first, (to-1-first)/w + 1
}

// splitmix is splitmix64: a tiny PRNG whose output is fixed by its
// definition (not by a library version), so orders stay the same across
// Go releases.
type splitmix struct{ s uint64 }

func newSplitmix(seed uint64) *splitmix { return &splitmix{s: seed} }

func (r *splitmix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// below returns a uniform integer in [0, n), n > 0 (Lemire's method with
// rejection).
func (r *splitmix) below(n uint64) uint64 {
	for {
		hi, lo := bits.Mul64(r.next(), n)
		if lo >= n || lo >= -n%n {
			return hi
		}
	}
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func mix(a, b, c uint64) uint64 {
	return mix64(mix64(mix64(a)^b+0x632be59bd9b4e019) ^ c)
}

// feistel is a keyed bijection on [0, n): a 4-round balanced Feistel
// network on the smallest even-bit domain 2^(2h) >= n, walked in cycles
// until the image falls below n (at most 4x expected steps... in practice
// under 4 since the domain is < 4n).
type feistel struct {
	n    uint64
	half uint
	mask uint64
	keys [4]uint64
}

func newFeistel(n, key uint64) feistel {
	f := feistel{n: n}
	b := uint(bits.Len64(max(n, 2) - 1))
	f.half = (b + 1) / 2
	f.mask = 1<<f.half - 1
	for i := range f.keys {
		f.keys[i] = mix(key, uint64(i), 0xfe15e1)
	}
	return f
}

func (f *feistel) round(x uint64) uint64 {
	l, r := x>>f.half, x&f.mask
	for _, k := range f.keys {
		l, r = r, l^(mix64(r^k)&f.mask)
	}
	return l<<f.half | r
}

func (f *feistel) at(i uint64) uint64 {
	if f.n <= 1 {
		return 0
	}
	x := f.round(i)
	for x >= f.n {
		x = f.round(x)
	}
	return x
}
