// Package cloud opens Maestro's Google Cloud backends from a service's configuration, so that
// each of the three Cloud Run binaries is a short main: Firestore as the store, Pub/Sub as the
// queue, BigQuery as the warehouse, Cloud Storage for objects.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cloudlog"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
)

// Subscription settings every deployment shares; deploy/ creates the same.
const (
	taskAckDeadline       = 60 * time.Second
	completionAckDeadline = 30 * time.Second
	maxDeliveries         = 10
	minBackoff            = 10 * time.Second
)

// receiveStreams is how many StreamingPull streams a receiver opens: one delivers about one
// message per server tick, several cut the wait for the next message.
const receiveStreams = 4

// OpenQueue opens Pub/Sub.
func OpenQueue(ctx context.Context, cfg *config.Config) (*pubsubqueue.Queue, error) {
	q, err := pubsubqueue.OpenWithConfig(ctx, cfg.Project, pubsubqueue.Config{ReceiveStreams: receiveStreams})
	if err != nil {
		return nil, fmt.Errorf("error opening Pub/Sub of project %s: %w", cfg.Project, err)
	}
	return q, nil
}

// TaskSubscription is the workers' pull subscription. deploy/ creates it; the services' accounts
// may not.
func TaskSubscription(q *pubsubqueue.Queue, cfg *config.Config) queue.Subscription {
	return q.ExistingSubscription(engine.TasksSubscription, cfg.Workers, 0)
}

// CompletionSubscription is the scheduler's pull subscription, created by deploy/.
func CompletionSubscription(q *pubsubqueue.Queue) queue.Subscription {
	return q.ExistingSubscription(engine.CompletionsSubscription, 32, 0)
}

// CreateTopics creates the topics and subscriptions with the settings deploy/ gives them, for
// an emulator or a project deployed without Terraform. Existing ones are left as they are.
func CreateTopics(ctx context.Context, q *pubsubqueue.Queue) error {
	if err := q.CreateTopic(ctx, engine.TasksTopic); err != nil {
		return err
	}
	if err := q.CreateTopic(ctx, engine.CompletionsTopic); err != nil {
		return err
	}
	if _, err := q.CreateSubscription(ctx, engine.TasksSubscription, queue.SubscriptionConfig{
		Topic: engine.TasksTopic, AckDeadline: taskAckDeadline, MaxDeliveries: maxDeliveries,
		DeadLetterTopic: engine.TasksDeadLetterTopic, MinBackoff: minBackoff,
	}); err != nil {
		return fmt.Errorf("error creating the task subscription: %w", err)
	}
	if _, err := q.CreateSubscription(ctx, engine.CompletionsSubscription, queue.SubscriptionConfig{
		Topic: engine.CompletionsTopic, AckDeadline: completionAckDeadline, MaxDeliveries: maxDeliveries,
		DeadLetterTopic: engine.CompletionsDeadLetterTopic, MinBackoff: minBackoff,
	}); err != nil {
		return fmt.Errorf("error creating the completion subscription: %w", err)
	}
	for sub, topic := range map[string]string{engine.TasksDeadLetterSubscription: engine.TasksDeadLetterTopic,
		engine.CompletionsDeadLetterSubscription: engine.CompletionsDeadLetterTopic} {
		if err := q.CreateDeadLetterSubscription(ctx, sub, topic); err != nil {
			return fmt.Errorf("error creating dead-letter subscription %s: %w", sub, err)
		}
	}
	return nil
}

// DeadLetterSubscriptions are the dead-letter subscriptions the scheduler reports from
// (deploy/ creates them).
func DeadLetterSubscriptions(q *pubsubqueue.Queue) []service.DeadLetterSubscription {
	return []service.DeadLetterSubscription{
		{Name: engine.TasksDeadLetterSubscription, Subscription: q.ExistingSubscription(engine.TasksDeadLetterSubscription, 4, 0)},
		{Name: engine.CompletionsDeadLetterSubscription, Subscription: q.ExistingSubscription(engine.CompletionsDeadLetterSubscription, 4, 0), Completions: true},
	}
}

// Logger returns the Cloud Logging JSON logger of a service, labelled with the Cloud Run service
// and revision that getenv reports.
func Logger(cfg *config.Config, getenv func(string) string) *zap.Logger {
	// config.Load accepted the level already.
	level, _ := cloudlog.ParseLevel(cfg.LogLevel)
	return cloudlog.New(os.Stdout, cloudlog.Options{Level: level, Service: getenv("K_SERVICE"), Revision: getenv("K_REVISION")})
}

// Serve serves h (with trace-aware logging) and runs loop on the configured port until ctx is done.
func Serve(ctx context.Context, cfg *config.Config, h http.Handler, loop service.Loop, log *zap.Logger) error {
	return service.Serve(ctx, ":"+strconv.Itoa(cfg.Port), cloudlog.Middleware(log, cfg.Project, h), loop, log, nil)
}

// Main is the whole of a service's main: it reads svc's configuration from the environment
// (exit 2, naming every bad variable), sets up the Cloud Logging logger and SIGTERM handling, and
// runs run until it returns (exit 1 on an error).
func Main(svc config.Service, run func(ctx context.Context, cfg *config.Config, log *zap.Logger) error) {
	cfg, err := config.Load(svc, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := Logger(cfg, os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err = run(ctx, cfg, log)
	stop()
	if err != nil {
		log.Error(string(svc)+" stopped", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
}

// Backends are the store and queue every service uses.
type Backends struct {
	Store     *firestorestore.Store
	Queue     *pubsubqueue.Queue
	firestore *firestore.Client
}

// OpenBackends opens Firestore (the configured database) and Pub/Sub.
func OpenBackends(ctx context.Context, cfg *config.Config) (*Backends, error) {
	client, err := firestore.NewClientWithDatabase(ctx, cfg.Project, cfg.FirestoreDatabase)
	if err != nil {
		return nil, fmt.Errorf("error connecting to Firestore database %s of project %s: %w", cfg.FirestoreDatabase, cfg.Project, err)
	}
	st, err := firestorestore.Open(ctx, cfg.Project, firestorestore.WithClient(client))
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("error opening the Firestore store of project %s: %w", cfg.Project, err)
	}
	q, err := OpenQueue(ctx, cfg)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return &Backends{Store: st, Queue: q, firestore: client}, nil
}

// Close closes the queue (after it sent what it holds) and the store.
func (b *Backends) Close() error {
	return errors.Join(b.Queue.Close(), b.Store.Close(), b.firestore.Close())
}
