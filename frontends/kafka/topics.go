package kafka

import (
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"strata/logstore"
)

// topicIDCache maps topic ids (Fetch v13+, Metadata v10+, DeleteTopics v6)
// to names. The store's catalogue gives every topic a random 16-byte id at
// creation; this cache is rebuilt from Store.Topics when an id is missing,
// and an entry is checked against the store on each use, so a topic
// deleted and re-created under the same name is never confused with the
// old one.
type topicIDCache struct {
	store *logstore.Store
	mu    struct {
		sync.Mutex
		byID map[[16]byte]string
	}
}

func newTopicIDCache(store *logstore.Store) *topicIDCache {
	c := &topicIDCache{store: store}
	c.mu.byID = map[[16]byte]string{}
	return c
}

// name returns the topic with id, or false.
func (c *topicIDCache) name(id [16]byte) (string, bool) {
	c.mu.Lock()
	name, ok := c.mu.byID[id]
	c.mu.Unlock()
	if ok {
		if ti, err := c.store.Topic(name); err == nil && ti.ID == id {
			return name, true
		}
	}
	byID := map[[16]byte]string{}
	for _, t := range c.store.Topics() {
		byID[t.ID] = t.Name
	}
	c.mu.Lock()
	c.mu.byID = byID
	c.mu.Unlock()
	name, ok = byID[id]
	return name, ok
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
