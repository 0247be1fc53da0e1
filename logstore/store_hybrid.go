package logstore

// openHybrid opens a hybrid partition: a MemoryLog that acknowledges, in
// front of a SegmentLog in the partition directory written behind. The
// segment log gets the topic's config unchanged (mode hybrid), so that
// HybridLog.Reconfigure can pass a new config straight through to it.
func (s *Store) openHybrid(t *storeTopic, p int32) (Log, error) {
	behind, err := s.openSegment(t, p, t.cfg)
	if err != nil {
		return nil, err
	}
	h, err := OpenHybridLog(NewMemoryLog(t.cfg, s.opts.Now), behind)
	if err != nil {
		behind.Close()
		return nil, err
	}
	return h, nil
}
