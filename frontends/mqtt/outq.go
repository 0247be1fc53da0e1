package mqtt

import "sync"

// outItem is one thing for the write goroutine: a control packet, or a
// message to encode as PUBLISH (dup on redelivery).
type outItem struct {
	pkt Packet
	om  *outMsg
	dup bool
}

// outq is a connection's write queue. Its lock is a leaf.
//
// Bounds and full policies:
//   - control packets (acks, SUBACK, PINGRESP...) are produced by the
//     connection's own reader, at most one or two per packet read: past
//     Options.OutboundQueue of them the reader waits (pushCtrl with
//     wait), so a client that does not read stops being read;
//   - QoS 0 messages: past Options.OutboundQueue, the new one is dropped
//     and counted (pushMsg returns false);
//   - QoS 1/2 messages enter only through the session's in-flight window
//     (bounded by Options.MaxInflight), so they are never refused.
//
// After seal (a DISCONNECT from the server is queued) nothing more is
// accepted: the DISCONNECT is the last packet.
type outq struct {
	limit int
	mu    struct {
		sync.Mutex
		items  []outItem
		qos0   int
		ctrl   int
		sealed bool
		closed bool
	}
	wake  chan struct{} // cap 1: items or close
	space chan struct{} // cap 1: control packets fell under the limit
	done  chan struct{} // closed by close
}

func newOutq(limit int) *outq {
	q := &outq{limit: limit, wake: make(chan struct{}, 1), space: make(chan struct{}, 1), done: make(chan struct{})}
	return q
}

func (q *outq) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pushCtrl queues a control packet. wait=true blocks while the queue
// holds limit control packets (the reader's backpressure); false never
// blocks (server-side packets: redelivered PUBRELs, DISCONNECT).
func (q *outq) pushCtrl(p Packet, force bool) bool {
	for {
		q.mu.Lock()
		if q.mu.sealed || q.mu.closed {
			q.mu.Unlock()
			return false
		}
		if force || q.mu.ctrl < q.limit {
			q.mu.items = append(q.mu.items, outItem{pkt: p})
			q.mu.ctrl++
			if _, ok := p.(*Disconnect); ok {
				q.mu.sealed = true
			}
			q.mu.Unlock()
			q.signal()
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-q.done:
			return false
		}
	}
}

// pushMsg queues a message; a QoS 0 one is refused past the limit.
func (q *outq) pushMsg(om *outMsg, dup bool) bool {
	q.mu.Lock()
	if q.mu.sealed || q.mu.closed {
		q.mu.Unlock()
		return om.qos > 0 // QoS 1/2 stay in flight for the next connection
	}
	if om.qos == 0 {
		if q.mu.qos0 >= q.limit {
			q.mu.Unlock()
			return false
		}
		q.mu.qos0++
	}
	q.mu.items = append(q.mu.items, outItem{om: om, dup: dup})
	q.mu.Unlock()
	q.signal()
	return true
}

// take waits for items and returns all of them; closed=true with no
// items means the queue is closed and drained.
func (q *outq) take(buf []outItem) ([]outItem, bool) {
	for {
		q.mu.Lock()
		if len(q.mu.items) > 0 {
			items := q.mu.items
			q.mu.items = buf[:0]
			q.mu.qos0, q.mu.ctrl = 0, 0
			q.mu.Unlock()
			select {
			case q.space <- struct{}{}:
			default:
			}
			return items, false
		}
		closed := q.mu.closed
		q.mu.Unlock()
		if closed {
			return nil, true
		}
		<-q.wake
	}
}

// close stops the queue: the writer drains what is queued and exits.
func (q *outq) close() {
	q.mu.Lock()
	if q.mu.closed {
		q.mu.Unlock()
		return
	}
	q.mu.closed = true
	q.mu.Unlock()
	close(q.done)
	q.signal()
}
