package twotier

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The in-process L1's invalidations (docs/protocol.md, "In-process L1 (client tracking)"): the L2
// server tracks keys for this process and sends their invalidations to one connection of ours, the
// tracking connection, subscribed to __redis__:invalidate (RESP2, redirect mode).
//
//   - On every (re)connect (the client's OnConnect): CLIENT ID, CLIENT SETNAME cp-near-<origin>, with
//     broadcast CLIENT TRACKING ON REDIRECT <own id> BCAST PREFIX ...; then SUBSCRIBE, whose
//     confirmation flushes the L1 and lets populates start. Losing it flushes the L1 at once.
//   - A populating read adds CLIENT LIST ID <tracking id> to its L2 pipeline (the tracking connection
//     must be on the server that answers) and, in default mode, CLIENT TRACKING ON REDIRECT <id>
//     OPTIN + CLIENT CACHING YES (only this GET is tracked). Another server: no copy, and the
//     tracking connection is moved. The same check runs every health interval.
//   - A message names keys (each dropped under the guard's lock), or is nil (a flush on the server,
//     or tracking state it dropped): the whole L1 goes.

const trackingChannel = "__redis__:invalidate"

// TrackingClientFunc makes the tracking connection's client: a *redis.Client speaking RESP2
// (Protocol: 2) to the server L2 talks to, with onConnect as its Options.OnConnect.
type TrackingClientFunc func(onConnect func(context.Context, *redis.Conn) error) *redis.Client

func (c *Cache) onTrackingConnect(ctx context.Context, cn *redis.Conn) error {
	id, err := cn.ClientID(ctx).Result()
	if err != nil {
		return err
	}
	if err := cn.Do(ctx, "CLIENT", "SETNAME", c.trackName).Err(); err != nil {
		return err
	}
	if c.near.Tracking == "broadcast" {
		args := []any{"CLIENT", "TRACKING", "ON", "REDIRECT", id, "BCAST"}
		for _, p := range c.near.Prefixes {
			args = append(args, "PREFIX", p)
		}
		if err := cn.Do(ctx, args...).Err(); err != nil {
			return err
		}
	}
	c.pendingID.Store(id)
	return nil
}

// keeps tells whether a copy of key may be kept: with broadcast, only keys under a tracked prefix.
func (c *Cache) keeps(key string) bool {
	if c.near == nil || len(c.near.Prefixes) == 0 {
		return true
	}
	for _, p := range c.near.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// trackCommands queues the checks a populating read needs before its GET.
func (c *Cache) trackCommands(ctx context.Context, pipe redis.Pipeliner) []redis.Cmder {
	tid := c.trackID.Load()
	if c.near == nil || tid == 0 {
		return nil
	}
	cmds := []redis.Cmder{pipe.Do(ctx, "CLIENT", "LIST", "ID", tid)}
	if c.near.Tracking == "broadcast" {
		return cmds
	}
	return append(cmds, pipe.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", tid, "OPTIN"),
		pipe.Do(ctx, "CLIENT", "CACHING", "YES"))
}

// trackedBy tells whether the checks' replies show the tracking connection on the server that answered.
func (c *Cache) trackedBy(cmds []redis.Cmder) bool {
	if len(cmds) == 0 {
		return c.near == nil
	}
	listing, err := cmds[0].(*redis.Cmd).Text()
	here := err == nil && strings.Contains(listing, " name="+c.trackName+" ")
	ok := here
	for _, cmd := range cmds[1:] {
		ok = ok && cmd.Err() == nil
	}
	if ok {
		return true
	}
	now := time.Now().UnixNano()
	if !here && now-c.trackCheckedAt.Load() >= int64(c.opts.HealthCheckInterval) {
		// Reads reach a server the tracking connection is not on (a failover, a proxy): move it.
		c.trackCheckedAt.Store(now)
		c.trackStale.Store(true)
		slog.Warn("cache tracking connection is not on the server that answers reads; reconnecting it")
	}
	return false
}

// checkWhere asks, through a data connection, whether the tracking connection is on the server that
// answers: a proxy that moves new connections elsewhere, or a split, would otherwise leave copies no
// invalidation reaches for as long as no read misses.
func (c *Cache) checkWhere(ctx context.Context, tid int64) {
	listing, err := c.l2.Do(ctx, "CLIENT", "LIST", "ID", tid).Text()
	if err != nil {
		return // L2 unreachable: the tracking connection's own PING decides
	}
	c.trackCheckedAt.Store(0)
	cmd := redis.NewCmd(ctx)
	cmd.SetVal(listing)
	c.trackedBy([]redis.Cmder{cmd})
}

func (c *Cache) trackingLoop() {
	defer c.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-c.closed; cancel() }()
	backoff := 50 * time.Millisecond
	for {
		err := c.trackingOnce(ctx, &backoff)
		c.trackID.Store(0)
		if c.subscribed.Swap(false) {
			// Flushed at once, not only when it is back: no copy outlives the connection whose
			// invalidations kept it fresh (unlike a sidecar L1, hits stop while L2 is away).
			c.flushL1(ctx)
		}
		select {
		case <-c.closed:
			return
		default:
		}
		slog.Warn("cache tracking connection lost, in-process L1 not populated until it is back", "error", err)
		select {
		case <-c.closed:
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 2*time.Second {
			backoff = 2 * time.Second
		}
	}
}

func (c *Cache) trackingOnce(ctx context.Context, backoff *time.Duration) error {
	ps := c.tracker.Subscribe(ctx, trackingChannel)
	defer ps.Close()
	interval := c.opts.HealthCheckInterval
	poll := min(interval, 200*time.Millisecond)
	lastRx, checked := time.Now(), time.Now()
	var pingSent time.Time
	for ctx.Err() == nil {
		if tid := c.trackID.Load(); tid != 0 && time.Since(checked) >= interval {
			checked = time.Now()
			c.checkWhere(ctx, tid)
		}
		if c.trackStale.Swap(false) {
			return errors.New("reads are answered by a server the tracking connection is not on")
		}
		msg, err := ps.ReceiveTimeout(ctx, poll)
		now := time.Now()
		if err != nil {
			var ne net.Error
			switch {
			case strings.Contains(err.Error(), "unsupported pubsub message payload"):
				// A nil payload (go-redis reads no other shape here): the server flushed, or dropped its
				// tracking state. The reply was read whole, so the connection goes on.
				c.stats.InvalidationsReceived.Add(1)
				c.flushL1(ctx)
				lastRx, pingSent = now, time.Time{}
				continue
			case !(errors.As(err, &ne) && ne.Timeout()):
				return err
			case !pingSent.IsZero() && now.Sub(pingSent) >= interval:
				return errors.New("no reply to PING on the tracking connection")
			case pingSent.IsZero() && now.Sub(lastRx) >= interval:
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				pingSent = now
			}
			continue
		}
		lastRx, pingSent = now, time.Time{}
		c.onTrackingMessage(ctx, msg)
		*backoff = 50 * time.Millisecond
	}
	return ctx.Err()
}

func (c *Cache) onTrackingMessage(ctx context.Context, msg interface{}) {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Kind != "subscribe" {
			return
		}
		c.trackID.Store(c.pendingID.Load())
		c.stats.Subscriptions.Add(1)
		c.flushL1(ctx)
		c.subscribed.Store(true)
		c.readyOnce.Do(func() { close(c.ready) })
	case *redis.Message:
		c.stats.InvalidationsReceived.Add(1)
		if m.PayloadSlice == nil {
			c.flushL1(ctx) // not a list of keys: nothing else is ever sent here, so flush to be safe
			return
		}
		for _, key := range m.PayloadSlice {
			c.invalidateLocal(ctx, key, nil)
		}
	}
}
