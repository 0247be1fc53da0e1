package mqtt

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// publish delivers m to every matching subscription and applies its
// retain flag. It returns the number of sessions it was queued for. It
// never blocks on a subscriber (session.deliver).
func (s *Server) publish(m *Message) int {
	if m.Retain {
		s.retain(m)
	}
	mt := s.tree.match(m.Topic)
	// Overlapping subscriptions of one session give one copy: the highest
	// QoS, every subscription identifier ([MQTT-3.3.4-3..5]). Sorting by
	// session groups them without a map (most sessions match once).
	subs := mt.subs
	if len(subs) > 1 {
		slices.SortFunc(subs, func(a, b *subscriber) int { return cmp.Compare(a.sess.serial, b.sess.serial) })
	}
	n := 0
	// stored: queued for offline persistent sessions; durable (storeQueued)
	// before publish returns, so before the publisher's PUBACK / PUBREC.
	var stored []*QueuedChange
	for i := 0; i < len(subs); {
		ss := subs[i].sess
		var (
			qos     byte
			retain  bool
			ids     []uint32
			matched bool
		)
		for ; i < len(subs) && subs[i].sess == ss; i++ {
			sub := subs[i]
			if sub.opts.NoLocal && m.From != "" && ss.id == m.From {
				continue // [MQTT-3.8.3-3]
			}
			matched = true
			qos = max(qos, min(m.QoS, sub.opts.QoS))
			if sub.opts.RetainAsPublished && m.Retain {
				retain = true
			}
			if sub.id != 0 {
				ids = append(ids, sub.id)
			}
		}
		if !matched {
			continue
		}
		if ch := ss.deliver(&outMsg{msg: m, qos: qos, retain: retain, subIDs: ids}); ch != nil {
			stored = append(stored, ch)
		}
		n++
	}
	for _, g := range mt.groups {
		sub := s.tree.pick(g.group, "")
		if sub == nil {
			continue
		}
		var ids []uint32
		if sub.id != 0 {
			ids = []uint32{sub.id}
		}
		retain := sub.opts.RetainAsPublished && m.Retain
		if ch := sub.sess.deliver(&outMsg{msg: m, qos: min(m.QoS, sub.opts.QoS), retain: retain, subIDs: ids, group: g.group}); ch != nil {
			stored = append(stored, ch)
		}
		n++
	}
	s.storeQueued(stored)
	return n
}

// publishWill routes and publishes a will message.
func (s *Server) publishWill(m *Message) {
	m.Created = s.now()
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.opts.Router.Route(ctx, &ClientInfo{ClientID: m.From}, m); err != nil {
		s.stats.routeErrors.Add(1)
		s.log.Warn("mqtt: routing a will", "client", m.From, "topic", m.Topic, "err", err)
	}
	s.publish(m)
}

// sysLoop publishes $SYS/ statistics every SysInterval.
func (s *Server) sysLoop() {
	defer s.wg.Done()
	s.publishSys()
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.publishSys()
		}
	}
}

// publishSys publishes the broker statistics as retained messages under
// $SYS/broker/ (mosquitto's names where it has one).
func (s *Server) publishSys() {
	st := s.Stats()
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	vals := []struct{ topic, value string }{
		{"$SYS/broker/version", Version},
		{"$SYS/broker/uptime", fmt.Sprintf("%d seconds", int64(s.now().Sub(s.started).Seconds()))},
		{"$SYS/broker/clients/connected", i(st.Connected)},
		{"$SYS/broker/clients/total", i(st.Sessions)},
		{"$SYS/broker/subscriptions/count", i(st.Subscriptions)},
		{"$SYS/broker/retained messages/count", i(st.Retained)},
		{"$SYS/broker/messages/received", i(st.Received)},
		{"$SYS/broker/messages/sent", i(st.Sent)},
		{"$SYS/broker/bytes/received", i(st.BytesIn)},
		{"$SYS/broker/bytes/sent", i(st.BytesOut)},
		{"$SYS/broker/messages/dropped/qos0", i(st.DroppedQoS0)},
		{"$SYS/broker/messages/dropped/queue", i(st.DroppedQueued)},
		{"$SYS/broker/messages/dropped/offline", i(st.DroppedOffline)},
		{"$SYS/broker/messages/dropped/other", i(st.DroppedOther)},
		{"$SYS/broker/publish/messages/dropped", i(st.DroppedQoS0 + st.DroppedQueued + st.DroppedOffline + st.DroppedOther)},
	}
	now := s.now()
	for _, v := range vals {
		s.publish(&Message{Topic: v.topic, Payload: []byte(v.value), Retain: true, Created: now})
	}
}
