package topology

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Routes of the module (each has its row in console.Policy()).
const (
	RouteReports = sensorproto.PathReports
	RouteGraph   = "/api/v1/topology/graph"
	RouteNodes   = "/api/v1/topology/nodes"
	RouteNode    = "/api/v1/topology/nodes/{id}"
	RouteSensors = "/api/v1/topology/sensors"
)

var _ console.Module = (*Topology)(nil)

type graphInput struct {
	View        string `query:"view" enum:"hosts,containers,processes,pods,images,clusters,services" default:"hosts" doc:"the unit nodes are shown as"`
	Group       string `query:"group" enum:"host,namespace,image,cluster,cloud,region" doc:"how nodes are grouped when the answer is aggregated (default: cluster for hosts and images, host for containers and processes, namespace for pods and services; cloud and region: those of the node's host, as its sensor reported them)"`
	Q           string `query:"q" maxLength:"200" doc:"case-insensitive label substring"`
	Host        string `query:"host" maxLength:"100" doc:"only nodes on this host (node id)"`
	Namespace   string `query:"namespace" maxLength:"300" doc:"only nodes in this Kubernetes namespace (node id or name)"`
	Image       string `query:"image" maxLength:"100" doc:"only nodes running this image (node id)"`
	Cluster     string `query:"cluster" maxLength:"100" doc:"only nodes in this cluster (node id)"`
	Cloud       string `query:"cloud" maxLength:"100" doc:"only nodes whose host is in this cloud (as group=cloud names it: aws)"`
	Region      string `query:"region" maxLength:"200" doc:"only nodes whose host is in this cloud region (as group=region names it: aws/eu-west-1)"`
	MaxNodes    int    `query:"maxNodes" minimum:"0" maximum:"20000" doc:"aggregate into groups above this many nodes (default 400)"`
	Aggregate   bool   `query:"aggregate" doc:"aggregate into groups however few nodes there are (a group of one stays the node itself)"`
	IncludeGone bool   `query:"includeGone" doc:"also nodes and edges no sensor reports any more"`
}

type nodesInput struct {
	Kind        string `query:"kind" enum:"host,process,container,image,pod,namespace,cluster,service,kubenode,internet,private"`
	Q           string `query:"q" maxLength:"200" doc:"search label, id, executable, addresses and metadata"`
	Sort        string `query:"sort" enum:"label,kind,firstSeen,lastSeen" default:"label"`
	Order       string `query:"order" enum:"asc,desc" default:"asc"`
	Limit       int    `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	Cursor      string `query:"cursor" maxLength:"20" doc:"nextCursor of the previous page"`
	IncludeGone bool   `query:"includeGone"`
}

// NodePage is a page of the node table.
type NodePage struct {
	Items      []NodeSummary `json:"items"`
	NextCursor string        `json:"nextCursor,omitempty"`
	Total      int           `json:"total"`
}

type nodeInput struct {
	ID string `path:"id" maxLength:"100"`
}

type out[T any] struct{ Body T }

// Routes registers the ingest route (raw: a gzip body decoded by
// internal/report) and the topology API.
func (t *Topology) Routes(api huma.API, r chi.Router) {
	// The ingest route is raw: a gzip body streamed into internal/report's
	// decoder.
	console.RawRoute(api, r, huma.Operation{OperationID: "push-report", Method: http.MethodPost, Path: RouteReports,
		Summary: "Sensor: push a topology report (JSON, Content-Encoding: gzip; docs/report-format.md)", Tags: []string{"sensor"}},
		map[string]*huma.Response{"200": {Description: "Accepted: nextReportSeconds and fullReportRequested",
			Content: map[string]*huma.MediaType{"application/json": {}}}},
		t.handleReport)
	op := func(method, path, id, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"topology"}}
	}
	huma.Register(api, op(http.MethodGet, RouteGraph, "get-topology-graph", "Topology graph of a view, aggregated into groups when large"),
		func(ctx context.Context, in *graphInput) (*out[*Graph], error) {
			// The map without colours rather than no map: a failing
			// findings query is logged.
			risk, err := t.nodeRisk(ctx)
			if err != nil {
				t.log.WarnContext(ctx, "topology graph without risk", "err", err)
			}
			gr, err := t.Graph(GraphQuery{View: in.View, Group: in.Group, Q: in.Q, Host: in.Host, Namespace: in.Namespace,
				Image: in.Image, Cluster: in.Cluster, Cloud: in.Cloud, Region: in.Region, MaxNodes: in.MaxNodes, Aggregate: in.Aggregate, IncludeGone: in.IncludeGone, Risk: risk})
			if err != nil {
				return nil, huma.Error400BadRequest(err.Error())
			}
			return &out[*Graph]{gr}, nil
		})
	huma.Register(api, op(http.MethodGet, RouteNodes, "list-topology-nodes", "Topology nodes: filter, search, sort, paginate"),
		func(ctx context.Context, in *nodesInput) (*out[NodePage], error) {
			off := 0
			if in.Cursor != "" {
				n, err := strconv.Atoi(in.Cursor)
				if err != nil || n < 0 {
					return nil, huma.Error400BadRequest("cursor " + strconv.Quote(in.Cursor) + ": not a cursor this endpoint returned")
				}
				off = n
			}
			items, total, err := t.Nodes(NodeQuery{Kind: in.Kind, Q: in.Q, Sort: in.Sort, Desc: in.Order == "desc",
				Limit: in.Limit, Offset: off, IncludeGone: in.IncludeGone})
			if err != nil {
				return nil, huma.Error400BadRequest(err.Error())
			}
			p := NodePage{Items: items, Total: total}
			if off+len(items) < total {
				p.NextCursor = strconv.Itoa(off + len(items))
			}
			return &out[NodePage]{p}, nil
		})
	huma.Register(api, op(http.MethodGet, RouteNode, "get-topology-node", "A node: metadata, ancestors, children, connections, latest scan results"),
		func(ctx context.Context, in *nodeInput) (*out[*NodeDetail], error) {
			d, err := t.Node(in.ID)
			if errors.Is(err, ErrNodeNotFound) {
				return nil, huma.Error404NotFound(err.Error())
			}
			if err != nil {
				return nil, err
			}
			t.fillDetails(ctx, d)
			return &out[*NodeDetail]{d}, nil
		})
	huma.Register(api, op(http.MethodGet, RouteSensors, "list-topology-sensors", "Sensors that have reported: last report, version, probe errors"),
		func(ctx context.Context, _ *struct{}) (*out[[]SensorInfo], error) {
			return &out[[]SensorInfo]{t.Sensors()}, nil
		})
}
