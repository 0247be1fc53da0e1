package kafka

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessionSpec is the KIP-227 fetch session state machine as a
// data-driven spec (testdata/fetch_sessions; -rewrite regenerates).
// Commands, run against a Server over an in-memory store with topic t
// (2 partitions, 3 batches in partition 0):
//
//	produce partition=P                  append one batch to t/P
//	fetch session=ID epoch=E [parts=P@OFF,...] [forget=P,...] [max-bytes=N] [version=V]
//	                                     one Fetch; prints the error, the session id and
//	                                     each partition returned (hw, bytes > 0 or not)
func TestFetchSessionSpec(t *testing.T) {
	datadriven.Walk(t, "testdata/fetch_sessions", func(t *testing.T, path string) {
		s := fuzzServer(t)
		ti, err := s.store.Topic("t")
		if err != nil {
			t.Fatal(err)
		}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			arg := func(key string) string {
				for _, a := range d.CmdArgs {
					if a.Key == key && len(a.Vals) > 0 {
						return strings.Join(a.Vals, ",")
					}
				}
				return ""
			}
			num := func(key string, def int64) int64 {
				v := arg(key)
				if v == "" {
					return def
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					d.Fatalf(t, "%s=%q: %v", key, v, err)
				}
				return n
			}
			switch d.Cmd {
			case "produce":
				l, err := s.store.Partition("t", int32(num("partition", 0)))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				res, err := l.Append(testBatch(0))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				s.notify.signal(tp{"t", int32(num("partition", 0))})
				return fmt.Sprintf("offset %d\n", res.BaseOffset)
			case "fetch":
				v := int16(num("version", 13))
				req := kmsg.NewPtrFetchRequest()
				req.SetVersion(v)
				req.SessionID, req.SessionEpoch = int32(num("session", 0)), int32(num("epoch", -1))
				req.MaxBytes, req.MinBytes, req.MaxWaitMillis = int32(num("max-bytes", 1<<20)), 0, 0
				if ps := arg("parts"); ps != "" {
					rt := kmsg.NewFetchRequestTopic()
					rt.Topic, rt.TopicID = "t", ti.ID
					for _, p := range strings.Split(ps, ",") {
						part, off, _ := strings.Cut(p, "@")
						rp := kmsg.NewFetchRequestTopicPartition()
						pn, _ := strconv.Atoi(part)
						rp.Partition, rp.PartitionMaxBytes = int32(pn), 1<<20
						rp.FetchOffset, _ = strconv.ParseInt(off, 10, 64)
						rt.Partitions = append(rt.Partitions, rp)
					}
					req.Topics = append(req.Topics, rt)
				}
				if fs := arg("forget"); fs != "" {
					ft := kmsg.NewFetchRequestForgottenTopic()
					ft.Topic, ft.TopicID = "t", ti.ID
					for _, p := range strings.Split(fs, ",") {
						pn, _ := strconv.Atoi(p)
						ft.Partitions = append(ft.Partitions, int32(pn))
					}
					req.ForgottenTopics = append(req.ForgottenTopics, ft)
				}
				rc := &reqCtx{ctx: context.Background(), srv: s, conn: &connInfo{}, key: 1, version: v}
				kresp, err := handleFetch(rc, req)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				var b strings.Builder
				var resp *kmsg.FetchResponse
				switch r := kresp.(type) {
				case *fetchResponse:
					defer r.release()
					resp = r.FetchResponse
					for ti, topic := range resp.Topics {
						for pi := range topic.Partitions {
							if rr := r.reads[ti][pi]; rr != nil {
								topic.Partitions[pi].RecordBatches = make([]byte, rr.Size())
							}
						}
					}
				case *kmsg.FetchResponse:
					resp = r
				}
				code := "none"
				if resp.ErrorCode != 0 {
					code = kerr.ErrorForCode(resp.ErrorCode).(*kerr.Error).Message
				}
				fmt.Fprintf(&b, "error=%s session=%d\n", code, resp.SessionID)
				for _, topic := range resp.Topics {
					for _, p := range topic.Partitions {
						pe := "none"
						if p.ErrorCode != 0 {
							pe = kerr.ErrorForCode(p.ErrorCode).(*kerr.Error).Message
						}
						fmt.Fprintf(&b, "  t/%d hw=%d records=%v error=%s\n", p.Partition, p.HighWatermark, len(p.RecordBatches) > 0, pe)
					}
				}
				return b.String()
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
				return ""
			}
		})
	})
}
