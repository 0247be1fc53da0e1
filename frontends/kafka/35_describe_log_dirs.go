package kafka

// DescribeLogDirs: v1-4
//
// One log directory, <DataDir>/topics, holding every partition (memory
// and lite partitions included, with the bytes their engine reports).
// Offset lag is 0 (no future replicas). v4 adds the file system's total
// and usable bytes.
//
// Version notes: v2 flexible; v3 top-level error code; v4 total and
// usable bytes.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 35, min: 1, max: 4, serve: handleDescribeLogDirs})
}

func handleDescribeLogDirs(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !s.authorize(rc, aclDescribe, "") {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.logDir()
	dir.TotalBytes, dir.UsableBytes = diskSpace(s.opts.DataDir)
	want := map[string][]int32{}
	for _, t := range req.Topics {
		want[t.Topic] = t.Partitions
	}
	for _, ti := range s.store.Topics() {
		ps, asked := want[ti.Name]
		if req.Topics != nil && !asked {
			continue
		}
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = ti.Name
		for p, st := range ti.PartitionStats {
			if req.Topics != nil && !slices.Contains(ps, int32(p)) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = int32(p), st.Bytes
			dt.Partitions = append(dt.Partitions, dp)
		}
		dir.Topics = append(dir.Topics, dt)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}
