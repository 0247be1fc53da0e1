package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"strata/logstore"
)

// topicCLI holds the flags shared by every `strata topic` subcommand.
type topicCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newTopicCommand() *cobra.Command {
	tc := &topicCLI{}
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics on a running server",
		Long: `Manage topics through a running server's admin API (/api/v1).

The server is --server, else STRATA_SERVER, else ` + defaultServer + `.
Per-topic config keys: ` + strings.Join(logstore.ConfigKeys(), ", ") + `.`,
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&tc.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&tc.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&tc.timeout, "timeout", 30*time.Second, "request timeout")
	cmd.AddCommand(tc.createCommand(), tc.listCommand(), tc.describeCommand(), tc.alterCommand(), tc.deleteCommand())
	return cmd
}

func (tc *topicCLI) client() (*apiClient, error) {
	if tc.output != "table" && tc.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", tc.output)
	}
	return newAPIClient(tc.server, tc.timeout)
}

func (tc *topicCLI) createCommand() *cobra.Command {
	var partitions int32
	var configs []string
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a topic",
		Example: "  strata topic create orders --partitions 3 --config retention.ms=86400000",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := tc.client()
			if err != nil {
				return err
			}
			kv, err := parseKeyValues(configs)
			if err != nil {
				return err
			}
			var t topicJSON
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/topics", createTopicRequest{Name: args[0], Partitions: &partitions, Configs: kv}, &t); err != nil {
				return err
			}
			return tc.printTopic(cmd.OutOrStdout(), t)
		},
	}
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", 1, "number of partitions")
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	return cmd
}

func (tc *topicCLI) listCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := tc.client()
			if err != nil {
				return err
			}
			var list topicListJSON
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/topics", nil, &list); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if tc.output == "json" {
				return writeIndentedJSON(w, list)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPARTITIONS\tMODE\tENGINE\tBYTES")
			for _, t := range list.Topics {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\n", t.Name, t.Partitions, t.Configs[logstore.KeyStorageMode], t.Configs[logstore.KeyStorageEngine], t.Bytes)
			}
			return tw.Flush()
		},
	}
}

func (tc *topicCLI) describeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's config and partitions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := tc.client()
			if err != nil {
				return err
			}
			var t topicJSON
			if err := c.do(cmd.Context(), http.MethodGet, topicPath(args[0]), nil, &t); err != nil {
				return err
			}
			return tc.printTopic(cmd.OutOrStdout(), t)
		},
	}
}

func (tc *topicCLI) alterCommand() *cobra.Command {
	var set, del []string
	var partitions int32
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Change a topic's config or grow its partition count",
		Long: `Set config keys (--config key=value), return keys to their defaults
(--delete-config key), or grow the topic to --partitions N. storage.mode and
storage.engine cannot change after creation.`,
		Example: "  strata topic alter orders --config retention.ms=3600000 --delete-config segment.bytes\n" +
			"  strata topic alter orders --partitions 6",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := tc.client()
			if err != nil {
				return err
			}
			kv, err := parseKeyValues(set)
			if err != nil {
				return err
			}
			if len(kv) == 0 && len(del) == 0 && partitions == 0 {
				return fmt.Errorf("nothing to alter: give --config key=value, --delete-config key or --partitions N")
			}
			var t topicJSON
			if len(kv) > 0 || len(del) > 0 {
				if err := c.do(cmd.Context(), http.MethodPatch, topicPath(args[0]), alterTopicRequest{Set: kv, Delete: del}, &t); err != nil {
					return err
				}
			}
			if partitions != 0 {
				if err := c.do(cmd.Context(), http.MethodPost, topicPath(args[0])+"/partitions", createPartitionsRequest{Count: partitions}, &t); err != nil {
					return err
				}
			}
			return tc.printTopic(cmd.OutOrStdout(), t)
		},
	}
	cmd.Flags().StringArrayVarP(&set, "config", "c", nil, "topic config key=value to set (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete-config", nil, "topic config key to return to its default (repeatable)")
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", 0, "grow the topic to this many partitions")
	return cmd
}

func (tc *topicCLI) deleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and all its data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := tc.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, topicPath(args[0]), nil, nil); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if tc.output == "json" {
				return writeIndentedJSON(w, map[string]string{"deleted": args[0]})
			}
			_, err = fmt.Fprintf(w, "deleted topic %s\n", args[0])
			return err
		},
	}
}

// printTopic writes one topic as JSON, or as a header, a config table
// (value and whether it is the default) and a partition table.
func (tc *topicCLI) printTopic(w io.Writer, t topicJSON) error {
	if tc.output == "json" {
		return writeIndentedJSON(w, t)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Topic:\t%s\n", t.Name)
	fmt.Fprintf(tw, "ID:\t%s\n", t.ID)
	fmt.Fprintf(tw, "Partitions:\t%d\n", t.Partitions)
	fmt.Fprintf(tw, "Created:\t%s\n", t.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "Bytes:\t%d\n", t.Bytes)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIG\tVALUE\tSOURCE")
	for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
		source := "default"
		if _, ok := t.Overrides[k]; ok {
			source = "override"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k, t.Configs[k], source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tENGINE\tSTART OFFSET\tHIGH WATERMARK\tBYTES\tSEGMENTS")
	for _, p := range t.PartitionStats {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\n", p.Partition, p.Engine, p.LogStartOffset, p.HighWatermark, p.Bytes, p.Segments)
	}
	return tw.Flush()
}

// parseKeyValues turns repeated key=value flags into a map; a flag without
// '=', an empty key or a key given twice is an error naming it.
func parseKeyValues(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q: want key=value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--config: %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func topicPath(name string) string { return "/api/v1/topics/" + url.PathEscape(name) }

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
