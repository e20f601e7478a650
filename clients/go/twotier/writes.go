package twotier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Set writes to L2 (ttl 0: the contract's CACHE_DEFAULT_TTL, else no expiry), drops the local L1
// copy and tells other pods to drop theirs, announcing the value (protocol 2). The error wraps
// ErrL2Unavailable when L2 cannot be reached.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("ttl: must be > 0, got %v", ttl)
	}
	if ttl == 0 {
		ttl = c.defaultTTL
	}
	px := int64(-1)
	if ttl > 0 {
		px = (ttl + time.Millisecond/2).Milliseconds()
		if px < 1 {
			px = 1
		}
	}
	announced := &Announcement{Digest: Digest(value), TTLMillis: px}
	_, err := c.write(ctx, key, announced, func(p redis.Pipeliner) redis.Cmder {
		if px < 0 {
			return p.Set(ctx, key, value, 0)
		}
		return p.Set(ctx, key, value, time.Duration(px)*time.Millisecond)
	})
	return err
}

// Delete deletes from L2 and from every pod's L1; existed tells whether L2 held the key.
func (c *Cache) Delete(ctx context.Context, key string) (existed bool, err error) {
	cmd, err := c.write(ctx, key, nil, func(p redis.Pipeliner) redis.Cmder { return p.Del(ctx, key) })
	if err != nil {
		return false, err
	}
	return cmd.(*redis.IntCmd).Val() > 0, nil
}

func (c *Cache) message(key string, announced *Announcement) []byte {
	var payload []byte
	if announced == nil || c.opts.PublishVersion == 1 {
		payload, _ = EncodeKey(c.origin, key, c.opts.PublishVersion)
	} else {
		payload, _ = EncodeValue(c.origin, key, announced.Digest, announced.TTLMillis)
	}
	return payload
}

func (c *Cache) write(ctx context.Context, key string, announced *Announcement,
	command func(redis.Pipeliner) redis.Cmder) (redis.Cmder, error) {
	if err := c.checkL2(); err != nil {
		return nil, err
	}
	var message []byte
	if c.channel != "" {
		message = c.message(key, announced)
	}
	// The write and its invalidation share one round trip; on one connection PUBLISH runs after the
	// write, so no pod can re-read the old value after being told. (A cluster: two calls.)
	pipe := c.l2.Pipeline()
	cmd := command(pipe)
	if message != nil && !c.cluster {
		pipe.Publish(ctx, c.channel, message)
	}
	_, execErr := pipe.Exec(ctx)
	err := cmd.Err()
	if err == nil {
		err = failed(execErr) // go-redis leaves a command's error unset when the pipeline could not be sent
	}
	if err != nil {
		c.invalidateLocal(ctx, key, nil) // unknown whether L2 applied it: the local copy goes either way
		return nil, c.l2Failed(err, "write")
	}
	c.l2RetryAt.Store(0)
	c.invalidateLocal(ctx, key, announced)
	if message != nil && c.cluster {
		if err := c.l2.Publish(ctx, c.channel, message).Err(); err != nil {
			c.stats.PublishErrors.Add(1)
			slog.Warn("cache invalidation not published (other pods stale for at most the L1 TTL cap)", "error", err)
		}
	}
	return cmd, nil
}
