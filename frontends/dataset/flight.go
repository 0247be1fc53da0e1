package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"strata/meta"
	"strata/tier"
)

// Flight actions.
const (
	ActionCommitCursor = "commit-cursor"
	ActionGetCursor    = "get-cursor"
)

// maxFlightMessage caps a gRPC message the server receives (descriptors,
// tickets, action bodies are small).
const maxFlightMessage = 4 << 20

// FlightServer serves a Service over Arrow Flight.
type FlightServer struct {
	flight.BaseFlightServer
	svc    *Service
	srv    flight.Server
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// ListenFlight starts the Flight service on addr ("host:port"; port 0
// picks one).
func (s *Service) ListenFlight(addr string) (*FlightServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	fs := &FlightServer{svc: s, done: make(chan struct{})}
	fs.ctx, fs.cancel = context.WithCancel(context.Background())
	fs.srv = flight.NewServerWithMiddleware(nil, grpc.MaxRecvMsgSize(maxFlightMessage))
	fs.srv.RegisterFlightService(fs)
	fs.srv.InitListener(ln)
	go func() {
		defer close(fs.done)
		if err := fs.srv.Serve(); err != nil {
			s.opts.Logger.Error("flight server stopped", "err", err)
		}
	}()
	s.opts.Logger.Info("listening", "listener", "flight", "addr", ln.Addr().String())
	return fs, nil
}

// Addr is the listener's address.
func (fs *FlightServer) Addr() net.Addr { return fs.srv.Addr() }

// Close cancels running streams, stops the listener and waits for the
// handlers to return.
func (fs *FlightServer) Close() error {
	fs.once.Do(func() {
		fs.cancel()
		fs.srv.Shutdown()
		<-fs.done
	})
	return nil
}

// grpcError maps a Service error to a gRPC status.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrExists):
		code = codes.AlreadyExists
	case errors.Is(err, ErrStale):
		code = codes.FailedPrecondition
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, tier.ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, ErrCorrupt), errors.Is(err, tier.ErrCorrupt), errors.Is(err, tier.ErrNotFound):
		code = codes.DataLoss
	default:
		var rej *meta.Rejection
		if errors.As(err, &rej) {
			code = rejectionCode(rej)
		}
	}
	return status.Error(code, err.Error())
}

func rejectionCode(r *meta.Rejection) codes.Code {
	switch r.Code {
	case meta.RejectNotFound:
		return codes.NotFound
	case meta.RejectInvalid:
		return codes.InvalidArgument
	case meta.RejectExists:
		return codes.AlreadyExists
	case meta.RejectConflict:
		return codes.FailedPrecondition
	}
	return codes.Internal
}

// ParseDescriptor turns a Flight descriptor into a request (rank 0).
func ParseDescriptor(d *flight.FlightDescriptor) (Request, error) {
	if d == nil {
		return Request{}, invalid("descriptor", "missing")
	}
	switch d.Type {
	case flight.DescriptorCMD:
		return ParseCommand(d.Cmd)
	case flight.DescriptorPATH:
		return ParsePath(d.Path)
	}
	return Request{}, invalid("descriptor", "type %v is neither CMD nor PATH", d.Type)
}

// ListFlights lists every dataset as a PATH descriptor with its schema and
// row count (one endpoint: rank 0 of 1, epoch 0, seed 0).
func (fs *FlightServer) ListFlights(_ *flight.Criteria, stream flight.FlightService_ListFlightsServer) error {
	ctx := stream.Context()
	infos, err := fs.svc.List(ctx)
	if err != nil {
		return grpcError(err)
	}
	for _, info := range infos {
		fi, err := fs.flightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{info.Name}})
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted since the list
			}
			return grpcError(err)
		}
		if err := stream.Send(fi); err != nil {
			return err
		}
	}
	return nil
}

// GetFlightInfo returns the read's schema and one endpoint per rank, in
// rank order, each with its ticket.
func (fs *FlightServer) GetFlightInfo(ctx context.Context, d *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	fi, err := fs.flightInfo(ctx, d)
	return fi, grpcError(err)
}

func (fs *FlightServer) flightInfo(ctx context.Context, d *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	req, err := ParseDescriptor(d)
	if err != nil {
		return nil, err
	}
	r, err := fs.svc.resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	fi := &flight.FlightInfo{
		Schema:           flight.SerializeSchema(r.schema, mem),
		FlightDescriptor: d,
		TotalRecords:     r.order.Total() - req.Cursor,
		TotalBytes:       -1,
		Ordered:          true,
	}
	for rank := range req.WorldSize {
		rr := req
		rr.Rank = rank
		fi.Endpoint = append(fi.Endpoint, &flight.FlightEndpoint{Ticket: &flight.Ticket{Ticket: EncodeTicket(rr, r.d.CreatedMs)}})
	}
	return fi, nil
}

// GetSchema returns the read's schema.
func (fs *FlightServer) GetSchema(ctx context.Context, d *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	req, err := ParseDescriptor(d)
	if err != nil {
		return nil, grpcError(err)
	}
	sc, _, err := fs.svc.Resolve(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(sc, mem)}, nil
}

// BatchMetadata is the app_metadata of every streamed batch (JSON): the
// rank's next global position after the batch, and the samples the batch
// consumed (rows, plus a topic's empty offsets).
type BatchMetadata struct {
	Position int64 `json:"position"`
	Rows     int64 `json:"rows"`
}

// DoGet streams a ticket's record batches, each with BatchMetadata.
func (fs *FlightServer) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	req, gen, err := DecodeTicket(t.GetTicket())
	if err != nil {
		return grpcError(err)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(fs.ctx, cancel)
	defer stop()
	rd, err := fs.svc.Open(ctx, req, gen)
	if err != nil {
		return grpcError(err)
	}
	defer rd.Close()
	w := flight.NewRecordWriter(stream, ipc.WithSchema(rd.Schema()))
	defer w.Close()
	for {
		before := rd.Position()
		rec, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return grpcError(err)
		}
		md, _ := json.Marshal(BatchMetadata{Position: rd.Position(), Rows: (rd.Position() - before + int64(req.WorldSize) - 1) / int64(req.WorldSize)})
		err = w.WriteWithAppMetadata(rec, md)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

// ListActions lists the cursor actions.
func (fs *FlightServer) ListActions(_ *flight.Empty, stream flight.FlightService_ListActionsServer) error {
	for _, a := range []*flight.ActionType{
		{Type: ActionCommitCursor, Description: `store a training cursor: {"name", "dataset", "epoch", "seed", "world_size", "position", "force"?}`},
		{Type: ActionGetCursor, Description: `read a cursor back: {"name"}`},
	} {
		if err := stream.Send(a); err != nil {
			return err
		}
	}
	return nil
}

// CommitCursorBody is the body of commit-cursor.
type CommitCursorBody struct {
	meta.Cursor
	Force bool `json:"force,omitempty"`
}

// DoAction runs commit-cursor and get-cursor; the result body is the
// stored cursor as JSON.
func (fs *FlightServer) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	ctx := stream.Context()
	var c meta.Cursor
	var err error
	switch a.GetType() {
	case ActionCommitCursor:
		var b CommitCursorBody
		if err := decodeStrict(a.GetBody(), &b); err != nil {
			return grpcError(invalid("body", "%v", err))
		}
		c, err = fs.svc.CommitCursor(ctx, b.Cursor, b.Force)
	case ActionGetCursor:
		var b struct {
			Name string `json:"name"`
		}
		if err := decodeStrict(a.GetBody(), &b); err != nil {
			return grpcError(invalid("body", "%v", err))
		}
		if b.Name == "" {
			return grpcError(invalid("name", "missing"))
		}
		c, err = fs.svc.GetCursor(ctx, b.Name)
	default:
		return grpcError(invalid("action", "%s is not %s or %s", strconv.Quote(a.GetType()), ActionCommitCursor, ActionGetCursor))
	}
	if err != nil {
		return grpcError(err)
	}
	body, _ := json.Marshal(c)
	return stream.Send(&flight.Result{Body: body})
}

func decodeStrict(b []byte, v any) error {
	if len(b) > MaxDescriptorBytes {
		return fmt.Errorf("over %d bytes", MaxDescriptorBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// WriteStream writes a read as an Arrow IPC stream (the HTTP stream's
// body). Errors before the first byte are the request's (the caller can
// still answer with a status); later ones end the stream early.
func (s *Service) WriteStream(ctx context.Context, w io.Writer, req Request, begin func()) error {
	rd, err := s.Open(ctx, req, 0)
	if err != nil {
		return err
	}
	defer rd.Close()
	begin()
	iw := ipc.NewWriter(w, ipc.WithSchema(rd.Schema()))
	for {
		rec, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			return iw.Close()
		}
		if err != nil {
			return err // no end-of-stream marker: the reader sees a truncated stream
		}
		err = iw.Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
}
