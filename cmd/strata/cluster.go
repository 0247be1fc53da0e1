package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// clusterCLI holds the flags shared by every `strata cluster` subcommand.
type clusterCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newClusterCommand() *cobra.Command {
	cc := &clusterCLI{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the meta cluster, add and remove nodes",
		Long: `Inspect and change the meta (Dragonboat) cluster through a running server's
admin API (/api/v1/cluster). Any node can be asked; membership changes go
through each shard's leader.

To grow a cluster: "strata cluster add-node ID RAFT_ADDR" against a running
node, then start the new node with --node-id ID --raft-addr RAFT_ADDR --join.
Once added, the new node counts towards the quorum, so start it promptly: a
single node that adds a second has no quorum until the second one runs.
A removed node ID cannot be added back; give a replacement a new ID.`,
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&cc.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&cc.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&cc.timeout, "timeout", time.Minute, "request timeout")
	cmd.AddCommand(cc.statusCommand(), cc.addNodeCommand(), cc.removeNodeCommand())
	return cmd
}

func (cc *clusterCLI) client() (*apiClient, error) {
	if cc.output != "table" && cc.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", cc.output)
	}
	return newAPIClient(cc.server, cc.timeout)
}

func (cc *clusterCLI) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Members, leader, applied index and lag per shard, and the registered nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cc.client()
			if err != nil {
				return err
			}
			var st clusterJSON
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/cluster", nil, &st); err != nil {
				return err
			}
			if cc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), st)
			}
			return printClusterStatus(cmd.OutOrStdout(), st)
		},
	}
}

func printClusterStatus(w io.Writer, st clusterJSON) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Node:\t%d (%s)\n", st.NodeID, st.RaftAddr)
	fmt.Fprintf(tw, "Ready:\t%s\n", yesNo(st.Ready))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tLEADER\tTERM\tMEMBERS\tAPPLIED\tLAG")
	for _, s := range st.Shards {
		leader := "none"
		if s.LeaderID != 0 {
			leader = strconv.FormatUint(s.LeaderID, 10)
		}
		var members []string
		for _, id := range slices.Sorted(maps.Keys(s.Members)) {
			members = append(members, strconv.FormatUint(id, 10))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\n", s.Name, leader, s.Term, strings.Join(members, ","), s.Applied, s.Lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRAFT ADDRESS\tALIVE\tLAST SEEN\tADDRESSES")
	for _, n := range st.Nodes {
		var addrs []string
		for _, p := range slices.Sorted(maps.Keys(n.Addrs)) {
			addrs = append(addrs, p+"="+n.Addrs[p])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", n.ID, n.RaftAddr, yesNo(n.Alive), n.LastSeen.Format(time.RFC3339), strings.Join(addrs, " "))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (cc *clusterCLI) addNodeCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "add-node ID RAFT_ADDR",
		Short:   "Add a node to every meta shard (then start it with --join)",
		Example: "  strata cluster add-node 4 10.0.0.4:7100",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("node ID %q: want an integer from 1", args[0])
			}
			c, err := cc.client()
			if err != nil {
				return err
			}
			var out addNodeRequest
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/cluster/nodes", addNodeRequest{ID: id, RaftAddr: args[1]}, &out); err != nil {
				return err
			}
			if cc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "added node %d at %s; start it with --node-id %d --raft-addr %s --join\n", id, args[1], id, args[1])
			return err
		},
	}
}

func (cc *clusterCLI) removeNodeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove-node ID",
		Short: "Remove a node from every meta shard",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("node ID %q: want an integer from 1", args[0])
			}
			c, err := cc.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/cluster/nodes/"+args[0], nil, nil); err != nil {
				return err
			}
			if cc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), map[string]uint64{"removed": id})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed node %d\n", id)
			return err
		},
	}
}
