package kafka

import "time"

// clock is the coordinator's time source: session, rebalance and join
// delay timers all go through it, so that the data-driven spec in
// testdata/groups runs on fake time.
type clock interface {
	now() time.Time
	// afterFunc runs f on its own goroutine (or, for a fake clock, in
	// the goroutine that advances time) after d.
	afterFunc(d time.Duration, f func()) stopper
}

// stopper is what afterFunc returns: *time.Timer satisfies it.
type stopper interface{ Stop() bool }

type wallClock struct{}

func (wallClock) now() time.Time                              { return time.Now() }
func (wallClock) afterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

// gtimer is a coordinator timer. Its callback runs with the coordinator's
// mu held, and only if the timer was not stopped first: stop is called
// with mu held, so a callback that fired and is waiting for mu when the
// timer is stopped sees dead and does nothing. That makes every timer
// one-shot and stale-proof without the generation checks each callback
// would otherwise need.
type gtimer struct {
	s    stopper
	dead bool
}

// after schedules fn on the coordinator after d. Called with mu held.
func (c *groupCoordinator) after(d time.Duration, fn func()) *gtimer {
	t := &gtimer{}
	t.s = c.clock.afterFunc(d, func() {
		c.mu.Lock()
		if t.dead || c.mu.closed {
			c.mu.Unlock()
			return
		}
		t.dead = true
		fn()
		c.mu.Unlock()
		c.kickPersister()
	})
	return t
}

// stop cancels t; nil-safe. Called with mu held.
func (t *gtimer) stop() {
	if t == nil || t.dead {
		return
	}
	t.dead = true
	t.s.Stop()
}
