package tier

import (
	"context"
	"errors"
	"io"
	"time"
)

// ObjectStore is the object tier: flat keys to immutable byte objects.
// Implementations: local directory (the embedded default), S3 (and
// S3-compatible servers), in-memory (tests), and wrappers (retries, faults).
// Every method is safe for concurrent use.
type ObjectStore interface {
	// Put stores the object at key, replacing any object there, and returns
	// once it is durable in the store. size is the exact length of r, or -1
	// when unknown; large objects may be uploaded in parts.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens length bytes of the object at key starting at off; length
	// -1 reads to the end. A range past the end is ErrRange. The caller
	// closes the reader.
	Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Head returns the object's size and metadata.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
	// ETag is the store's opaque version tag ("" if the store has none).
	ETag string
}

// Sentinel errors; implementations wrap them so callers use errors.Is.
var (
	// ErrNotFound: no object at the key.
	ErrNotFound = errors.New("tier: object not found")
	// ErrRange: the requested range starts past the object's end.
	ErrRange = errors.New("tier: range not satisfiable")
	// ErrUnavailable marks a failure worth retrying later (throttling, 5xx,
	// timeouts, connection refused): the store is slow or down, not wrong.
	ErrUnavailable = errors.New("tier: object store unavailable")
	// ErrCorrupt marks an object whose bytes fail a checksum.
	ErrCorrupt = errors.New("tier: corrupt object")
	// ErrInvalidKey: the key breaks the naming rules of ValidateKey.
	ErrInvalidKey = errors.New("tier: invalid key")
)
