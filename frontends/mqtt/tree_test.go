package mqtt

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

func TestTopicTree(t *testing.T) {
	tree := newTopicTree()
	srv := &Server{now: time.Now}
	sessions := map[string]*session{}
	sess := func(id string) *session {
		if sessions[id] == nil {
			sessions[id] = newSession(srv, id)
		}
		return sessions[id]
	}
	datadriven.RunTest(t, "testdata/tree.txt", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "sub", "unsub":
			lines := strings.Split(strings.TrimSpace(d.Input), "\n")
			if d.Input == "" {
				lines = nil
			}
			if len(d.CmdArgs) > 0 {
				lines = append(lines, d.Cmd+" "+strings.Join(argStrings(d), " "))
			}
			for _, l := range lines {
				f := strings.Fields(l)
				if len(f) == 0 {
					continue
				}
				cmd, args := d.Cmd, f
				if f[0] == "sub" || f[0] == "unsub" {
					cmd, args = f[0], f[1:]
				}
				group, filter, err := parseShare(args[1])
				if err != nil {
					return err.Error()
				}
				if cmd == "unsub" {
					if !tree.remove(filter, group, args[0]) {
						return "not subscribed"
					}
					continue
				}
				var qos byte
				if len(args) > 2 {
					q, _ := strconv.Atoi(args[2])
					qos = byte(q)
				}
				tree.add(filter, group, &subscriber{sess: sess(args[0]), opts: Subscription{Filter: args[1], QoS: qos}})
			}
			return "ok"
		case "match":
			m := tree.match(d.CmdArgs[0].Key)
			var out []string
			for _, s := range m.subs {
				out = append(out, s.sess.id+" "+s.opts.Filter)
			}
			sort.Strings(out)
			var groups []string
			for _, g := range m.groups {
				var ids []string
				for id := range g.group.members {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				groups = append(groups, "group "+g.group.name+": "+strings.Join(ids, " "))
			}
			sort.Strings(groups)
			return strings.Join(append(out, groups...), "\n")
		case "count":
			return strconv.Itoa(tree.count())
		}
		t.Fatalf("unknown command %s", d.Cmd)
		return ""
	})
}

// argStrings turns datadriven's parsed arguments back into words.
func argStrings(d *datadriven.TestData) []string {
	var out []string
	for _, a := range d.CmdArgs {
		s := a.Key
		if len(a.Vals) > 0 {
			s += "=" + strings.Join(a.Vals, ",")
		}
		out = append(out, s)
	}
	return out
}
