package kafka

import "sync"

// tp names one partition.
type tp struct {
	topic     string
	partition int32
}

// notifier wakes long-polling fetches when a partition gets data: Produce
// signals the partition after its append, and a Fetch that has not met
// its min_bytes waits on a waiter registered on each partition it reads.
// Lock order: notifier.mu is a leaf (nothing is called while it is held).
type notifier struct {
	mu      sync.Mutex
	waiters map[tp]map[*fetchWaiter]struct{}
}

// fetchWaiter is one waiting fetch; ch has capacity 1, so a signal is never
// lost between registration and the wait, and never blocks the producer
// (full policy: drop, the fetch is already woken).
type fetchWaiter struct{ ch chan struct{} }

func newNotifier() *notifier { return &notifier{waiters: make(map[tp]map[*fetchWaiter]struct{})} }

// register adds w to every partition in tps.
func (n *notifier) register(w *fetchWaiter, tps []tp) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range tps {
		ws := n.waiters[t]
		if ws == nil {
			ws = make(map[*fetchWaiter]struct{})
			n.waiters[t] = ws
		}
		ws[w] = struct{}{}
	}
}

// unregister removes w from every partition in tps.
func (n *notifier) unregister(w *fetchWaiter, tps []tp) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range tps {
		if ws := n.waiters[t]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(n.waiters, t)
			}
		}
	}
}

// signal wakes every fetch waiting on t.
func (n *notifier) signal(t tp) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for w := range n.waiters[t] {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
