package logstore

// usesPartitionDir reports whether a topic's partitions live in
// <data>/topics/<topic>-<p> (segment logs, and the segment behind a hybrid).
func usesPartitionDir(cfg TopicConfig) bool {
	return cfg.Mode == ModeHybrid || (cfg.Mode != ModeMemory && cfg.Engine == EngineSegment)
}

// openLog opens one partition with the engine its config names:
//
//	memory                  MemoryLog (empty after every restart)
//	hybrid                  HybridLog: a MemoryLog in front of a SegmentLog
//	persistent/tiered, lite a LiteLog in the shared <data>/lite database
//	persistent/tiered       SegmentLog in <data>/topics/<topic>-<p>
//
// It runs with admin held, or from the store-open workers (the lite
// database is opened before them).
func (s *Store) openLog(t *storeTopic, p int32) (Log, error) {
	cfg := t.cfg
	switch {
	case cfg.Mode == ModeMemory:
		return NewMemoryLog(cfg, s.opts.Now), nil
	case cfg.Mode == ModeHybrid:
		return s.openHybrid(t, p)
	case cfg.Engine == EngineLite:
		db, err := s.liteDB()
		if err != nil {
			return nil, err
		}
		return db.OpenLog(t.meta.Seq, p, cfg)
	default:
		return s.openSegment(t, p, cfg)
	}
}

func (s *Store) openSegment(t *storeTopic, p int32, cfg TopicConfig) (*SegmentLog, error) {
	return OpenSegmentLog(SegmentOptions{
		FS:        s.fs,
		Dir:       s.partitionDir(t.meta.Name, p),
		Topic:     t.meta.Name,
		Partition: p,
		Config:    cfg,
		Offloader: s.opts.Offloader,
		Remote:    s.opts.Remote,
		Logger:    s.log,
		Now:       s.opts.Now,
	})
}

// liteDB opens the shared lite database on first use; admin is held.
func (s *Store) liteDB() (*LiteDB, error) {
	if s.lite != nil {
		return s.lite, nil
	}
	db, err := OpenLiteDB(LiteOptions{FS: s.fs, Dir: s.fs.PathJoin(s.opts.Dir, LiteDirName), Logger: s.log, Now: s.opts.Now})
	if err != nil {
		return nil, err
	}
	s.lite = db
	return db, nil
}

// removeData deletes the stored data of partitions [from, to) of t, whose
// logs are closed, and makes the removals durable.
func (s *Store) removeData(t *storeTopic, from, to int32) error {
	switch {
	case t.cfg.Mode == ModeMemory:
		return nil
	case t.cfg.Mode != ModeHybrid && t.cfg.Engine == EngineLite:
		db, err := s.liteDB()
		if err != nil {
			return err
		}
		for p := from; p < to; p++ {
			if err := db.DeleteLog(t.meta.Seq, p); err != nil {
				return err
			}
		}
		return nil
	default:
		for p := from; p < to; p++ {
			if err := s.fs.RemoveAll(s.partitionDir(t.meta.Name, p)); err != nil {
				return err
			}
		}
		return storeSyncDir(s.fs, s.topicsDir())
	}
}
