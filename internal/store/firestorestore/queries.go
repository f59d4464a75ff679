package firestorestore

import (
	"cloud.google.com/go/firestore"
)

// Every query the store makes is one of the shapes below, built by queryShape.on, so that the
// shapes are the whole truth about which indexes the store needs. TestIndexesMatchQueries
// derives the index each shape needs and compares them with deploy/firestore/firestore.indexes.json
// (the emulator accepts any query, a real database refuses one without its index).

// queryScope says whether a query reads one collection or every collection with its id.
type queryScope string

const (
	scopeCollection queryScope = "COLLECTION"
	scopeGroup      queryScope = "COLLECTION_GROUP"
)

// filter is one condition on a field; its value is given when the query is built.
type filter struct {
	field string
	op    string // "==", "in", "<", "<=", ">", ">="
}

// order is one ORDER BY.
type order struct {
	field string
	desc  bool
}

// queryShape is a query without its values.
type queryShape struct {
	name    string
	group   string // collection id, without the store's prefix
	scope   queryScope
	filters []filter
	orders  []order
}

// on adds the shape's filters, with values in the same order, and its orders to base.
func (q queryShape) on(base firestore.Query, values ...any) firestore.Query {
	for i, f := range q.filters {
		base = base.Where(f.field, f.op, values[i])
	}
	for _, o := range q.orders {
		dir := firestore.Asc
		if o.desc {
			dir = firestore.Desc
		}
		base = base.OrderBy(o.field, dir)
	}
	return base
}

var (
	// tablesLive lists the current revision of every table that is not deleted.
	qTablesLive = queryShape{name: "tablesLive", group: collTables, scope: scopeCollection,
		filters: []filter{{"deleted", "=="}}, orders: []order{{field: "name"}}}
	// tableRevisions lists the revisions of one table (a subcollection of its document).
	qTableRevisions = queryShape{name: "tableRevisions", group: collRevisions, scope: scopeCollection,
		orders: []order{{field: "revision"}}}
	qSchedules   = queryShape{name: "schedules", group: collSchedules, scope: scopeCollection, orders: []order{{field: "name"}}}
	qConnections = queryShape{name: "connections", group: collConnections, scope: scopeCollection, orders: []order{{field: "name"}}}

	// runsNewest lists runs newest first; ties go by id, newest first too.
	qRunsNewest = queryShape{name: "runsNewest", group: collRuns, scope: scopeCollection,
		orders: []order{{field: "createdAt", desc: true}, {field: firestore.DocumentID, desc: true}}}
	// runsInStateNewest is runsNewest for one state; with "running" it is also how the
	// scheduler finds the runs in flight (few: it reads them all and reverses them).
	qRunsInStateNewest = queryShape{name: "runsInStateNewest", group: collRuns, scope: scopeCollection,
		filters: []filter{{"state", "=="}},
		orders:  []order{{field: "createdAt", desc: true}, {field: firestore.DocumentID, desc: true}}}

	// runNodes lists the nodes of one run by name.
	qRunNodes = queryShape{name: "runNodes", group: collNodes, scope: scopeCollection, orders: []order{{field: "name"}}}
	// runNodesUnfinished finds nodes of one run not yet propagated: the run is done when it
	// has none (only a few are read, with no fields).
	qRunNodesUnfinished = queryShape{name: "runNodesUnfinished", group: collNodes, scope: scopeCollection,
		filters: []filter{{"propagated", "=="}}}
	// runNodesInStates finds the nodes of one run in some states (a cancel's non-terminal ones).
	qRunNodesInStates = queryShape{name: "runNodesInStates", group: collNodes, scope: scopeCollection,
		filters: []filter{{"state", "in"}}}
	// runNodesTodo lists the dispatch candidates of one run, ready and undispatched, in
	// store.DispatchesBefore order: deepest first, then by name.
	qRunNodesTodo = queryShape{name: "runNodesTodo", group: collNodes, scope: scopeCollection,
		filters: []filter{{"todo", "=="}}, orders: []order{{field: "depth", desc: true}, {field: "name"}}}
	// runNodesBusy counts the busy nodes of one run (running, or ready and dispatched).
	qRunNodesBusy = queryShape{name: "runNodesBusy", group: collNodes, scope: scopeCollection,
		filters: []filter{{"busy", "=="}}}
	// nodesBusy counts busy nodes across all runs, for the global limit.
	qNodesBusy = queryShape{name: "nodesBusy", group: collNodes, scope: scopeGroup,
		filters: []filter{{"busy", "=="}}}

	// The sweeper's queries walk every run at once, oldest first; ties go by document path,
	// that is by run id and then node name.
	qNodesLeaseExpired = queryShape{name: "nodesLeaseExpired", group: collNodes, scope: scopeGroup,
		filters: []filter{{"state", "=="}, {"leaseExpiresAt", "<"}}, orders: []order{{field: "leaseExpiresAt"}}}
	qNodesUndelivered = queryShape{name: "nodesUndelivered", group: collNodes, scope: scopeGroup,
		filters: []filter{{"state", "=="}, {"dispatchedAt", ">"}, {"dispatchedAt", "<"}},
		orders:  []order{{field: "dispatchedAt"}}}
	// runDeliveries lists the callback delivery attempts of one run (a subcollection of its
	// document) by start time.
	qRunDeliveries = queryShape{name: "runDeliveries", group: collDeliveries, scope: scopeCollection,
		orders: []order{{field: "started"}}}
	// users lists every user by email; tokens every API token, tokensOfOwner one user's.
	qUsers         = queryShape{name: "users", group: collUsers, scope: scopeCollection, orders: []order{{field: "email"}}}
	qTokens        = queryShape{name: "tokens", group: collTokens, scope: scopeCollection}
	qTokensOfOwner = queryShape{name: "tokensOfOwner", group: collTokens, scope: scopeCollection,
		filters: []filter{{"owner", "=="}}}
	// mutes lists every table mute by table; triggers every trigger URL by id; a trigger's
	// deliveries (a subcollection of its document) newest first.
	qMutes             = queryShape{name: "mutes", group: collMutes, scope: scopeCollection, orders: []order{{field: "table"}}}
	qTriggers          = queryShape{name: "triggers", group: collTriggers, scope: scopeCollection, orders: []order{{field: "id"}}}
	qTriggerDeliveries = queryShape{name: "triggerDeliveries", group: collTriggerDeliveries, scope: scopeCollection,
		orders: []order{{field: "at", desc: true}}}
	qNodesUnpropagated = queryShape{name: "nodesUnpropagated", group: collNodes, scope: scopeGroup,
		filters: []filter{{"propagated", "=="}, {"state", "in"}, {"finishedAt", "<"}},
		orders:  []order{{field: "finishedAt"}}}
)

// queries is every shape the store uses.
var queries = []queryShape{
	qTablesLive, qTableRevisions, qSchedules, qConnections,
	qRunsNewest, qRunsInStateNewest,
	qRunNodes, qRunNodesUnfinished, qRunNodesInStates, qRunNodesTodo, qRunNodesBusy, qNodesBusy,
	qRunDeliveries,
	qUsers, qTokens, qTokensOfOwner,
	qMutes, qTriggers, qTriggerDeliveries,
	qNodesLeaseExpired, qNodesUndelivered, qNodesUnpropagated,
}
