package mqtt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// onConnect validates CONNECT, authenticates, attaches the session and
// queues CONNACK. It returns false when the connection must close (a
// refusing CONNACK is queued first).
func (c *conn) onConnect(p *Connect) bool {
	s := c.srv
	c.version = p.Version
	v5 := p.Version == Version5
	c.info.Version = p.Version
	c.info.Username = p.Username
	if v5 && p.Props.Has(PropRequestProblemInfo) && p.Props.RequestProblemInfo == 0 {
		c.problemInfo = false
	}
	refuse := func(code ReasonCode, why string) bool {
		ack := &Connack{Reason: code}
		if !v5 {
			ack.Reason = ReasonCode(connackV3(code))
		} else if why != "" {
			// Reason strings are always allowed on CONNACK.
			ack.Props.ReasonString = why
			ack.Props.Set(PropReasonString)
		}
		c.out.pushCtrl(ack, true)
		c.log.Info("mqtt: connection refused", "remote", c.info.Remote, "client", p.ClientID, "reason", code.Error(), "why", why)
		return false
	}

	// The will.
	var will *Message
	var willDelay uint32
	if w := p.Will; w != nil {
		if err := validTopicName(w.Topic); err != nil || len(w.Topic) >= 4 && w.Topic[:4] == "$SYS" {
			return refuse(TopicNameInvalid, "invalid will topic")
		}
		if w.Props.Has(PropPayloadFormat) && w.Props.PayloadFormat == 1 && !utf8.Valid(w.Payload) {
			return refuse(PayloadFormatInvalid, "will payload is not UTF-8")
		}
		will = &Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, Props: messageProps(&w.Props)}
		willDelay = w.Props.WillDelay
	}

	// The client identifier.
	id := p.ClientID
	assigned := false
	if id == "" {
		if p.Version == Version31 || (p.Version == Version311 && !p.CleanStart) {
			return refuse(ClientIdentifierNotValid, "empty client identifier") // [MQTT-3.1.3-8]
		}
		id = s.assignClientID()
		assigned = true
	}
	c.info.ClientID = id
	if will != nil {
		will.From = id
	}

	if !s.opts.Limiter.AllowConnect(&c.info) {
		return refuse(ConnectionRateExceeded, "connection rate exceeded")
	}
	if s.isClosed() {
		return refuse(ServerUnavailable, "server shutting down")
	}
	if n := s.stats.connected.Add(1); n > int64(s.opts.MaxConnections) {
		s.stats.connected.Add(-1)
		return refuse(QuotaExceeded, "too many connections")
	}
	c.counted = true

	// Authentication.
	req := &ConnectRequest{Client: c.info, UsernameFlag: p.UsernameFlag, Username: p.Username,
		PasswordFlag: p.PasswordFlag, Password: p.Password, Props: &p.Props}
	var ackProps Properties
	if v5 && p.Props.Has(PropAuthMethod) {
		req.AuthMethod, req.AuthData = p.Props.AuthMethod, p.Props.AuthData
		principal, data, err := c.enhancedAuth(req)
		if err != nil {
			return refuse(reasonOf(err, NotAuthorized), "authentication failed")
		}
		c.info.Principal = principal
		c.authMethod = req.AuthMethod
		ackProps.AuthMethod = req.AuthMethod
		ackProps.Set(PropAuthMethod)
		if data != nil {
			ackProps.AuthData = data
			ackProps.Set(PropAuthData)
		}
	} else {
		principal, err := s.opts.Authenticator.Authenticate(s.ctx, req)
		if err != nil {
			return refuse(reasonOf(err, NotAuthorized), "authentication failed")
		}
		c.info.Principal = principal
	}

	// Negotiation.
	c.keepAlive = time.Duration(p.KeepAlive) * time.Second
	if v5 && s.opts.ServerKeepAlive > 0 && (p.KeepAlive == 0 || p.KeepAlive > s.opts.ServerKeepAlive) {
		c.keepAlive = time.Duration(s.opts.ServerKeepAlive) * time.Second
		ackProps.ServerKeepAlive = s.opts.ServerKeepAlive
		ackProps.Set(PropServerKeepAlive)
	}
	recvMax := uint16(65535)
	if v5 && p.Props.Has(PropReceiveMaximum) {
		recvMax = p.Props.ReceiveMaximum
	}
	c.window = int(min(recvMax, s.opts.MaxInflight))
	if v5 && p.Props.Has(PropMaximumPacketSize) {
		c.clientMaxPacket = p.Props.MaximumPacketSize
	}
	if v5 {
		c.clientAliasMax = p.Props.TopicAliasMaximum
	}
	var expiry uint32
	switch {
	case v5:
		expiry = p.Props.SessionExpiry
	case !p.CleanStart:
		expiry = neverExpires
	}
	if s.opts.MaxSessionExpiry > 0 && expiry > s.opts.MaxSessionExpiry {
		expiry = s.opts.MaxSessionExpiry
		if v5 {
			ackProps.SessionExpiry = expiry
			ackProps.Set(PropSessionExpiry)
		}
	}
	if v5 {
		ackProps.ReceiveMaximum = s.opts.ReceiveMaximum
		ackProps.Set(PropReceiveMaximum)
		ackProps.MaximumPacketSize = s.opts.MaxPacketSize
		ackProps.Set(PropMaximumPacketSize)
		if s.opts.TopicAliasMaximum > 0 {
			ackProps.TopicAliasMaximum = s.opts.TopicAliasMaximum
			ackProps.Set(PropTopicAliasMaximum)
		}
		if assigned {
			ackProps.AssignedClientID = id
			ackProps.Set(PropAssignedClientID)
		}
		if p.Props.RequestResponseInfo == 1 {
			ackProps.ResponseInfo = s.opts.ResponsePrefix + id
			ackProps.Set(PropResponseInfo)
		}
	}
	c.log = s.log.With("client", id)
	info := c.info
	c.writerInfo.Store(&info)
	s.attach(c, id, p.CleanStart, expiry, will, willDelay, func(present bool) {
		c.out.pushCtrl(&Connack{SessionPresent: present && !p.CleanStart, Reason: Success, Props: ackProps}, true)
	})
	return true
}

// enhancedAuth runs a 5.0 AUTH exchange started by CONNECT.
func (c *conn) enhancedAuth(req *ConnectRequest) (string, []byte, error) {
	s := c.srv
	ex, err := s.opts.Authenticator.StartAuth(s.ctx, req)
	if err != nil {
		return "", nil, err
	}
	in := req.AuthData
	for {
		out, done, principal, err := ex.Step(s.ctx, in)
		if err != nil {
			return "", nil, err
		}
		if done {
			return principal, out, nil
		}
		a := &Auth{Reason: ContinueAuthentication}
		a.Props.AuthMethod = req.AuthMethod
		a.Props.Set(PropAuthMethod)
		a.Props.AuthData = out
		a.Props.Set(PropAuthData)
		c.out.pushCtrl(a, true)
		c.nc.SetReadDeadline(time.Now().Add(s.opts.ConnectTimeout))
		pk, err := ReadPacket(c.br, Version5, s.opts.MaxPacketSize)
		if err != nil {
			return "", nil, err
		}
		next, ok := pk.(*Auth)
		if !ok || next.Reason != ContinueAuthentication || next.Props.AuthMethod != req.AuthMethod {
			return "", nil, ProtocolError
		}
		in = next.Props.AuthData
	}
}

// reasonOf returns err's ReasonCode, or def.
func reasonOf(err error, def ReasonCode) ReasonCode {
	var rc ReasonCode
	if errors.As(err, &rc) {
		return rc
	}
	return def
}

// assignClientID makes a unique client identifier ([MQTT-3.1.3-6]).
func (s *Server) assignClientID() string {
	s.mu.Lock()
	s.mu.nextID++
	n := s.mu.nextID
	s.mu.Unlock()
	var b [6]byte
	rand.Read(b[:])
	return "strata-" + strconv.FormatUint(n, 10) + "-" + hex.EncodeToString(b[:])
}

// handle serves one packet after CONNECT; false ends the connection.
func (c *conn) handle(pk Packet) bool {
	switch p := pk.(type) {
	case *Publish:
		return c.onPublish(p)
	case *Ack:
		return c.onAck(p)
	case *Subscribe:
		return c.onSubscribe(p)
	case *Unsubscribe:
		return c.onUnsubscribe(p)
	case *Pingreq:
		c.out.pushCtrl(&Pingresp{}, false)
		return true
	case *Disconnect:
		return c.onDisconnect(p)
	case *Auth:
		return c.onAuth(p)
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP from a client.
		return c.fail(ProtocolError, pk.Type().String()+" from a client")
	}
}

// fail ends the connection for a client error: 5.0 gets DISCONNECT.
func (c *conn) fail(rc ReasonCode, why string) bool {
	c.srv.stats.malformed.Add(1)
	c.log.Info("mqtt: closing a connection on a protocol error", "reason", rc.Error(), "why", why)
	c.sendDisconnect(rc, why)
	return false
}

// reasonProps returns properties holding a reason string when the client
// accepts them.
func (c *conn) reasonProps(why string) Properties {
	var p Properties
	if why != "" && c.problemInfo && c.version == Version5 {
		p.ReasonString = why
		p.Set(PropReasonString)
	}
	return p
}

func (c *conn) onPublish(p *Publish) bool {
	s := c.srv
	s.stats.received.Add(1)
	v5 := c.version == Version5
	topic := p.Topic
	if v5 && p.Props.Has(PropTopicAlias) {
		a := p.Props.TopicAlias
		if a == 0 || a > s.opts.TopicAliasMaximum {
			return c.fail(TopicAliasInvalid, "topic alias out of range") // [MQTT-3.3.2-9], [MQTT-3.3.2-10]
		}
		if topic == "" {
			t, ok := c.inAliases[a]
			if !ok {
				return c.fail(ProtocolError, "unknown topic alias")
			}
			topic = t
		} else {
			if c.inAliases == nil {
				c.inAliases = make(map[uint16]string)
			}
			c.inAliases[a] = topic
		}
	}
	if err := validTopicName(topic); err != nil {
		return c.fail(TopicNameInvalid, "invalid topic name")
	}
	if v5 && len(p.Props.SubscriptionIDs) > 0 {
		return c.fail(ProtocolError, "a client PUBLISH carries a subscription identifier") // [MQTT-3.3.4-6]
	}
	if v5 && p.Props.Has(PropResponseTopic) && validTopicName(p.Props.ResponseTopic) != nil {
		return c.fail(ProtocolError, "response topic is not a topic name") // [MQTT-3.3.2-14]
	}
	ack := func(rc ReasonCode, why string) bool {
		switch p.QoS {
		case 1:
			c.out.pushCtrl(&Ack{Kind: PUBACK, PacketID: p.PacketID, Reason: rc, Props: c.reasonProps(why)}, false)
		case 2:
			c.out.pushCtrl(&Ack{Kind: PUBREC, PacketID: p.PacketID, Reason: rc, Props: c.reasonProps(why)}, false)
		}
		return true
	}
	if p.QoS == 2 {
		c.sess.mu.Lock()
		_, dup := c.sess.mu.inQoS2[p.PacketID]
		n := len(c.sess.mu.inQoS2)
		c.sess.mu.Unlock()
		if dup {
			return ack(Success, "") // delivered already: PUBREC again ([MQTT-4.3.3-9])
		}
		if n >= int(s.opts.ReceiveMaximum) {
			return c.fail(ReceiveMaximumExceeded, "too many QoS 2 publishes in flight") // [MQTT-3.3.4-9]
		}
	}
	refused := func(rc ReasonCode, why string) bool {
		if p.QoS == 0 {
			s.stats.droppedOther.Add(1)
			return true
		}
		if !v5 {
			// 3.x cannot say no: acknowledge and drop (mosquitto does the same).
			return ack(Success, "")
		}
		return ack(rc, why)
	}
	if v5 && p.Props.Has(PropPayloadFormat) && p.Props.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
		if p.QoS == 0 {
			return c.fail(PayloadFormatInvalid, "payload is not UTF-8")
		}
		return ack(PayloadFormatInvalid, "payload is not UTF-8")
	}
	if !s.opts.Limiter.AllowPublish(&c.info, topic, len(p.Payload)) {
		if v5 {
			return c.fail(MessageRateTooHigh, "publish rate too high")
		}
		return false
	}
	if len(topic) >= 4 && topic[:4] == "$SYS" {
		return refused(NotAuthorized, "$SYS topics are the broker's")
	}
	authz := &AuthzRequest{Client: &c.info, Action: ActionPublish, Topic: topic, QoS: p.QoS}
	if !s.opts.Authorizer.Authorize(authz) {
		return refused(NotAuthorized, "not authorized")
	}
	if p.Retain {
		authz.Action = ActionRetain
		if !s.opts.Authorizer.Authorize(authz) {
			return refused(NotAuthorized, "not authorized to retain")
		}
	}
	m := &Message{Topic: topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, From: c.info.ClientID, Created: s.now()}
	if v5 {
		m.Props = messageProps(&p.Props)
	}
	if err := s.opts.Router.Route(s.ctx, &c.info, m); err != nil {
		s.stats.routeErrors.Add(1)
		c.log.Warn("mqtt: routing a publish", "topic", topic, "err", err)
		if p.QoS > 0 && !v5 {
			return false // the client resends on reconnect
		}
		return refused(reasonOf(err, UnspecifiedError), "routing failed")
	}
	if p.QoS == 2 {
		c.sess.mu.Lock()
		c.sess.mu.inQoS2[p.PacketID] = struct{}{}
		c.sess.mu.Unlock()
	}
	n := s.publish(m)
	if n == 0 && v5 {
		return ack(NoMatchingSubscribers, "")
	}
	return ack(Success, "")
}

func (c *conn) onAck(p *Ack) bool {
	ss := c.sess
	v5 := c.version == Version5
	switch p.Kind {
	case PUBACK, PUBCOMP:
		ss.complete(p.PacketID) // an unknown id is ignored
	case PUBREC:
		if p.Reason.IsError() {
			ss.complete(p.PacketID) // [MQTT-4.3.3-4]: the flow ends
			return true
		}
		rc := Success
		if !ss.release(p.PacketID) {
			rc = PacketIdentifierNotFound
		}
		if !v5 {
			rc = Success
		}
		c.out.pushCtrl(&Ack{Kind: PUBREL, PacketID: p.PacketID, Reason: rc}, false)
	case PUBREL:
		ss.mu.Lock()
		_, ok := ss.mu.inQoS2[p.PacketID]
		delete(ss.mu.inQoS2, p.PacketID)
		ss.mu.Unlock()
		rc := Success
		if !ok && v5 {
			rc = PacketIdentifierNotFound
		}
		c.out.pushCtrl(&Ack{Kind: PUBCOMP, PacketID: p.PacketID, Reason: rc}, false)
	}
	return true
}

func (c *conn) onSubscribe(p *Subscribe) bool {
	s := c.srv
	ss := c.sess
	v5 := c.version == Version5
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	reasons := make([]ReasonCode, len(p.Subs))
	type retainedFor struct {
		sub    Subscription
		filter string
		subID  uint32
	}
	var sendRetained []retainedFor
	changed := false
	for i, sub := range p.Subs {
		group, filter, err := parseShare(sub.Filter)
		if err == nil {
			err = validTopicFilter(filter)
		}
		switch {
		case err != nil:
			reasons[i] = TopicFilterInvalid
		case group != "" && sub.NoLocal:
			return c.fail(ProtocolError, "no local on a shared subscription") // [MQTT-3.8.3-4]
		case s.refuse[sub.Filter] || s.refuse[filter]:
			reasons[i] = UnspecifiedError
		case !s.opts.Authorizer.Authorize(&AuthzRequest{Client: &c.info, Action: ActionSubscribe, Topic: filter, Group: group, QoS: sub.QoS}):
			reasons[i] = NotAuthorized
		default:
			reasons[i] = ReasonCode(sub.QoS)
			sb := &subscriber{sess: ss, opts: sub, id: subID}
			ss.mu.Lock()
			_, existed := ss.mu.subs[sub.Filter]
			ss.mu.subs[sub.Filter] = sb
			ss.mu.Unlock()
			s.tree.add(filter, group, sb)
			changed = true
			if group == "" && (sub.RetainHandling == 0 || sub.RetainHandling == 1 && !existed) {
				sendRetained = append(sendRetained, retainedFor{sub, filter, subID})
			}
		}
		if !v5 && reasons[i].IsError() {
			reasons[i] = UnspecifiedError // 3.x has 0x80 only
		}
	}
	why := ""
	for _, r := range reasons {
		if r.IsError() {
			why = "some subscriptions were refused"
		}
	}
	c.out.pushCtrl(&Suback{PacketID: p.PacketID, Reasons: reasons, Props: c.reasonProps(why)}, false)
	now := s.now()
	for _, r := range sendRetained {
		var ids []uint32
		if r.subID != 0 {
			ids = []uint32{r.subID}
		}
		for _, m := range s.retained.match(r.filter) {
			if m.Expired(now) {
				continue
			}
			// Retained messages sent on subscribe keep RETAIN=1 ([MQTT-3.3.1-8]).
			ss.deliver(&outMsg{msg: m, qos: min(m.QoS, r.sub.QoS), retain: true, subIDs: ids})
		}
	}
	if changed {
		ss.putStore()
	}
	return true
}

func (c *conn) onUnsubscribe(p *Unsubscribe) bool {
	s := c.srv
	ss := c.sess
	reasons := make([]ReasonCode, len(p.Filters))
	for i, f := range p.Filters {
		group, filter, err := parseShare(f)
		if err != nil {
			reasons[i] = TopicFilterInvalid
			continue
		}
		ss.mu.Lock()
		_, ok := ss.mu.subs[f]
		delete(ss.mu.subs, f)
		ss.mu.Unlock()
		if ok {
			s.tree.remove(filter, group, ss.id)
		} else {
			reasons[i] = NoSubscriptionExisted
		}
	}
	c.out.pushCtrl(&Unsuback{PacketID: p.PacketID, Reasons: reasons}, false)
	ss.putStore()
	return true
}

func (c *conn) onDisconnect(p *Disconnect) bool {
	ss := c.sess
	if c.version == Version5 && p.Props.Has(PropSessionExpiry) {
		ss.mu.Lock()
		was := ss.mu.expiry
		if was == 0 && p.Props.SessionExpiry != 0 {
			ss.mu.Unlock()
			c.normalExit = false
			return c.fail(ProtocolError, "session expiry set on DISCONNECT after 0 at CONNECT") // [MQTT-3.14.2-2]
		}
		ss.mu.expiry = p.Props.SessionExpiry
		if max := c.srv.opts.MaxSessionExpiry; max > 0 && ss.mu.expiry > max {
			ss.mu.expiry = max
		}
		ss.mu.Unlock()
	}
	// Only reason 0x00 (normal disconnection) drops the will; 0x04
	// (disconnect with will message) and the error reasons publish it
	// ([MQTT-3.1.2-10], [MQTT-3.14.4-3]).
	c.normalExit = c.version != Version5 || p.Reason == Success
	return false
}

// onAuth serves 5.0 re-authentication: AUTH 0x19 with the CONNECT's
// method starts a new AuthExchange, AUTH 0x18 continues it; the server
// answers AUTH 0x18 (continue) or 0x00 (success, with the new principal)
// and a failure is DISCONNECT with the reason ([MQTT-4.12.1-2]).
func (c *conn) onAuth(p *Auth) bool {
	s := c.srv
	if c.authMethod == "" || p.Props.AuthMethod != c.authMethod {
		return c.fail(ProtocolError, "AUTH without the CONNECT's authentication method") // [MQTT-4.12.1-1]
	}
	switch p.Reason {
	case ReAuthenticate:
		if c.reauth != nil {
			return c.fail(ProtocolError, "re-authentication already in progress")
		}
		req := &ConnectRequest{Client: c.info, UsernameFlag: c.info.Username != "", Username: c.info.Username,
			AuthMethod: p.Props.AuthMethod, AuthData: p.Props.AuthData, Props: &p.Props}
		ex, err := s.opts.Authenticator.StartAuth(s.ctx, req)
		if err != nil {
			return c.fail(reasonOf(err, NotAuthorized), "re-authentication refused")
		}
		c.reauth = ex
	case ContinueAuthentication:
		if c.reauth == nil {
			return c.fail(ProtocolError, "AUTH 0x18 outside an authentication exchange")
		}
	default:
		return c.fail(ProtocolError, "AUTH with reason "+p.Reason.Error())
	}
	out, done, principal, err := c.reauth.Step(s.ctx, p.Props.AuthData)
	if err != nil {
		c.reauth = nil
		return c.fail(reasonOf(err, NotAuthorized), "re-authentication failed")
	}
	a := &Auth{Reason: ContinueAuthentication}
	a.Props.AuthMethod = c.authMethod
	a.Props.Set(PropAuthMethod)
	if out != nil {
		a.Props.AuthData = out
		a.Props.Set(PropAuthData)
	}
	if done {
		a.Reason = Success
		c.reauth = nil
		c.info.Principal = principal
		info := c.info
		c.writerInfo.Store(&info)
	}
	c.out.pushCtrl(a, false)
	return true
}
