// Package kafka is vigil's bus on Kafka, with github.com/segmentio/kafka-go:
// the storage.Producer and storage.Consumer contract of storage/memory,
// across processes.
//
// # Configuration
//
// Config holds the brokers, security, topic names and tuning; every field
// documents its default. ParseURL reads a bus URL
// (kafka://host:9092,host2:9092?tls=true&partitions=12) into a Config.
//
// # Topics
//
// Config.Topics names the four bus topics (vigil.events, vigil.signals,
// vigil.alerts, vigil.deadletter by default). EnsureTopics creates the
// missing ones with Config.Partitions partitions and
// Config.ReplicationFactor replicas; every role calls it at start.
//
// # Values
//
// A Codec[T] turns values into message values and headers: EventCodec for
// *ingest.Event (JSON, Raw in base64, the event ID in the vigil-id header),
// JSONCodec for alerts and other JSON-tagged types. A message the codec
// cannot decode is poison: Fetch returns it with a *PoisonError, the stage
// sends it to the dead-letter topic (DeadLetter.Send) with the reason, and
// goes on.
//
// # Producing
//
// Producer.Write is synchronous: it returns once all in-sync replicas
// acknowledged every message (RequiredAcks RequireAll). A failed write of
// some partitions (kafka.WriteErrors) is retried for the failed messages
// only, with a bounded backoff. kafka-go has no idempotent producer, so a
// retry after a lost acknowledgement writes a duplicate: duplicates are
// absorbed downstream by the stable event and alert IDs. Messages with
// equal keys go to one partition and keep their order.
//
// # Consuming and committing
//
// A Consumer is a member of a consumer group. It uses kafka-go's
// ConsumerGroup and Generation API rather than kafka.Reader with a
// GroupID, because the Reader hides assignments: it neither says which
// partitions a rebalance took away nor offers a hook to rebuild state when
// partitions arrive. For each generation the Consumer reads every assigned
// partition with a partition Reader from the committed offset (the first
// offset for a new group), and first calls Subscription.OnAssign with the
// assignment and the committed offsets.
//
// Delivery is at least once. Commit is synchronous, like kafka-go's Reader
// with CommitInterval 0: it returns once the group coordinator accepted the
// offsets. The caller commits only after a message's work is durable
// downstream. A stage that works on several messages at once
// commits through a Tracker, which yields only the contiguous prefix of
// finished messages per partition. Messages fetched and not committed are
// read again by the partition's next holder: after a crash, a Close, or a
// rebalance.
//
// # Rebalances
//
// When the group rebalances, the generation ends: the partition Readers
// stop, and the messages they had buffered and not yet returned by Fetch
// are dropped, not processed (those already on their way to Fetch are
// counted in Stats.Dropped); the member rejoins,
// and the new generation starts with OnAssign, from the committed offsets.
// A partition missing from the new assignment was revoked: commits of its
// messages return ErrRevoked, and its new holder reads them again. A commit
// refused because the group is rebalancing (REBALANCE_IN_PROGRESS,
// ILLEGAL_GENERATION) is tried again in the next generation for the
// partitions the member still holds. To rebuild windowed state, OnAssign
// finds an offset by time (Consumer.OffsetAt) and reads a partition up to
// the committed offset (Consumer.Replay), before Fetch returns the first
// message of the generation.
//
// # Security
//
// Config.TLS and Config.SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) secure
// the connections; the password is a Secret, which logs and prints as
// REDACTED.
package kafka
