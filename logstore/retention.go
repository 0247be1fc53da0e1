package logstore

import (
	"fmt"
	"slices"
)

// Operations that remove data: retention, DeleteRecordsBefore, Truncate,
// and Close. Each holds writeMu for its whole run, so it never races the
// group-commit writer, and changes the segment list under mu, so a reader
// sees the old list or the new one. Files are deleted only after the
// in-memory list has dropped them; readers that pinned a file keep reading
// it (unlinked) until they close their ReadResult.
//
// Crash order: the checkpoint (with the new log start offset) is written
// first, then files are deleted oldest first, so a crash in the middle
// leaves a contiguous log whose leftover head recovery deletes.

// ApplyRetention deletes whole non-active segments past retention.bytes or
// retention.ms (by the segment's largest timestamp, or its file time when
// the batches carry none) or wholly below the log start offset, oldest
// first, and returns the new log start offset. For a tiered topic with an
// offloader that uploads (gatesRetention), a segment is deleted only once
// IsOffloaded says so.
func (l *SegmentLog) ApplyRetention(now int64) (int64, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	cfg, lso := l.mu.cfg, l.mu.lso
	segs := slices.Clone(l.mu.segs)
	remote := slices.Clone(l.mu.remote)
	l.mu.Unlock()

	var total int64
	for _, s := range remote {
		total += s.size
	}
	for _, s := range segs {
		total += s.size
	}
	// Remote segments first: they are the oldest. A remote segment's time
	// is its largest timestamp; one without timestamps expires by size
	// only (its file time is gone).
	dropRemote := 0
	for _, s := range remote {
		expired := s.next <= lso ||
			(cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes) ||
			(cfg.RetentionMs >= 0 && s.maxTS >= 0 && now-s.maxTS > cfg.RetentionMs)
		if !expired {
			break
		}
		total -= s.size
		dropRemote++
	}
	gate := cfg.Mode == ModeTiered && gatesRetention(l.opts.Offloader)
	drop := 0
	for _, s := range segs[:len(segs)-1] {
		if dropRemote < len(remote) {
			break
		}
		expired := s.next <= lso ||
			(cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes) ||
			(cfg.RetentionMs >= 0 && now-l.segmentTime(s) > cfg.RetentionMs)
		if !expired {
			break
		}
		if gate && s.next > lso && !l.opts.Offloader.IsOffloaded(l.opts.Topic, l.opts.Partition, s.base) {
			break
		}
		total -= s.size
		drop++
	}
	if drop > 0 || dropRemote > 0 {
		next := segs[drop].base
		if dropRemote < len(remote) {
			next = remote[dropRemote].base
		}
		newLSO := max(lso, next)
		if err := l.dropHead(dropRemote, drop, newLSO); err != nil {
			return lso, err
		}
		l.log.Info("retention deleted segments", "segments", drop, "offloaded_segments", dropRemote, "log_start_offset", newLSO)
		lso = newLSO
	}
	if _, err := l.evictLocal(now); err != nil {
		return lso, err
	}
	return lso, nil
}

// segmentTime is the time retention.ms compares: the largest batch
// timestamp, or the file's modification time when there is none.
func (l *SegmentLog) segmentTime(s *segment) int64 {
	if s.maxTS >= 0 {
		return s.maxTS
	}
	if st, err := s.file.f.Stat(); err == nil {
		return st.ModTime().UnixMilli()
	}
	return l.opts.Now().UnixMilli()
}

// DeleteRecordsBefore moves the log start offset up to offset (durably, in
// the checkpoint) and deletes the whole segments below it; the active
// segment stays even if all of it lies below.
func (l *SegmentLog) DeleteRecordsBefore(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	hw, lso := l.mu.hw, l.mu.lso
	segs, remote := l.mu.segs, l.mu.remote
	l.mu.Unlock()
	if offset > hw || offset < 0 {
		return fmt.Errorf("%w: delete records before %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, lso, hw)
	}
	if offset <= lso {
		return nil
	}
	dropRemote := 0
	for dropRemote < len(remote) && remote[dropRemote].next <= offset {
		dropRemote++
	}
	drop := 0
	for dropRemote == len(remote) && drop < len(segs)-1 && segs[drop].next <= offset {
		drop++
	}
	return l.dropHead(dropRemote, drop, offset)
}

// dropHead persists newLSO, then drops the first dropRemote remote
// segments (the offloader deletes their objects) and deletes the first
// drop local segments. writeMu is held.
func (l *SegmentLog) dropHead(dropRemote, drop int, newLSO int64) error {
	l.mu.Lock()
	active := l.mu.segs[len(l.mu.segs)-1]
	c := Checkpoint{
		LogStartOffset: newLSO,
		RecoveryPoint:  active.base,
		EndOffset:      l.mu.hw,
		ActiveBase:     active.base,
		ActiveSize:     active.size,
	}
	l.mu.Unlock()
	if err := l.storeCheckpoint(c); err != nil {
		return err
	}
	l.mu.Lock()
	remoteVictims := slices.Clone(l.mu.remote[:dropRemote])
	l.mu.remote = slices.Clone(l.mu.remote[dropRemote:])
	victims := slices.Clone(l.mu.segs[:drop])
	l.mu.segs = slices.Clone(l.mu.segs[drop:])
	l.mu.lso = newLSO
	l.mu.Unlock()
	l.forgetRemote(remoteVictims)
	for _, s := range victims {
		if err := l.deleteSegmentFiles(s); err != nil {
			// The checkpoint already holds newLSO: a reopen deletes the rest
			// (and notifies then).
			return fmt.Errorf("delete segment %s: %w", s.path, err)
		}
		l.notifyDeleted(s.base)
	}
	if len(victims) > 0 {
		if err := syncDir(l.fs, l.dir); err != nil {
			return err
		}
	}
	return nil
}

// Truncate removes every batch at or after offset, which must be a batch
// base offset or the high watermark. Later segments are deleted; the
// segment holding offset is cut there and becomes the active segment.
func (l *SegmentLog) Truncate(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	hw, lso := l.mu.hw, l.mu.lso
	if offset > hw || offset < lso {
		l.mu.Unlock()
		return fmt.Errorf("%w: truncate to %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, lso, hw)
	}
	if offset == hw {
		l.mu.Unlock()
		return nil
	}
	if offset < l.mu.segs[0].base {
		l.mu.Unlock()
		return fmt.Errorf("%w: truncate to %d, the first local segment starts at %d", ErrOffloaded, offset, l.mu.segs[0].base)
	}
	if l.mu.poison != nil {
		l.mu.Unlock()
		return l.poisoned()
	}
	i := l.findSegment(offset)
	s := l.mu.segs[i]
	v := localView(s)
	later := slices.Clone(l.mu.segs[i+1:])
	l.mu.Unlock()

	pos, err := findBatchPos(v, offset, make([]byte, BatchHeaderSize), true)
	if err != nil {
		return err
	}
	kept, err := countBatches(v.file.f, pos)
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	// A crash from here on must rescan s: move the recovery point first.
	if err := l.storeCheckpoint(Checkpoint{LogStartOffset: lso, RecoveryPoint: s.base, EndOffset: hw, ActiveBase: s.base}); err != nil {
		return err
	}
	// Publish the shorter log, then change the files. A file error after
	// this point leaves memory and disk apart, so it poisons the log;
	// reopening recovers whatever the disk holds.
	l.mu.Lock()
	l.mu.segs = l.mu.segs[: i+1 : i+1]
	s.index = slices.Clone(s.index[:lastIndexBelow(s.index, pos)])
	rel := uint32(offset - s.base)
	s.tindex = slices.Clone(s.tindex[:lastTimeIndexBelow(s.tindex, rel)])
	s.maxTS = noTimestamp
	if n := len(s.tindex); n > 0 {
		s.maxTS = s.tindex[n-1].Timestamp
	}
	s.sinceIndex = pos - FileHeaderSize
	if n := len(s.index); n > 0 {
		s.sinceIndex = pos - int64(s.index[n-1].Position)
	}
	s.size, s.next, s.batches, s.indexDirty = pos, offset, kept, true
	if pos == FileHeaderSize {
		s.rollBase = 0
	}
	l.mu.hw = offset
	l.mu.Unlock()
	l.w.unsynced, l.w.dirtySync = 0, false

	for j := len(later) - 1; j >= 0; j-- {
		if err := l.deleteSegmentFiles(later[j]); err != nil {
			return l.poison(fmt.Errorf("truncate: delete %s: %w", later[j].path, err))
		}
		l.notifyDeleted(later[j].base)
	}
	if len(later) > 0 {
		// s was sealed and is the active segment again: the sealed file
		// the offloader was told about no longer exists.
		l.notifyDeleted(s.base)
	}
	if err := l.removeIndexFiles(s.base); err != nil {
		return l.poison(fmt.Errorf("truncate: %w", err))
	}
	if err := l.truncateSegmentFile(s, pos); err != nil {
		return l.poison(fmt.Errorf("truncate: %w", err))
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return l.poison(fmt.Errorf("truncate: %w", err))
	}
	return nil
}

// lastIndexBelow is how many entries point below pos.
func lastIndexBelow(idx []IndexEntry, pos int64) int {
	n := 0
	for n < len(idx) && int64(idx[n].Position) < pos {
		n++
	}
	return n
}

// lastTimeIndexBelow is how many entries name an offset below rel.
func lastTimeIndexBelow(t []TimeIndexEntry, rel uint32) int {
	n := 0
	for n < len(t) && t[n].RelOffset < rel {
		n++
	}
	return n
}

// Close stops the writer after the queued appends, fsyncs the active
// segment, writes every index file that changed, and marks the checkpoint
// clean, so the next open skips the scan. A poisoned log is closed without
// the clean marker and Close returns the poison error.
func (l *SegmentLog) Close() error {
	l.appendGate.Lock()
	if l.gateClosed {
		l.appendGate.Unlock()
		return ErrClosed
	}
	l.gateClosed = true
	l.appendGate.Unlock()
	close(l.queue)
	l.writerWG.Wait()

	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	err := l.poisoned()
	l.mu.Lock()
	l.mu.closed = true
	segs := l.mu.segs
	l.mu.Unlock()
	if err == nil {
		err = l.closeClean(segs)
	}
	l.closeFiles()
	return err
}

func (l *SegmentLog) closeClean(segs []*segment) error {
	active := segs[len(segs)-1]
	if err := active.file.f.Sync(); err != nil {
		return fmt.Errorf("close: fsync %s: %w", active.path, err)
	}
	for _, s := range segs {
		if s.indexDirty {
			if err := l.writeIndexFiles(s); err != nil {
				return fmt.Errorf("close: %w", err)
			}
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return fmt.Errorf("close: fsync %s: %w", l.dir, err)
	}
	return l.writeCheckpoint(true)
}
