package firestorestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/maestro-sql/maestro/internal/store"
)

// deliveryDoc is one callback delivery attempt, in runs/{id}/deliveries.
type deliveryDoc struct {
	RunID      string    `firestore:"runId"`
	DeliveryID string    `firestore:"deliveryId"`
	Attempt    int       `firestore:"attempt"`
	Started    time.Time `firestore:"started"`
	Table      string    `firestore:"table"`
	URL        string    `firestore:"url"`
	Event      string    `firestore:"event"`
	DurationNS int64     `firestore:"durationNs"`
	StatusCode int       `firestore:"statusCode"`
	Error      string    `firestore:"error"`
}

func (s *Store) deliveriesOf(runID string) *firestore.CollectionRef {
	return s.runRef(runID).Collection(s.deliveriesID)
}

// DeliveryRecord keeps one callback delivery attempt. The document id is derived from the
// attempt, so writing it again replaces it with the same fields; nothing is read, and no
// shared document is written.
func (s *Store) DeliveryRecord(ctx context.Context, d *store.Delivery) error {
	if d.RunID == "" || d.DeliveryID == "" {
		return errors.New("error recording a delivery: it needs a run id and a delivery id")
	}
	started := micro(d.Started)
	id := docID(fmt.Sprintf("%020d-%s-%d", started.UnixMicro(), d.DeliveryID, d.Attempt))
	_, err := s.deliveriesOf(d.RunID).Doc(id).Set(ctx, &deliveryDoc{
		RunID: d.RunID, DeliveryID: d.DeliveryID, Attempt: d.Attempt, Started: started, Table: d.Table,
		URL: d.URL, Event: d.Event, DurationNS: int64(d.Duration), StatusCode: d.StatusCode, Error: d.Error,
	})
	return wrap(ctx, err, "error recording attempt %d of delivery %q of run %q", d.Attempt, d.DeliveryID, d.RunID)
}

// DeliveryList returns a run's delivery attempts by start time, delivery id and attempt. A run
// has few, so ties are ordered here rather than by a composite index.
func (s *Store) DeliveryList(ctx context.Context, runID string) ([]*store.Delivery, error) {
	q := qRunDeliveries.on(s.deliveriesOf(runID).Query)
	out, err := collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.Delivery, error) {
		var d deliveryDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return &store.Delivery{RunID: d.RunID, Table: d.Table, DeliveryID: d.DeliveryID, URL: d.URL, Event: d.Event,
			Attempt: d.Attempt, Started: utc(d.Started), Duration: time.Duration(d.DurationNS),
			StatusCode: d.StatusCode, Error: d.Error}, nil
	}, "error listing the deliveries of run %q", runID)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *store.Delivery) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.DeliveryID, b.DeliveryID), cmp.Compare(a.Attempt, b.Attempt))
	})
	return out, nil
}
