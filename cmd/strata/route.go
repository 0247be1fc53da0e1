package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"strata/meta"
)

// routeCLI holds the flags shared by every `strata route` subcommand.
type routeCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newRouteCommand() *cobra.Command {
	rc := &routeCLI{}
	cmd := &cobra.Command{
		Use:   "route",
		Short: "Add, list and remove MQTT <-> topic routing rules",
		Long: `Manage the unified pipeline's routing rules through a running server's
admin API (/api/v1/routes). A rule maps an MQTT topic filter to a topic
template, with {N} the N-th '+' level of the filter:

  strata route add 'factory/+/temp' factory-temp
      every factory's readings in one topic, keyed by the MQTT topic
  strata route add 'agents/+/inbox' 'agent-{1}' --direction both
      one lite topic per agent, created on first publish; a record a Kafka
      client produces to agent-7 (keyed agents/7/inbox, or with an
      mqtt.topic header) is delivered to MQTT subscribers

Rules live in meta; the MQTT frontend applies a change within a second.`,
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&rc.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&rc.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&rc.timeout, "timeout", 30*time.Second, "request timeout")
	cmd.AddCommand(rc.addCommand(), rc.listCommand(), rc.removeCommand())
	return cmd
}

func (rc *routeCLI) client() (*apiClient, error) {
	if rc.output != "table" && rc.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", rc.output)
	}
	return newAPIClient(rc.server, rc.timeout)
}

func (rc *routeCLI) addCommand() *cobra.Command {
	var req addRouteRequest
	cmd := &cobra.Command{
		Use:   "add FILTER TOPIC",
		Short: "Route MQTT publishes matching FILTER to TOPIC (a template with {1}, {2}, ...)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch req.KeyMode {
			case meta.RouteKeyMQTTTopic, meta.RouteKeyClientID:
			default:
				return fmt.Errorf("--key %q: want %s or %s", req.KeyMode, meta.RouteKeyMQTTTopic, meta.RouteKeyClientID)
			}
			switch req.Direction {
			case meta.RouteIn, meta.RouteOut, meta.RouteBoth:
			default:
				return fmt.Errorf("--direction %q: want in, out or both", req.Direction)
			}
			c, err := rc.client()
			if err != nil {
				return err
			}
			req.Filter, req.Topic = args[0], args[1]
			var out meta.RouteRule
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/routes", req, &out); err != nil {
				return err
			}
			if rc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Route %s added: %s -> %s (key %s, direction %s)\n", out.ID, out.Filter, out.Topic, out.KeyMode, out.Direction)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.KeyMode, "key", meta.RouteKeyMQTTTopic, "record key: mqtt-topic or client-id")
	f.StringVar(&req.Direction, "direction", meta.RouteIn, "in (MQTT -> topic), out (topic -> MQTT) or both")
	f.StringVar(&req.ID, "id", "", "rule id (default: a new r-... id)")
	return cmd
}

func (rc *routeCLI) listCommand() *cobra.Command {
	return listCommand("List the routing rules (in id order, the order they are tried)", rc.client, &rc.output,
		"/api/v1/routes", "ID\tFILTER\tTOPIC\tKEY\tDIRECTION", func(w io.Writer, out routeListJSON) {
			for _, r := range out.Routes {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Filter, r.Topic, r.KeyMode, r.Direction)
			}
		})
}

func (rc *routeCLI) removeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a routing rule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/routes/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Route %s removed\n", args[0])
			return nil
		},
	}
}
