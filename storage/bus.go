package storage

import "context"

// Bus topics: every arrow between pipeline stages is one of them.
const (
	// TopicEvents carries decoded events from ingest to detect and store.
	TopicEvents = "vigil.events"
	// TopicSignals carries correlation matches, keyed by rule and group key.
	TopicSignals = "vigil.signals"
	// TopicAlerts carries alerts from detect to store and notify.
	TopicAlerts = "vigil.alerts"
	// TopicDeadLetter carries what a stage could not process, with the reason.
	TopicDeadLetter = "vigil.deadletter"
)

// Message is one record on a bus topic. Producers set Key and Value; the
// bus sets Topic, Partition and Offset when the message is fetched.
type Message[T any] struct {
	Topic     string
	Partition int
	// Offset is the message's position in its partition; committing it
	// commits every earlier message of the partition too.
	Offset int64
	// Key chooses the partition: messages with equal keys keep their order.
	Key   []byte
	Value T
}

// Producer writes messages to one topic.
//
// Write returns only when the bus has durably accepted every message (for
// Kafka: acknowledged by all in-sync replicas), so a source may be
// acknowledged once Write returns nil. When Write fails, some messages may
// have been written: the caller writes them all again, and the duplicates
// are absorbed downstream by stable IDs. Write blocks while the bus is full
// (backpressure) and gives up when ctx ends.
type Producer[T any] interface {
	Write(ctx context.Context, msgs ...Message[T]) error
	Close() error
}

// Consumer reads one topic as a member of a consumer group: the members of
// a group share the topic's partitions, every group sees every message.
//
// Delivery is at least once. Fetch returns the next message of the
// partitions assigned to this member, blocking until there is one or ctx
// ends. Commit marks the given messages, and every earlier message of their
// partitions, as done for the group; a consumer commits only after the work
// a message caused is durable downstream, and only the contiguous prefix it
// has finished. Messages fetched but not committed are delivered again to
// whichever member of the group reads their partition next (after a crash,
// a Close or a rebalance).
type Consumer[T any] interface {
	Fetch(ctx context.Context) (Message[T], error)
	Commit(ctx context.Context, msgs ...Message[T]) error
	Close() error
}
