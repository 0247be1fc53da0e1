package cache

// BlockRef names one block: the Index-th BlockSize-aligned range of the
// object at Key.
type BlockRef struct {
	Key   string
	Index int64
}

// numBlocks is the number of blocks of an object of size bytes.
func numBlocks(size, bs int64) int64 {
	if size <= 0 {
		return 0
	}
	return (size + bs - 1) / bs
}

// blockLen is the length of block idx of an object of size bytes: bs, or
// less for the last block, or 0 past the end.
func blockLen(size, bs, idx int64) int64 {
	start := idx * bs
	if idx < 0 || start >= size {
		return 0
	}
	return min(bs, size-start)
}

// blockSpan returns the blocks [first, last] that cover n bytes at off of an
// object of size bytes, after clamping n to the object's end; ok is false
// when nothing is to be read (n <= 0 or off at or past the end).
func blockSpan(off, n, size, bs int64) (first, last, clamped int64, ok bool) {
	if off < 0 || n <= 0 || off >= size {
		return 0, 0, 0, false
	}
	clamped = min(n, size-off)
	return off / bs, (off + clamped - 1) / bs, clamped, true
}
