package mqtt

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// goldenHex turns annotated golden lines into bytes: hex digits before
// '|' on each line, the rest is comment.
func goldenHex(t testing.TB, input string) []byte {
	t.Helper()
	var b []byte
	for _, line := range strings.Split(input, "\n") {
		if i := strings.IndexByte(line, '|'); i >= 0 {
			line = line[:i]
		}
		h := strings.Join(strings.Fields(line), "")
		v, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		b = append(b, v...)
	}
	return b
}

// goldenPacket returns the bytes of the golden packet called name in
// testdata/packets.txt (for the server tests).
func goldenPacket(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/packets.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if !strings.Contains(" "+l+" ", " name="+name+" ") {
			continue
		}
		var body []string
		for _, x := range lines[i+1:] {
			if x == "----" {
				break
			}
			body = append(body, x)
		}
		return goldenHex(t, strings.Join(body, "\n"))
	}
	t.Fatalf("no golden packet %q", name)
	return nil
}

func TestGoldenPackets(t *testing.T) {
	datadriven.RunTest(t, "testdata/packets.txt", func(t *testing.T, d *datadriven.TestData) string {
		var v, max int
		for _, a := range d.CmdArgs {
			switch a.Key {
			case "v":
				v, _ = strconv.Atoi(a.Vals[0])
			case "max":
				max, _ = strconv.Atoi(a.Vals[0])
			}
		}
		in := goldenHex(t, d.Input)
		var (
			p   Packet
			err error
		)
		switch d.Cmd {
		case "decode":
			if len(in) < 2 {
				t.Fatal("short golden packet")
			}
			// The fixed header's remaining length must be right.
			n, used, verr := decodeVarint(in[1:])
			if verr != nil || n != len(in)-1-used {
				t.Fatalf("golden remaining length %d, body is %d bytes", n, len(in)-1-used)
			}
			p, err = DecodePacket(in[0], in[1+used:], byte(v))
		case "read":
			p, err = ReadPacket(bufio.NewReader(bytes.NewReader(in)), byte(v), uint32(max))
		default:
			t.Fatalf("unknown command %s", d.Cmd)
		}
		if err != nil {
			return "error: " + err.Error()
		}
		if d.Cmd == "decode" && !d.HasArg("noroundtrip") {
			ver := byte(v)
			if c, ok := p.(*Connect); ok {
				ver = c.Version
			}
			if out := AppendPacket(nil, p, ver); !bytes.Equal(out, in) {
				t.Errorf("re-encoded:\n% x\nwant:\n% x", out, in)
			}
		}
		return describe(p)
	})
}

// describe prints a packet with its non-zero fields only.
func describe(p Packet) string {
	return p.Type().String() + " " + describeValue(reflect.ValueOf(p).Elem())
}

func describeValue(v reflect.Value) string {
	var parts []string
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		if name == "Kind" || name == "Present" || f.IsZero() {
			if !(name == "SessionExpiry" && v.Type() == reflect.TypeOf(Properties{}) && v.Addr().Interface().(*Properties).Has(PropSessionExpiry)) {
				continue
			}
		}
		parts = append(parts, name+":"+describeField(f))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func describeField(f reflect.Value) string {
	switch x := f.Interface().(type) {
	case []byte:
		return strconv.Quote(string(x))
	case ReasonCode:
		return fmt.Sprintf("0x%02X", byte(x))
	case []ReasonCode:
		s := make([]string, len(x))
		for i, r := range x {
			s[i] = fmt.Sprintf("0x%02X", byte(r))
		}
		return "[" + strings.Join(s, " ") + "]"
	case Properties, Will, Subscription:
		return describeValue(f)
	case *Will:
		return describeValue(f.Elem())
	case []Subscription:
		s := make([]string, len(x))
		for i := range x {
			s[i] = describeValue(f.Index(i))
		}
		return "[" + strings.Join(s, " ") + "]"
	}
	return fmt.Sprintf("%+v", f.Interface())
}

func TestPropertiesRoundTrip(t *testing.T) {
	var p Properties
	p.PayloadFormat = 1
	p.Set(PropPayloadFormat)
	p.MessageExpiry = 0 // present and zero
	p.Set(PropMessageExpiry)
	p.SubscriptionIDs = []uint32{1, 268435455}
	p.User = []UserProperty{{"a", "1"}, {"a", "2"}}
	b := appendProperties(nil, &p)
	var q Properties
	n, err := decodeProperties(b, PUBLISH, &q)
	if err != nil || n != len(b) {
		t.Fatalf("decode: %v (%d of %d bytes)", err, n, len(b))
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip:\n%+v\n%+v", p, q)
	}
}

func TestMatchFilter(t *testing.T) {
	for _, c := range []struct {
		f, t string
		want bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false}, {"a/#", "a", true},
		{"a/#", "a/b/c", true}, {"#", "a/b", true}, {"+/+", "a/b", true}, {"+", "a/b", false},
		{"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true},
		{"a/+/c", "a//c", true}, {"+", "", true}, {"/+", "/a", true}, {"a/b", "a/c", false},
	} {
		if got := matchFilter(c.f, c.t); got != c.want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", c.f, c.t, got, c.want)
		}
	}
}

func TestValidFilters(t *testing.T) {
	for f, ok := range map[string]bool{"a/#": true, "#": true, "a/+/b": true, "a#": false, "a/#/b": false, "a+": false, "": false, "+": true} {
		if got := validTopicFilter(f) == nil; got != ok {
			t.Errorf("validTopicFilter(%q) = %v", f, got)
		}
	}
	for f, ok := range map[string]bool{"$share/g/a/#": true, "$share/g/": false, "$share//a": false, "$share/g": false, "$share/g+/a": false} {
		_, _, err := parseShare(f)
		if got := err == nil; got != ok {
			t.Errorf("parseShare(%q) err = %v", f, err)
		}
	}
}
