package twotier

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscriptionLoop keeps the invalidation subscription alive: every (re)subscription flushes L1
// (what was published meanwhile is lost), each message drops a key or flushes L1, an idle connection
// is pinged and one that does not answer within another interval is replaced.
func (c *Cache) subscriptionLoop() {
	defer c.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-c.closed; cancel() }()
	backoff := 50 * time.Millisecond
	for {
		err := c.subscribeOnce(ctx, &backoff)
		c.subscribed.Store(false)
		select {
		case <-c.closed:
			return
		default:
		}
		slog.Warn("cache invalidation subscription lost, L1 not populated until it is back", "error", err)
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

func (c *Cache) subscribeOnce(ctx context.Context, backoff *time.Duration) error {
	ps := c.sub.Subscribe(ctx, c.channel)
	defer ps.Close()
	interval := c.opts.HealthCheckInterval
	poll := interval
	if poll > 200*time.Millisecond {
		poll = 200 * time.Millisecond
	}
	lastRx := time.Now()
	var pingSent time.Time
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, poll)
		now := time.Now()
		if err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				return err
			}
			if !pingSent.IsZero() && now.Sub(pingSent) >= interval {
				return errors.New("no reply to PING on the invalidation subscription")
			}
			if pingSent.IsZero() && now.Sub(lastRx) >= interval {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				pingSent = now
			}
			continue
		}
		lastRx, pingSent = now, time.Time{}
		c.onMessage(ctx, msg)
		*backoff = 50 * time.Millisecond
	}
	return ctx.Err()
}

func (c *Cache) onMessage(ctx context.Context, msg interface{}) {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Kind != "subscribe" {
			return
		}
		// Every (re)subscription, including go-redis's silent reconnects, lands here. Anything
		// published while we were not subscribed is lost, so the whole L1 goes.
		c.stats.Subscriptions.Add(1)
		c.flushL1(ctx)
		c.subscribed.Store(true)
		c.readyOnce.Do(func() { close(c.ready) })
	case *redis.Message:
		c.stats.InvalidationsReceived.Add(1)
		inv := Decode([]byte(m.Payload))
		switch {
		case inv.Origin == c.origin:
			c.stats.OwnInvalidationsSkipped.Add(1)
		case inv.Flush:
			c.flushL1(ctx)
		default:
			c.invalidateLocal(ctx, string(inv.Key), inv.Announced)
		}
	}
}
