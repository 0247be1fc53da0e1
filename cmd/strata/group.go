package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// groupCLI holds the flags shared by every `strata group` subcommand.
type groupCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newGroupCommand() *cobra.Command {
	gc := &groupCLI{}
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, commit offsets for and delete consumer groups",
		Long: `Manage consumer group offsets through a running server's admin API
(/api/v1/groups). Offsets live in meta's groups shard, so any node of a
cluster can be asked and answers the same; a commit is one raft proposal
however many partitions it names.`,
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&gc.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&gc.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&gc.timeout, "timeout", 30*time.Second, "request timeout")
	cmd.AddCommand(gc.listCommand(), gc.describeCommand(), gc.commitCommand(), gc.deleteCommand())
	return cmd
}

func (gc *groupCLI) client() (*apiClient, error) {
	if gc.output != "table" && gc.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", gc.output)
	}
	return newAPIClient(gc.server, gc.timeout)
}

func groupPath(group string) string { return "/api/v1/groups/" + url.PathEscape(group) }

func (gc *groupCLI) listCommand() *cobra.Command {
	return listCommand("List consumer groups (those with members or committed offsets)", gc.client, &gc.output,
		"/api/v1/groups", "GROUP\tSTATE\tMEMBERS\tOFFSETS", func(w io.Writer, out groupListJSON) {
			for _, g := range out.Groups {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", g.Group, g.State, g.Members, g.Offsets)
			}
		})
}

func (gc *groupCLI) describeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's state and committed offsets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := gc.client()
			if err != nil {
				return err
			}
			var out groupOffsetsJSON
			if err := c.do(cmd.Context(), http.MethodGet, groupPath(args[0])+"/offsets", nil, &out); err != nil {
				return err
			}
			if gc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			return printGroup(cmd.OutOrStdout(), out)
		},
	}
}

func printGroup(w io.Writer, g groupOffsetsJSON) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Group:\t%s\n", g.Group)
	fmt.Fprintf(tw, "State:\t%s\n", g.State)
	if g.Metadata != nil {
		fmt.Fprintf(tw, "Generation:\t%d\n", g.Metadata.Generation)
		fmt.Fprintf(tw, "Members:\t%d\n", len(g.Metadata.Members))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tOFFSET\tCOMMITTED AT\tMETADATA")
	for _, o := range g.Offsets {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", o.Topic, o.Partition, o.Offset,
			time.UnixMilli(o.CommitTimeMs).UTC().Format(time.RFC3339), o.Metadata)
	}
	return tw.Flush()
}

// parseOffsetFlag parses --offset topic:partition=offset. The partition
// follows the last ':', so topic names need no escaping (':' is not legal
// in one anyway).
func parseOffsetFlag(s string) (offsetJSON, error) {
	tp, off, ok := strings.Cut(s, "=")
	i := strings.LastIndexByte(tp, ':')
	if !ok || i <= 0 {
		return offsetJSON{}, fmt.Errorf("--offset %q: want topic:partition=offset", s)
	}
	p, err := strconv.ParseInt(tp[i+1:], 10, 32)
	if err != nil || p < 0 {
		return offsetJSON{}, fmt.Errorf("--offset %q: partition %q is not a partition number", s, tp[i+1:])
	}
	o, err := strconv.ParseInt(off, 10, 64)
	if err != nil || o < 0 {
		return offsetJSON{}, fmt.Errorf("--offset %q: offset %q is not a non-negative integer", s, off)
	}
	return offsetJSON{Topic: tp[:i], Partition: int32(p), Offset: o}, nil
}

func (gc *groupCLI) commitCommand() *cobra.Command {
	var offsets []string
	var metadata string
	cmd := &cobra.Command{
		Use:   "commit GROUP --offset topic:partition=offset ...",
		Short: "Commit offsets for a group, all of them in one proposal",
		Long: `Commit offsets for a group (creating it if needed), as a consumer's
OffsetCommit would: every --offset in one raft proposal, all or nothing. Each
topic and partition must exist. Setting offsets under a running consumer
group races its own commits; stop the consumers first.`,
		Example: "  strata group commit billing --offset orders:0=1200 --offset orders:1=980",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(offsets) == 0 {
				return fmt.Errorf("give at least one --offset topic:partition=offset")
			}
			req := commitOffsetsRequest{}
			seen := map[string]bool{}
			for _, s := range offsets {
				o, err := parseOffsetFlag(s)
				if err != nil {
					return err
				}
				key := fmt.Sprintf("%s:%d", o.Topic, o.Partition)
				if seen[key] {
					return fmt.Errorf("--offset: %s is given twice", key)
				}
				seen[key] = true
				o.Metadata = metadata
				req.Offsets = append(req.Offsets, o)
			}
			c, err := gc.client()
			if err != nil {
				return err
			}
			var out commitOffsetsJSON
			if err := c.do(cmd.Context(), http.MethodPost, groupPath(args[0])+"/offsets", req, &out); err != nil {
				return err
			}
			if gc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "committed %d offsets for group %s\n", out.Committed, out.Group)
			return err
		},
	}
	cmd.Flags().StringArrayVar(&offsets, "offset", nil, "topic:partition=offset (repeatable)")
	cmd.Flags().StringVar(&metadata, "metadata", "", "metadata string stored with every offset")
	return cmd
}

func (gc *groupCLI) deleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP",
		Short: "Delete a group and its committed offsets (refused while it has members)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := gc.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, groupPath(args[0]), nil, nil); err != nil {
				return err
			}
			if gc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), map[string]string{"deleted": args[0]})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s\n", args[0])
			return err
		},
	}
}
