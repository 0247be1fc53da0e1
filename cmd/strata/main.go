package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"strata/tools/logtool"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit code: 0, or 1 with
// the error on stderr.
func run(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		msg := err.Error()
		var ae *apiError
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		fmt.Fprintf(os.Stderr, "strata: %s\n", msg)
		return 1
	}
	return 0
}

// newRootCommand builds the `strata` command tree.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "strata",
		Short: "Strata: one durable log served to Kafka, MQTT and training-data clients",
		Long: `Strata stores an ordered, durable log (Kafka v2 record batches) and serves it
to Kafka clients, MQTT devices and dataset readers from one binary.

Start a server with "strata serve"; manage it with "strata topic",
"strata group" and "strata cluster".`,
		SilenceUsage:  true, // a failed command prints its error, not the usage text
		SilenceErrors: true, // run prints the error once, as "strata: ..."
	}
	root.AddCommand(
		newServeCommand(),
		newVersionCommand(),
		newTopicCommand(),
		newClusterCommand(),
		newGroupCommand(),
		newBenchCommand(),
		newUserCommand(),
		newACLCommand(),
		newMQTTCommand(),
		newDatasetCommand(),
		newRouteCommand(),
	)
	// Subcommands from other packages (tools/*), one root.AddCommand call each.
	root.AddCommand(logtool.NewCommand())
	return root
}
