package kafka

import (
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"strata/logstore"
)

// topicIDCache maps topic ids (Fetch v13+, Metadata v10+, DeleteTopics v6)
// to names and back. The store's catalogue gives every topic a random
// 16-byte id at creation. An entry remembers the Log of the topic's
// partition 0 when it was made: a topic deleted and re-created under the
// same name has new Logs, so a cheap Store.Partition compares tell a
// stale entry from a live one (Store.Topic would also gather every
// partition's stats). A missing or stale entry rebuilds the cache from
// Store.Topics.
type topicIDCache struct {
	store *logstore.Store
	mu    struct {
		sync.Mutex
		byID   map[[16]byte]topicIDEntry
		byName map[string]topicIDEntry
	}
}

type topicIDEntry struct {
	name string
	id   [16]byte
	log0 logstore.Log
}

func newTopicIDCache(store *logstore.Store) *topicIDCache {
	c := &topicIDCache{store: store}
	c.mu.byID = map[[16]byte]topicIDEntry{}
	c.mu.byName = map[string]topicIDEntry{}
	return c
}

// live reports whether e still describes the topic of its name.
func (c *topicIDCache) live(e topicIDEntry) bool {
	l, err := c.store.Partition(e.name, 0)
	return err == nil && l == e.log0
}

func (c *topicIDCache) rebuild() {
	byID := map[[16]byte]topicIDEntry{}
	byName := map[string]topicIDEntry{}
	for _, t := range c.store.Topics() {
		l, err := c.store.Partition(t.Name, 0)
		if err != nil {
			continue
		}
		e := topicIDEntry{name: t.Name, id: t.ID, log0: l}
		byID[t.ID], byName[t.Name] = e, e
	}
	c.mu.Lock()
	c.mu.byID, c.mu.byName = byID, byName
	c.mu.Unlock()
}

// lookup finds an entry with get, rebuilding the cache once if it is
// missing or stale.
func (c *topicIDCache) lookup(get func() (topicIDEntry, bool)) (topicIDEntry, bool) {
	c.mu.Lock()
	e, ok := get()
	c.mu.Unlock()
	if ok && c.live(e) {
		return e, true
	}
	c.rebuild()
	c.mu.Lock()
	e, ok = get()
	c.mu.Unlock()
	return e, ok
}

// name returns the topic with id, or false.
func (c *topicIDCache) name(id [16]byte) (string, bool) {
	e, ok := c.lookup(func() (topicIDEntry, bool) { e, ok := c.mu.byID[id]; return e, ok })
	return e.name, ok
}

// id returns the id of the topic named name, or false.
func (c *topicIDCache) id(name string) ([16]byte, bool) {
	e, ok := c.lookup(func() (topicIDEntry, bool) { e, ok := c.mu.byName[name]; return e, ok })
	return e.id, ok
}

// errorCode maps a logstore error to the Kafka error code a response
// carries. nil is 0.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, logstore.ErrUnknownTopic), errors.Is(err, logstore.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, logstore.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, logstore.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, logstore.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, logstore.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, logstore.ErrInvalidBatch), errors.Is(err, logstore.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, logstore.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, logstore.ErrNotBatchBoundary), errors.Is(err, errInvalidTimestamp):
		return kerr.InvalidRequest.Code
	case errors.Is(err, logstore.ErrClosed):
		// Deleted (or the store closing) under the request.
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, logstore.ErrQueueFull):
		return kerr.RequestTimedOut.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

// errorMessage is err's text for responses that carry one, nil for nil.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
