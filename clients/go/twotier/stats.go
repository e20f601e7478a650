package twotier

import "sync/atomic"

// Stats are the cache's counters, named as in every client (the conformance suite reads them).
type Stats struct {
	L1Hits                  atomic.Int64
	L1Misses                atomic.Int64 // reads with an L1 that it did not answer (a miss, or L1 bypassed)
	L2Hits                  atomic.Int64
	L2Misses                atomic.Int64
	Populates               atomic.Int64
	PopulatesRefused        atomic.Int64
	PopulatesAnnounced      atomic.Int64 // kept because the invalidation announced the value read
	InvalidationsReceived   atomic.Int64
	OwnInvalidationsSkipped atomic.Int64
	L1Flushes               atomic.Int64
	L1Errors                atomic.Int64
	L2Errors                atomic.Int64
	PublishErrors           atomic.Int64
	Subscriptions           atomic.Int64
	Loads                   atomic.Int64 // loader calls made by GetOrLoad
	LoadErrors              atomic.Int64 // loader calls that failed (never cached)
	LoadWaits               atomic.Int64 // GetOrLoad calls that waited for another caller's load of the key
	NegativeHits            atomic.Int64 // GetOrLoad calls answered by a remembered absence
}

// Snapshot returns the counters by their canonical names (l1_hits, populates_refused, ...).
func (s *Stats) Snapshot() map[string]int64 {
	return map[string]int64{
		"l1_hits": s.L1Hits.Load(), "l1_misses": s.L1Misses.Load(), "l2_hits": s.L2Hits.Load(),
		"l2_misses": s.L2Misses.Load(), "populates": s.Populates.Load(), "populates_refused": s.PopulatesRefused.Load(),
		"populates_announced": s.PopulatesAnnounced.Load(), "invalidations_received": s.InvalidationsReceived.Load(),
		"own_invalidations_skipped": s.OwnInvalidationsSkipped.Load(), "l1_flushes": s.L1Flushes.Load(),
		"l1_errors": s.L1Errors.Load(), "l2_errors": s.L2Errors.Load(), "publish_errors": s.PublishErrors.Load(),
		"subscriptions": s.Subscriptions.Load(), "loads": s.Loads.Load(), "load_errors": s.LoadErrors.Load(),
		"load_waits": s.LoadWaits.Load(), "negative_hits": s.NegativeHits.Load(),
	}
}
