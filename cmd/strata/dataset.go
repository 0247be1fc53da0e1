package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"strata/frontends/dataset"
)

// datasetCLI holds the flags shared by every `strata dataset` subcommand.
type datasetCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newDatasetCommand() *cobra.Command {
	dc := &datasetCLI{}
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Register, list, describe, delete and read training datasets",
		Long: `Manage datasets through a running server's admin API (/api/v1/datasets).
A dataset is a name bound to an object-store prefix of Parquet, Arrow IPC,
JSONL or raw objects, or to a topic; registering one reads footers (no data
is copied). Training jobs read datasets over Arrow Flight (--flight-addr of
strata serve, 8815), sharded, shuffled per epoch and resumable.`,
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dc.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&dc.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&dc.timeout, "timeout", 30*time.Second, "request timeout (create and read: none unless set)")
	cmd.AddCommand(dc.createCommand(), dc.listCommand(), dc.describeCommand(), dc.deleteCommand(), dc.readCommand())
	return cmd
}

func (dc *datasetCLI) client() (*apiClient, error) {
	if dc.output != "table" && dc.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", dc.output)
	}
	return newAPIClient(dc.server, dc.timeout)
}

func datasetPath(name string) string { return "/api/v1/datasets/" + url.PathEscape(name) }

func (dc *datasetCLI) createCommand() *cobra.Command {
	var req dataset.CreateRequest
	cmd := &cobra.Command{
		Use:   "create NAME --source s3://bucket/prefix|file:///dir|topic:NAME --format parquet|arrow|jsonl|raw",
		Short: "Register a dataset over objects or a topic (reads footers; copies nothing)",
		Long: `Register a dataset. The server lists the source's objects and reads each
one's footer (Parquet, Arrow IPC), builds a line index for JSONL objects
(stored beside each as <key>.strata-idx), or takes each object as one
sample (raw). Objects named _* or .* are skipped. An object that cannot be
used (corrupt, gone, another schema than the first good object's) is
reported and registered with no rows, so the rest stays readable; --strict
refuses the whole registration instead. A topic source exposes its records
(partition, offset, timestamp, key, value, headers).`,
		Example: "  strata dataset create images --source s3://training/images/ --format raw\n" +
			"  strata dataset create clicks --source file:///data/clicks --format parquet --strict\n" +
			"  strata dataset create events --source topic:events",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := dc.client(); err != nil {
				return err
			}
			req.Name = args[0]
			return dc.create(cmd, req)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Source, "source", "", "s3://bucket/prefix, file:///dir or topic:NAME (required)")
	f.StringVar(&req.Format, "format", "", "parquet, arrow, jsonl or raw (required for object sources)")
	f.BoolVar(&req.Replace, "replace", false, "replace an existing dataset of the name")
	f.BoolVar(&req.Strict, "strict", false, "fail if any object is bad, instead of registering the good ones")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// create posts the registration and follows its ndjson progress, with a
// bar on a terminal.
func (dc *datasetCLI) create(cmd *cobra.Command, req dataset.CreateRequest) error {
	c, err := newAPIClient(dc.server, 0)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if cmd.Flags().Changed("timeout") {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dc.timeout)
		defer cancel()
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/datasets", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", ndjsonType)
	resp, err := c.http.Do(hreq)
	if err != nil {
		return unreachable(c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e errorJSON
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &apiError{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
		}
		return fmt.Errorf("POST /api/v1/datasets: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	bar := newCountBar(cmd.ErrOrStderr(), "registering "+req.Name)
	defer bar.finish()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var ev datasetEventJSON
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("registration: the server sent %q: %w", sc.Text(), err)
		}
		switch {
		case ev.Progress != nil:
			bar.set(int64(ev.Progress.Done), int64(ev.Progress.Total))
		case ev.Error != nil:
			bar.finish()
			return &apiError{Status: http.StatusOK, Code: ev.Error.Code, Message: ev.Error.Error}
		case ev.Result != nil:
			bar.finish()
			return dc.printCreated(cmd, *ev.Result)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	return errors.New("registration: the server closed the response without a result")
}

func (dc *datasetCLI) printCreated(cmd *cobra.Command, res dataset.CreateResult) error {
	if dc.output == "json" {
		return writeIndentedJSON(cmd.OutOrStdout(), res)
	}
	verb := "registered"
	if !res.Created {
		verb = "unchanged"
	}
	d := res.Dataset
	fmt.Fprintf(cmd.OutOrStdout(), "dataset %s %s: %d shards, %d rows, %s, in %s\n", d.Name, verb, d.Shards, d.Rows,
		humanize.IBytes(uint64(d.Bytes)), res.Took)
	if len(res.Errors) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d objects left out (no rows; the rest is readable):\n", len(res.Errors))
		for _, e := range res.Errors {
			fmt.Fprintf(cmd.ErrOrStderr(), "  %s: %s\n", e.Key, e.Error)
		}
	}
	return nil
}

func (dc *datasetCLI) listCommand() *cobra.Command {
	return listCommand("List datasets", dc.client, &dc.output,
		"/api/v1/datasets", "NAME\tFORMAT\tSHARDS\tROWS\tBYTES\tSOURCE", func(w io.Writer, out datasetListJSON) {
			for _, d := range out.Datasets {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", d.Name, d.Format, d.Shards, d.Rows, humanize.IBytes(uint64(d.Bytes)), d.Source)
			}
		})
}

func (dc *datasetCLI) describeCommand() *cobra.Command {
	var shards bool
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a dataset's source, schema, size and the objects left out",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := dc.client()
			if err != nil {
				return err
			}
			path := datasetPath(args[0])
			if shards {
				path += "?shards=true"
			}
			var d dataset.Description
			if err := c.do(cmd.Context(), http.MethodGet, path, nil, &d); err != nil {
				return err
			}
			if dc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), d)
			}
			w := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "Name:\t%s\nSource:\t%s\nFormat:\t%s\nShards:\t%d\nRows:\t%d\nBytes:\t%s\nCreated:\t%s\n",
				d.Name, d.Source, d.Format, d.Shards, d.Rows, humanize.IBytes(uint64(d.Bytes)),
				time.UnixMilli(d.CreatedMs).UTC().Format(time.RFC3339))
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, "\nSchema:")
			for _, f := range d.Schema {
				fmt.Fprintf(w, "  %s\n", f)
			}
			if len(d.Errors) > 0 {
				fmt.Fprintf(w, "\nLeft out (%d):\n", len(d.Errors))
				for _, e := range d.Errors {
					fmt.Fprintf(w, "  %s: %s\n", e.Key, e.Error)
				}
			}
			if shards {
				fmt.Fprintln(w)
				tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SHARD\tROWS\tBYTES")
				for _, s := range d.ShardList {
					fmt.Fprintf(tw, "%s\t%d\t%d\n", s.Key, s.Rows, s.Bytes)
				}
				return tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&shards, "shards", false, "list every shard")
	return cmd
}

func (dc *datasetCLI) deleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a dataset and its cursors (the data is not touched)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := dc.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, datasetPath(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dataset %s deleted\n", args[0])
			return nil
		},
	}
}

// readOptions are the flags of `strata dataset read`.
type readOptions struct {
	flightAddr string
	req        dataset.Request
	out        string
	json       bool
}

// readResultJSON is `strata dataset read -o json`.
type readResultJSON struct {
	Rows        int64   `json:"rows"`
	Batches     int64   `json:"batches"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	RowsPerSec  float64 `json:"rows_per_second"`
	BytesPerSec float64 `json:"bytes_per_second"`
	// Position is the rank's next global position (the batches' last
	// app_metadata).
	Position int64  `json:"position"`
	Out      string `json:"out,omitempty"`
}

func (dc *datasetCLI) readCommand() *cobra.Command {
	var o readOptions
	cmd := &cobra.Command{
		Use:   "read NAME [--epoch N --seed S --rank R --world-size W] [--out file.arrow]",
		Short: "Read one rank's share of an epoch over Arrow Flight and print the throughput",
		Long: `Read a dataset the way a training job does (GetFlightInfo, then DoGet of
this rank's endpoint) and print rows, bytes and throughput, with a progress
bar on a terminal. --out saves what was read as an Arrow IPC file.`,
		Example: "  strata dataset read clicks --epoch 3 --seed 7 --rank 0 --world-size 8\n" +
			"  strata dataset read clicks --columns user,label --out /tmp/clicks.arrow",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.req.Dataset = args[0]
			if dc.output != "table" && dc.output != "json" {
				return fmt.Errorf("-o %q: want table or json", dc.output)
			}
			o.json = dc.output == "json"
			ctx := cmd.Context()
			if cmd.Flags().Changed("timeout") {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, dc.timeout)
				defer cancel()
			}
			return readDataset(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	flightAddr := os.Getenv("STRATA_FLIGHT")
	if flightAddr == "" {
		flightAddr = "127.0.0.1:8815"
	}
	f.StringVar(&o.flightAddr, "flight", flightAddr, "Arrow Flight address of the server (env STRATA_FLIGHT)")
	f.Int64Var(&o.req.Epoch, "epoch", 0, "epoch")
	f.Int64Var(&o.req.Seed, "seed", 0, "shuffle seed")
	f.IntVar(&o.req.Rank, "rank", 0, "this reader's rank")
	f.IntVar(&o.req.WorldSize, "world-size", 1, "number of ranks")
	f.IntVar(&o.req.BatchRows, "batch-rows", dataset.DefaultBatchRows, "rows per record batch")
	f.Int64Var(&o.req.Cursor, "cursor", 0, "samples of the epoch already consumed (global position)")
	f.StringSliceVar(&o.req.Columns, "columns", nil, "columns to read (default all)")
	f.StringVar(&o.out, "out", "", "save the batches read as an Arrow IPC file")
	return cmd
}

// readDataset is `strata dataset read`.
func readDataset(ctx context.Context, stdout, stderr io.Writer, o readOptions) error {
	o.req.EnsureDefaults()
	if err := o.req.Validate(); err != nil {
		return err
	}
	cl, err := flight.NewClientWithMiddleware(o.flightAddr, nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return fmt.Errorf("flight %s: %w", o.flightAddr, err)
	}
	defer cl.Close()
	desc := map[string]any{"dataset": o.req.Dataset, "epoch": o.req.Epoch, "seed": o.req.Seed,
		"world_size": o.req.WorldSize, "batch_rows": o.req.BatchRows, "cursor": o.req.Cursor}
	if len(o.req.Columns) > 0 {
		desc["columns"] = o.req.Columns
	}
	cmdJSON, _ := json.Marshal(desc)
	start := time.Now()
	fi, err := cl.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmdJSON})
	if err != nil {
		return flightErr(o.flightAddr, err)
	}
	if o.req.Rank >= len(fi.Endpoint) {
		return fmt.Errorf("the server gave %d endpoints; rank %d has none", len(fi.Endpoint), o.req.Rank)
	}
	stream, err := cl.DoGet(ctx, fi.Endpoint[o.req.Rank].Ticket)
	if err != nil {
		return flightErr(o.flightAddr, err)
	}
	rd, err := flight.NewRecordReader(stream)
	if err != nil {
		return flightErr(o.flightAddr, err)
	}
	defer rd.Release()
	var fw *ipc.FileWriter
	var outFile *os.File
	if o.out != "" {
		if outFile, err = os.Create(o.out); err != nil {
			return err
		}
		defer outFile.Close()
		if fw, err = ipc.NewFileWriter(outFile, ipc.WithSchema(rd.Schema())); err != nil {
			return err
		}
	}
	// The rank's share: positions ≡ rank (mod w) from the cursor on.
	_, want := dataset.RankPositions(o.req.Cursor, o.req.Cursor+fi.TotalRecords, o.req.Rank, o.req.WorldSize)
	bar := newCountBar(stderr, fmt.Sprintf("reading %s rank %d/%d", o.req.Dataset, o.req.Rank, o.req.WorldSize))
	var rows, size, batches int64
	var md dataset.BatchMetadata
	for rd.Next() {
		rec := rd.RecordBatch()
		rows += rec.NumRows()
		size += recordBytes(rec)
		batches++
		if b := rd.LatestAppMetadata(); len(b) > 0 {
			_ = json.Unmarshal(b, &md)
		}
		if fw != nil {
			if err := fw.Write(rec); err != nil {
				return err
			}
		}
		bar.set(rows, want)
	}
	bar.finish()
	if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
		return flightErr(o.flightAddr, err)
	}
	if fw != nil {
		if err := fw.Close(); err != nil {
			return err
		}
		if err := outFile.Close(); err != nil {
			return err
		}
	}
	took := time.Since(start)
	secs := max(took.Seconds(), 1e-9)
	if o.json {
		return writeIndentedJSON(stdout, readResultJSON{Rows: rows, Batches: batches, Bytes: size, Seconds: took.Seconds(),
			RowsPerSec: float64(rows) / secs, BytesPerSec: float64(size) / secs, Position: md.Position, Out: o.out})
	}
	fmt.Fprintf(stdout, "read %d rows in %d batches (%s) in %s: %.0f rows/s, %s/s; next position %d\n",
		rows, batches, humanize.IBytes(uint64(size)), took.Round(time.Millisecond), float64(rows)/secs,
		humanize.IBytes(uint64(float64(size)/secs)), md.Position)
	if o.out != "" {
		fmt.Fprintf(stdout, "saved to %s\n", o.out)
	}
	return nil
}

func flightErr(addr string, err error) error {
	if st, ok := status.FromError(err); ok {
		if errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(st.Message(), "connection refused") {
			return fmt.Errorf("cannot reach the Flight service at %s: connection refused (is `strata serve` running with --flight-addr? point --flight at it)", addr)
		}
		return fmt.Errorf("%s: %s", strings.ToLower(st.Code().String()), st.Message())
	}
	return err
}

func unreachable(base string, err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot reach the strata server at %s: connection refused\n"+
			"(is `strata serve` running there? point the CLI at it with --server or STRATA_SERVER)", base)
	}
	return fmt.Errorf("cannot reach the strata server at %s: %w", base, err)
}

// countBar is a progress bar over a count (objects, rows) that appears
// only on a terminal and only after a second of work.
type countBar struct {
	w       io.Writer
	enabled bool
	start   time.Time
	desc    string
	bar     *progressbar.ProgressBar
}

func newCountBar(w io.Writer, desc string) *countBar {
	enabled := false
	if f, ok := w.(*os.File); ok {
		enabled = term.IsTerminal(int(f.Fd()))
	}
	return &countBar{w: w, enabled: enabled, start: time.Now(), desc: desc}
}

func (b *countBar) set(done, total int64) {
	if !b.enabled {
		return
	}
	if b.bar == nil {
		if time.Since(b.start) < time.Second {
			return
		}
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(b.desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	if total > 0 {
		b.bar.ChangeMax64(total)
	}
	_ = b.bar.Set64(done)
}

func (b *countBar) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
		b.bar = nil
		b.enabled = false
	}
}

// recordBytes is the size of a batch's buffers.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}
