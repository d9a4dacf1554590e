//! Durable, sequence-numbered, bounded outbox (Engineer M).
