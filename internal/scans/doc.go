// Package scans is the console's scan orchestration and findings: a
// durable scan queue in the database (queued → running → complete, error or
// cancelled; leases renewed by sensor heartbeats, retries with backoff, a
// reaper so every scan reaches a terminal state), the sensor side of the
// command protocol (poll, status, inventory upload), matching uploaded
// inventories against the knowledge base into findings stored per scan,
// VEX-like decisions (accepted, not affected) honoured by every query and
// exported as OpenVEX, the exposure-aware risk of each finding on its node
// (internal/risk, recomputed when topology or findings change), scheduled
// scans, and the diagnosis endpoint.
package scans
