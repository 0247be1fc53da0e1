package logstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// TopicCreator is implemented by a Catalog that several Stores share (the
// meta catalogue, one Store per node). Put cannot tell a create from a
// replace, and with other writers the difference matters: Create fails
// with ErrTopicExists when the name is taken (another node created it
// first), Replace fails with ErrUnknownTopic when the entry is gone or the
// name belongs to another topic ID (another node deleted it). The Store
// uses them when its Catalog has them, and Put otherwise.
type TopicCreator interface {
	Create(TopicMeta) error
	Replace(TopicMeta) error
}

func (s *Store) catalogCreate(m TopicMeta) error {
	if tc, ok := s.catalog.(TopicCreator); ok {
		return tc.Create(m)
	}
	return s.catalog.Put(m)
}

func (s *Store) catalogReplace(m TopicMeta) error {
	if tc, ok := s.catalog.(TopicCreator); ok {
		return tc.Replace(m)
	}
	return s.catalog.Put(m)
}

// Reconcile makes the open topics match the catalogue after another
// writer changed it (a topic created, deleted, altered or grown through
// another node of the cluster):
//
//   - a catalogued topic that is not open is opened (partitions created);
//   - an open topic that is no longer catalogued, or whose name now
//     belongs to another topic ID, is closed and its data removed;
//   - a topic with more partitions opens the new ones, one with fewer
//     (a rolled-back grow) closes and removes the extra ones;
//   - changed config overrides are applied to the open logs.
//
// It holds admin, like every change to the set of topics, so it never
// interleaves with this Store's own CreateTopic or DeleteTopic; it must
// not be called with admin held (from inside a Catalog call). A failure on
// one topic does not stop the others; the errors are joined.
func (s *Store) Reconcile() error {
	s.admin.Lock()
	defer s.admin.Unlock()
	s.mu.RLock()
	closed := s.mu.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	metas, err := s.catalog.Load()
	if err != nil {
		return fmt.Errorf("logstore: reconcile: load catalogue: %w", err)
	}
	want := make(map[string]TopicMeta, len(metas))
	for _, m := range metas {
		want[m.Name] = m
	}
	var errs []error
	for _, t := range s.snapshot() {
		if m, ok := want[t.meta.Name]; ok && m.ID == t.meta.ID && m.Seq == t.meta.Seq {
			continue
		}
		if err := s.reconcileDrop(t); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range metas {
		t, err := s.lookup(m.Name)
		switch {
		case errors.Is(err, ErrUnknownTopic):
			err = s.reconcileOpen(m)
		case err == nil:
			err = s.reconcileChange(t, m)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reconcileDrop closes a topic that the catalogue no longer has and
// removes its data.
func (s *Store) reconcileDrop(t *storeTopic) error {
	s.unpublish(t.meta.Name)
	for _, l := range t.logs {
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Warn("logstore: reconcile: closing a partition of a deleted topic", "topic", t.meta.Name, "err", err)
		}
	}
	if err := s.removeData(t, 0, int32(len(t.logs))); err != nil {
		return fmt.Errorf("logstore: reconcile: remove the data of deleted topic %q: %w", t.meta.Name, err)
	}
	s.log.Info("logstore: reconcile: topic deleted elsewhere; closed and removed", "topic", t.meta.Name)
	return nil
}

// reconcileOpen opens a topic created elsewhere.
func (s *Store) reconcileOpen(m TopicMeta) error {
	cfg, err := ParseTopicConfig(m.Configs)
	if err != nil {
		return fmt.Errorf("logstore: reconcile: topic %q: %w", m.Name, err)
	}
	t := &storeTopic{meta: m, cfg: cfg}
	s.removeStaleDirs(t, 0, m.Partitions)
	t.logs, err = s.openLogs(t, 0, m.Partitions)
	if err != nil {
		s.discardData(t, 0, m.Partitions)
		return fmt.Errorf("logstore: reconcile: %w", err)
	}
	s.publish(t)
	s.log.Info("logstore: reconcile: topic created elsewhere; opened", "topic", m.Name, "partitions", m.Partitions,
		"mode", cfg.Mode, "engine", cfg.Engine)
	return nil
}

// reconcileChange applies a new partition count and config to an open topic.
func (s *Store) reconcileChange(t *storeTopic, m TopicMeta) error {
	if m.Partitions == t.meta.Partitions && maps.Equal(m.Configs, t.meta.Configs) && m.CreatedAt.Equal(t.meta.CreatedAt) {
		return nil
	}
	cfg, err := ParseTopicConfig(m.Configs)
	if err != nil {
		return fmt.Errorf("logstore: reconcile: topic %q: %w", m.Name, err)
	}
	if cfg.Mode != t.cfg.Mode || cfg.Engine != t.cfg.Engine {
		return fmt.Errorf("logstore: reconcile: topic %q: storage changed from %s/%s to %s/%s under the same ID; left as it is",
			m.Name, t.cfg.Mode, t.cfg.Engine, cfg.Mode, cfg.Engine)
	}
	nt := &storeTopic{meta: m, cfg: cfg, logs: slices.Clone(t.logs)}
	old := int32(len(t.logs))
	switch {
	case m.Partitions > old:
		s.removeStaleDirs(nt, old, m.Partitions)
		added, err := s.openLogs(nt, old, m.Partitions)
		if err != nil {
			s.discardData(nt, old, m.Partitions)
			return fmt.Errorf("logstore: reconcile: %w", err)
		}
		nt.logs = append(nt.logs, added...)
	case m.Partitions < old:
		for _, l := range nt.logs[m.Partitions:] {
			if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Warn("logstore: reconcile: closing a removed partition", "topic", m.Name, "err", err)
			}
		}
		nt.logs = nt.logs[:m.Partitions]
		if err := s.removeData(t, m.Partitions, old); err != nil {
			s.log.Warn("logstore: reconcile: removing the data of removed partitions", "topic", m.Name, "err", err)
		}
	}
	s.publish(nt)
	var errs []error
	if !maps.Equal(m.Configs, t.meta.Configs) {
		for p, l := range nt.logs {
			if err := l.Reconfigure(cfg); err != nil {
				errs = append(errs, fmt.Errorf("partition %d: %w", p, err))
			}
		}
	}
	s.log.Info("logstore: reconcile: topic changed elsewhere; applied", "topic", m.Name, "partitions", fmt.Sprintf("%d -> %d", old, m.Partitions))
	if len(errs) > 0 {
		return fmt.Errorf("logstore: reconcile: reconfigure %q: %w", m.Name, errors.Join(errs...))
	}
	return nil
}
