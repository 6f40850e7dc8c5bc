// Package integrations sends what happens in the estate to the systems
// people act from: Slack, Teams, PagerDuty, Jira, Splunk, Elasticsearch,
// Sumo Logic, S3, email and webhooks (the destination kinds, one package
// each below this one, registered in THE list of kinds.go and speaking
// the contract of package dest).
//
// It owns the integration_* tables: destinations (kind, name, plain
// settings; their secrets sealed in internal/secrets' vault, never
// returned by the API), rules (which events, filters, immediate or
// digest), a per-destination ordered outbox, the items waiting for a
// digest, delivery history and dead letters.
//
// Data flow: the events consumer (RouteConsumer) turns findings.new,
// findings.fixed, scan.failed, sensor.offline and node.exposed events into
// messages for every matching rule and, in its own transaction, queues
// them in the destinations' outboxes (or a digest rule's items) and makes
// sure each destination has a flush job (integrations.deliver, one per
// destination by unique key). The flush job sends the outbox in order, a
// kind's Batch at a time, under the destination's rate limit; at the first
// failure it stops, and waits with backoff and jitter (at least the
// target's Retry-After) without losing its place; a permanent failure
// dead-letters the message (a batch is first split to find it) and goes
// on; so does a message older than MaxAge. The periodic integrations.digest
// job turns the items of due digest rules into digest messages.
package integrations
