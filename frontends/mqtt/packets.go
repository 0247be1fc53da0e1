package mqtt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PacketType is the control packet type, the high nibble of byte 1.
type PacketType byte

// Control packet types.
const (
	CONNECT     PacketType = 1
	CONNACK     PacketType = 2
	PUBLISH     PacketType = 3
	PUBACK      PacketType = 4
	PUBREC      PacketType = 5
	PUBREL      PacketType = 6
	PUBCOMP     PacketType = 7
	SUBSCRIBE   PacketType = 8
	SUBACK      PacketType = 9
	UNSUBSCRIBE PacketType = 10
	UNSUBACK    PacketType = 11
	PINGREQ     PacketType = 12
	PINGRESP    PacketType = 13
	DISCONNECT  PacketType = 14
	AUTH        PacketType = 15
)

var packetNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t PacketType) String() string {
	if int(t) < len(packetNames) {
		return packetNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// Protocol levels.
const (
	Version31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	Version311 byte = 4 // MQTT 3.1.1, "MQTT"
	Version5   byte = 5 // MQTT 5.0, "MQTT"
)

// Packet is one decoded control packet: *Connect, *Connack, *Publish,
// *Ack (PUBACK, PUBREC, PUBREL, PUBCOMP), *Subscribe, *Suback,
// *Unsubscribe, *Unsuback, *Pingreq, *Pingresp, *Disconnect or *Auth.
type Packet interface {
	Type() PacketType
}

// Connect is a CONNECT packet.
type Connect struct {
	ProtocolName string // "MQTT" or "MQIsdp"
	Version      byte   // protocol level
	CleanStart   bool   // Clean Session in 3.x
	KeepAlive    uint16 // seconds
	Props        Properties
	ClientID     string
	Will         *Will // nil without the will flag
	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
}

// Will is the will message of a CONNECT.
type Will struct {
	QoS     byte
	Retain  bool
	Props   Properties // will properties (5.0)
	Topic   string
	Payload []byte
}

// Connack is a CONNACK packet. In 3.x Reason holds the return code as
// written (0x00-0x05).
type Connack struct {
	SessionPresent bool
	Reason         ReasonCode
	Props          Properties
}

// Publish is a PUBLISH packet.
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    string
	PacketID uint16 // QoS 1 and 2 only
	Props    Properties
	Payload  []byte
}

// Ack is a PUBACK, PUBREC, PUBREL or PUBCOMP packet.
type Ack struct {
	Kind     PacketType
	PacketID uint16
	Reason   ReasonCode // 5.0; Success when absent
	Props    Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options byte.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send retained, 1 only if new, 2 never
}

// Subscribe is a SUBSCRIBE packet.
type Subscribe struct {
	PacketID uint16
	Props    Properties
	Subs     []Subscription
}

// Suback is a SUBACK packet (return codes in 3.x: 0, 1, 2 or 0x80).
type Suback struct {
	PacketID uint16
	Props    Properties
	Reasons  []ReasonCode
}

// Unsubscribe is an UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  []string
}

// Unsuback is an UNSUBACK packet (reason codes in 5.0 only).
type Unsuback struct {
	PacketID uint16
	Props    Properties
	Reasons  []ReasonCode
}

// Pingreq is a PINGREQ packet.
type Pingreq struct{}

// Pingresp is a PINGRESP packet.
type Pingresp struct{}

// Disconnect is a DISCONNECT packet (reason and properties in 5.0).
type Disconnect struct {
	Reason ReasonCode
	Props  Properties
}

// Auth is an AUTH packet (5.0 only).
type Auth struct {
	Reason ReasonCode
	Props  Properties
}

func (*Connect) Type() PacketType     { return CONNECT }
func (*Connack) Type() PacketType     { return CONNACK }
func (*Publish) Type() PacketType     { return PUBLISH }
func (a *Ack) Type() PacketType       { return a.Kind }
func (*Subscribe) Type() PacketType   { return SUBSCRIBE }
func (*Suback) Type() PacketType      { return SUBACK }
func (*Unsubscribe) Type() PacketType { return UNSUBSCRIBE }
func (*Unsuback) Type() PacketType    { return UNSUBACK }
func (*Pingreq) Type() PacketType     { return PINGREQ }
func (*Pingresp) Type() PacketType    { return PINGRESP }
func (*Disconnect) Type() PacketType  { return DISCONNECT }
func (*Auth) Type() PacketType        { return AUTH }

// MaxVarint is the largest remaining length (4 bytes of varint).
const MaxVarint = 268435455

// errTooLarge wraps PacketTooLarge with the sizes.
var errTooLarge = PacketTooLarge

// ReadPacket reads one control packet. version is the connection's
// protocol level (0 before CONNECT: only a CONNECT is accepted then, and
// its own level decides). maxSize caps the whole packet (fixed header
// included) before its body is allocated; 0 = MaxVarint. Errors: io
// errors from r as they are (io.EOF at a packet boundary), ReasonCode
// values for bad packets (MalformedPacket, ProtocolError, PacketTooLarge).
func ReadPacket(r *bufio.Reader, version byte, maxSize uint32) (Packet, error) {
	h, body, err := readFrame(r, maxSize)
	if err != nil {
		return nil, err
	}
	return DecodePacket(h, body, version)
}

// readFrame reads one packet's first byte and body, checking the size
// before allocating the body.
func readFrame(r *bufio.Reader, maxSize uint32) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var n, shift int
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, nil, unexpected(err)
		}
		if i == 3 && c&0x80 != 0 {
			return 0, nil, MalformedPacket
		}
		n |= int(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			break
		}
	}
	if maxSize == 0 {
		maxSize = MaxVarint
	}
	if uint64(1+varintLen(n)+n) > uint64(maxSize) {
		return 0, nil, errTooLarge
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, unexpected(err)
	}
	return h, body, nil
}

// connectLevel returns the protocol level a CONNECT body claims (0 when
// it does not get that far), to answer a bad CONNECT in its version.
func connectLevel(body []byte) byte {
	name, n, err := decodeString(body)
	if err != nil || len(body) <= n || (name != "MQTT" && name != "MQIsdp") {
		return 0
	}
	return body[n]
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// DecodePacket decodes a packet from its first byte and its body (the
// bytes after the remaining length). version 0 accepts only CONNECT.
func DecodePacket(h byte, b []byte, version byte) (Packet, error) {
	t := PacketType(h >> 4)
	flags := h & 0x0F
	if version == 0 && t != CONNECT {
		return nil, ProtocolError // [MQTT-3.1.0-1]
	}
	if version != 0 && t == CONNECT {
		return nil, ProtocolError // [MQTT-3.1.0-2]
	}
	switch t {
	case PUBLISH:
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		if flags != 0x02 {
			return nil, MalformedPacket // [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]
		}
	case 0:
		return nil, MalformedPacket
	case AUTH:
		if version != Version5 || flags != 0 {
			return nil, MalformedPacket
		}
	default:
		if flags != 0 {
			return nil, MalformedPacket // [MQTT-2.2.2-1]
		}
	}
	d := decoder{b: b}
	var p Packet
	switch t {
	case CONNECT:
		p = d.connect()
	case CONNACK:
		p = d.connack(version)
	case PUBLISH:
		p = d.publish(flags, version)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		p = d.ack(t, version)
	case SUBSCRIBE:
		p = d.subscribe(version)
	case SUBACK:
		p = d.suback(version)
	case UNSUBSCRIBE:
		p = d.unsubscribe(version)
	case UNSUBACK:
		p = d.unsuback(version)
	case PINGREQ:
		p = &Pingreq{}
	case PINGRESP:
		p = &Pingresp{}
	case DISCONNECT:
		p = d.disconnect(version)
	case AUTH:
		p = d.auth()
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, MalformedPacket // trailing bytes
	}
	return p, nil
}

// decoder consumes b; the first error sticks and later reads are no-ops.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte_() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(MalformedPacket)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint16() uint16 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 2 {
		d.fail(MalformedPacket)
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) string_() string {
	if d.err != nil {
		return ""
	}
	s, n, err := decodeString(d.b)
	if err != nil {
		d.fail(err)
		return ""
	}
	d.b = d.b[n:]
	return s
}

func (d *decoder) binary() []byte {
	if d.err != nil {
		return nil
	}
	v, n, err := decodeBinary(d.b)
	if err != nil {
		d.fail(err)
		return nil
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) props(t PacketType, p *Properties) {
	if d.err != nil {
		return
	}
	n, err := decodeProperties(d.b, t, p)
	if err != nil {
		d.fail(err)
		return
	}
	d.b = d.b[n:]
}

func (d *decoder) packetID() uint16 {
	id := d.uint16()
	if id == 0 && d.err == nil {
		d.fail(ProtocolError) // [MQTT-2.2.1-3]: non-zero
	}
	return id
}

func (d *decoder) connect() *Connect {
	c := &Connect{}
	c.ProtocolName = d.string_()
	c.Version = d.byte_()
	if d.err != nil {
		return c
	}
	switch {
	case c.ProtocolName == "MQIsdp" && c.Version == Version31:
	case c.ProtocolName == "MQTT" && (c.Version == Version311 || c.Version == Version5):
	case c.ProtocolName == "MQTT" || c.ProtocolName == "MQIsdp":
		d.fail(UnsupportedProtocolVersion) // CONNACK 0x01 / 0x84
		return c
	default:
		d.fail(ProtocolError) // [MQTT-3.1.2-1]: close without CONNACK... a v5 server may answer 0x84
		return c
	}
	flags := d.byte_()
	if flags&0x01 != 0 {
		d.fail(MalformedPacket) // [MQTT-3.1.2-3]
	}
	c.CleanStart = flags&0x02 != 0
	willFlag := flags&0x04 != 0
	willQoS := flags >> 3 & 0x03
	willRetain := flags&0x20 != 0
	c.PasswordFlag = flags&0x40 != 0
	c.UsernameFlag = flags&0x80 != 0
	if !willFlag && (willQoS != 0 || willRetain) {
		d.fail(MalformedPacket) // [MQTT-3.1.2-11], [MQTT-3.1.2-13]
	}
	if willQoS == 3 {
		d.fail(MalformedPacket) // [MQTT-3.1.2-12]
	}
	if c.Version == Version311 && c.PasswordFlag && !c.UsernameFlag {
		d.fail(MalformedPacket) // [MQTT-3.1.2-22]
	}
	c.KeepAlive = d.uint16()
	if c.Version == Version5 {
		d.props(CONNECT, &c.Props)
		if c.Props.Has(PropAuthData) && !c.Props.Has(PropAuthMethod) {
			d.fail(ProtocolError)
		}
	}
	c.ClientID = d.string_()
	if willFlag {
		w := &Will{QoS: willQoS, Retain: willRetain}
		if c.Version == Version5 {
			d.props(willProps, &w.Props)
		}
		w.Topic = d.string_()
		w.Payload = d.binary()
		c.Will = w
	}
	if c.UsernameFlag {
		c.Username = d.string_()
	}
	if c.PasswordFlag {
		c.Password = d.binary()
	}
	return c
}

func (d *decoder) connack(version byte) *Connack {
	c := &Connack{}
	f := d.byte_()
	if f&0xFE != 0 {
		d.fail(MalformedPacket)
	}
	c.SessionPresent = f&1 != 0
	c.Reason = ReasonCode(d.byte_())
	if version == Version5 {
		d.props(CONNACK, &c.Props)
	}
	return c
}

func (d *decoder) publish(flags byte, version byte) *Publish {
	p := &Publish{Dup: flags&0x08 != 0, QoS: flags >> 1 & 0x03, Retain: flags&0x01 != 0}
	if p.QoS == 3 {
		d.fail(MalformedPacket) // [MQTT-3.3.1-4]
		return p
	}
	if p.QoS == 0 && p.Dup {
		d.fail(MalformedPacket) // [MQTT-3.3.1-2]
		return p
	}
	p.Topic = d.string_()
	if p.QoS > 0 {
		p.PacketID = d.packetID()
	}
	if version == Version5 {
		d.props(PUBLISH, &p.Props)
	}
	if d.err == nil {
		p.Payload = d.b
		d.b = nil
	}
	return p
}

func (d *decoder) ack(t PacketType, version byte) *Ack {
	a := &Ack{Kind: t}
	a.PacketID = d.packetID()
	if version == Version5 && len(d.b) > 0 {
		a.Reason = ReasonCode(d.byte_())
		if len(d.b) > 0 {
			d.props(t, &a.Props)
		}
	}
	return a
}

func (d *decoder) subscribe(version byte) *Subscribe {
	s := &Subscribe{}
	s.PacketID = d.packetID()
	if version == Version5 {
		d.props(SUBSCRIBE, &s.Props)
	}
	for d.err == nil && len(d.b) > 0 {
		f := d.string_()
		o := d.byte_()
		if d.err != nil {
			break
		}
		sub := Subscription{Filter: f, QoS: o & 0x03}
		if version == Version5 {
			sub.NoLocal = o&0x04 != 0
			sub.RetainAsPublished = o&0x08 != 0
			sub.RetainHandling = o >> 4 & 0x03
			if o&0xC0 != 0 || sub.RetainHandling == 3 {
				d.fail(MalformedPacket) // [MQTT-3.8.3-5]
			}
		} else if o&0xFC != 0 {
			d.fail(MalformedPacket) // [MQTT-3.8.3-4] (3.1.1)
		}
		if sub.QoS == 3 {
			d.fail(MalformedPacket)
		}
		s.Subs = append(s.Subs, sub)
	}
	if d.err == nil && len(s.Subs) == 0 {
		d.fail(ProtocolError) // [MQTT-3.8.3-3]
	}
	return s
}

func (d *decoder) suback(version byte) *Suback {
	s := &Suback{}
	s.PacketID = d.uint16()
	if version == Version5 {
		d.props(SUBACK, &s.Props)
	}
	for d.err == nil && len(d.b) > 0 {
		s.Reasons = append(s.Reasons, ReasonCode(d.byte_()))
	}
	return s
}

func (d *decoder) unsubscribe(version byte) *Unsubscribe {
	u := &Unsubscribe{}
	u.PacketID = d.packetID()
	if version == Version5 {
		d.props(UNSUBSCRIBE, &u.Props)
	}
	for d.err == nil && len(d.b) > 0 {
		u.Filters = append(u.Filters, d.string_())
	}
	if d.err == nil && len(u.Filters) == 0 {
		d.fail(ProtocolError) // [MQTT-3.10.3-2]
	}
	return u
}

func (d *decoder) unsuback(version byte) *Unsuback {
	u := &Unsuback{}
	u.PacketID = d.uint16()
	if version == Version5 {
		d.props(UNSUBACK, &u.Props)
		for d.err == nil && len(d.b) > 0 {
			u.Reasons = append(u.Reasons, ReasonCode(d.byte_()))
		}
	}
	return u
}

func (d *decoder) disconnect(version byte) *Disconnect {
	x := &Disconnect{}
	if version == Version5 && len(d.b) > 0 {
		x.Reason = ReasonCode(d.byte_())
		if len(d.b) > 0 {
			d.props(DISCONNECT, &x.Props)
		}
	}
	return x
}

func (d *decoder) auth() *Auth {
	a := &Auth{}
	if len(d.b) > 0 {
		a.Reason = ReasonCode(d.byte_())
		if len(d.b) > 0 {
			d.props(AUTH, &a.Props)
		}
	}
	return a
}

// AppendPacket appends the encoding of p for protocol level version.
// Fields the version lacks (properties, reason codes in 3.x) are left
// out.
func AppendPacket(dst []byte, p Packet, version byte) []byte {
	v5 := version == Version5
	var h byte = byte(p.Type()) << 4
	body := make([]byte, 0, 32)
	switch p := p.(type) {
	case *Connect:
		body = appendString(body, p.ProtocolName)
		body = append(body, p.Version)
		var f byte
		if p.CleanStart {
			f |= 0x02
		}
		if p.Will != nil {
			f |= 0x04 | p.Will.QoS<<3
			if p.Will.Retain {
				f |= 0x20
			}
		}
		if p.PasswordFlag {
			f |= 0x40
		}
		if p.UsernameFlag {
			f |= 0x80
		}
		body = append(body, f)
		body = binary.BigEndian.AppendUint16(body, p.KeepAlive)
		v5 = p.Version == Version5
		if v5 {
			body = appendProperties(body, &p.Props)
		}
		body = appendString(body, p.ClientID)
		if p.Will != nil {
			if v5 {
				body = appendProperties(body, &p.Will.Props)
			}
			body = appendString(body, p.Will.Topic)
			body = appendBinary(body, p.Will.Payload)
		}
		if p.UsernameFlag {
			body = appendString(body, p.Username)
		}
		if p.PasswordFlag {
			body = appendBinary(body, p.Password)
		}
	case *Connack:
		var f byte
		if p.SessionPresent {
			f = 1
		}
		body = append(body, f, byte(p.Reason))
		if v5 {
			body = appendProperties(body, &p.Props)
		}
	case *Publish:
		h |= p.QoS << 1
		if p.Dup {
			h |= 0x08
		}
		if p.Retain {
			h |= 0x01
		}
		body = appendString(body, p.Topic)
		if p.QoS > 0 {
			body = binary.BigEndian.AppendUint16(body, p.PacketID)
		}
		if v5 {
			body = appendProperties(body, &p.Props)
		}
		body = append(body, p.Payload...)
	case *Ack:
		if p.Kind == PUBREL {
			h |= 0x02
		}
		body = binary.BigEndian.AppendUint16(body, p.PacketID)
		if v5 {
			hasProps := p.Props.Present != 0 || len(p.Props.User) > 0
			if p.Reason != Success || hasProps {
				body = append(body, byte(p.Reason))
			}
			if hasProps {
				body = appendProperties(body, &p.Props)
			}
		}
	case *Subscribe:
		h |= 0x02
		body = binary.BigEndian.AppendUint16(body, p.PacketID)
		if v5 {
			body = appendProperties(body, &p.Props)
		}
		for _, s := range p.Subs {
			body = appendString(body, s.Filter)
			o := s.QoS
			if v5 {
				if s.NoLocal {
					o |= 0x04
				}
				if s.RetainAsPublished {
					o |= 0x08
				}
				o |= s.RetainHandling << 4
			}
			body = append(body, o)
		}
	case *Suback:
		body = binary.BigEndian.AppendUint16(body, p.PacketID)
		if v5 {
			body = appendProperties(body, &p.Props)
		}
		for _, r := range p.Reasons {
			body = append(body, byte(r))
		}
	case *Unsubscribe:
		h |= 0x02
		body = binary.BigEndian.AppendUint16(body, p.PacketID)
		if v5 {
			body = appendProperties(body, &p.Props)
		}
		for _, f := range p.Filters {
			body = appendString(body, f)
		}
	case *Unsuback:
		body = binary.BigEndian.AppendUint16(body, p.PacketID)
		if v5 {
			body = appendProperties(body, &p.Props)
			for _, r := range p.Reasons {
				body = append(body, byte(r))
			}
		}
	case *Pingreq, *Pingresp:
	case *Disconnect:
		if v5 {
			hasProps := p.Props.Present != 0 || len(p.Props.User) > 0
			if p.Reason != Success || hasProps {
				body = append(body, byte(p.Reason))
			}
			if hasProps {
				body = appendProperties(body, &p.Props)
			}
		}
	case *Auth:
		hasProps := p.Props.Present != 0 || len(p.Props.User) > 0
		if p.Reason != Success || hasProps {
			body = append(body, byte(p.Reason))
		}
		if hasProps {
			body = appendProperties(body, &p.Props)
		}
	default:
		panic(fmt.Sprintf("mqtt: AppendPacket of %T", p))
	}
	dst = append(dst, h)
	dst = appendVarint(dst, len(body))
	return append(dst, body...)
}

// decodeVarint reads a variable byte integer (at most 4 bytes).
func decodeVarint(b []byte) (int, int, error) {
	var n, shift int
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, MalformedPacket
		}
		n |= int(b[i]&0x7F) << shift
		shift += 7
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
	}
	return 0, 0, MalformedPacket
}

func appendVarint(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7F)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func varintLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

func decodeBinary(b []byte) ([]byte, int, error) {
	if len(b) < 2 {
		return nil, 0, MalformedPacket
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return nil, 0, MalformedPacket
	}
	return b[2 : 2+n : 2+n], 2 + n, nil
}

func decodeString(b []byte) (string, int, error) {
	v, n, err := decodeBinary(b)
	if err != nil {
		return "", 0, err
	}
	if !validUTF8(v) {
		return "", 0, MalformedPacket // [MQTT-1.5.4-1], [MQTT-1.5.4-2]
	}
	return string(v), n, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBinary(b []byte, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}
