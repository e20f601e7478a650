package twotier

import (
	"fmt"
	"time"
)

// Options bounds every call. Zero fields take the defaults below (suited to an L1 on loopback and an
// L2 one network hop away), so Options{} is the usual value.
type Options struct {
	L1ConnectTimeout time.Duration // 250 ms: opening a connection to the L1 sidecar
	L1Timeout        time.Duration // 250 ms: an L1 reply; a slower L1 is treated as down
	L2ConnectTimeout time.Duration // 500 ms: opening a connection to L2 (or asking a Sentinel)
	L2Timeout        time.Duration // 500 ms: an L2 reply, then ErrL2Unavailable
	// Retries after a connection error (default 1: a pooled connection killed by a server restart or
	// a password rotation is replaced without an error). Negative: none.
	Retries             int
	L1RetryInterval     time.Duration // 1 s: after an L1 error, skip L1 this long, then flush it and use it again
	L2RetryInterval     time.Duration // 500 ms: after an L2 error, fail at once this long
	HealthCheckInterval time.Duration // 2 s: ping the idle subscription; no reply within another interval: reconnect
	SubscribeWait       time.Duration // 1 s: how long New waits for the first subscription
	// PublishVersion is the invalidation format written: 2 (default) announces each value; 1 while
	// readers older than protocol 2 still run (a rolling update), since they flush on version 2.
	PublishVersion int

	// AfterL2Read and BeforeL2Read are test seams (the conformance driver pauses reads there to
	// make the populate race deterministic). Not for applications.
	BeforeL2Read func(key string)
	AfterL2Read  func(key string, value []byte)
}

func (o Options) withDefaults() (Options, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.L1ConnectTimeout, 250*time.Millisecond)
	def(&o.L1Timeout, 250*time.Millisecond)
	def(&o.L2ConnectTimeout, 500*time.Millisecond)
	def(&o.L2Timeout, 500*time.Millisecond)
	def(&o.L1RetryInterval, time.Second)
	def(&o.L2RetryInterval, 500*time.Millisecond)
	def(&o.HealthCheckInterval, 2*time.Second)
	def(&o.SubscribeWait, time.Second)
	if o.Retries == 0 {
		o.Retries = 1
	}
	if o.PublishVersion == 0 {
		o.PublishVersion = 2
	}
	if o.PublishVersion != 1 && o.PublishVersion != 2 {
		return o, &ConfigurationError{Message: fmt.Sprintf("PublishVersion: must be 1 or 2, got %d", o.PublishVersion)}
	}
	return o, nil
}
