package logtool

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// NewCommand returns `strata log` with its dump, verify and stats subcommands.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Inspect log files on disk (dump, verify, stats)",
		Long: "Inspect a data directory's log files directly, without a server.\n" +
			"Run these on a stopped node or a copy of its data directory.",
	}
	cmd.AddCommand(dumpCommand(), verifyCommand(), statsCommand())
	return cmd
}

func dumpCommand() *cobra.Command {
	var opts DumpOptions
	cmd := &cobra.Command{
		Use:   "dump <partition-dir>",
		Short: "Print the batches and records of one partition directory",
		Example: "  strata log dump data/topics/orders-0\n" +
			"  strata log dump data/topics/orders-0 --from 100 --to 200 --json",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return Dump(args[0], opts, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object per batch (JSON lines)")
	cmd.Flags().Int64Var(&opts.From, "from", 0, "first offset to print")
	cmd.Flags().Int64Var(&opts.To, "to", 0, "last offset to print (inclusive; 0 = to the end)")
	cmd.Flags().IntVar(&opts.Preview, "preview", 64, "bytes of each key and value to show in text output")
	return cmd
}

func verifyCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:          "verify <data-dir>",
		Short:        "Check every CRC, index entry and offset continuity; exit 1 at the first corruption",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := Verify(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(rep)
			}
			for _, n := range rep.Notes {
				fmt.Fprintf(out, "note: %s\n", n)
			}
			fmt.Fprintf(out, "ok: %d partitions, %d segments, %d batches, %d bytes verified\n", rep.Partitions, rep.Segments, rep.Batches, rep.Bytes)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func statsCommand() *cobra.Command {
	var asJSON bool
	var opts StatsOptions
	cmd := &cobra.Command{
		Use:          "stats <data-dir>",
		Short:        "Per topic/partition sizes, offsets, segment counts and engines",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := CollectStats(args[0], opts, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(st)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITION\tMODE\tENGINE\tSEGMENTS\tBATCHES\tBYTES\tSTART OFFSET\tNEXT OFFSET")
			for _, p := range st.Partitions {
				if p.NextOffset < 0 {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t-\t-\t-\t-\t-\n", p.Topic, p.Partition, p.Mode, p.Engine)
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", p.Topic, p.Partition, p.Mode, p.Engine, p.Segments, p.Batches, p.Bytes, p.StartOffset, p.NextOffset)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "lite database: %d bytes\n", st.LiteBytes)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().StringVar(&opts.Server, "server", os.Getenv("STRATA_SERVER"),
		"a running strata's HTTP address (or STRATA_SERVER): topic modes and engines, and lite/memory partition offsets, come from its admin API")
	return cmd
}
