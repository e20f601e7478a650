package twotier

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// L1Store is where L1 copies live. Today there is one kind, the pod's Redis sidecar (RedisL1);
// another (an in-process near cache, say) implements the same methods. Put gets an absolute
// deadline (on the clock this process shares with the store), never a relative TTL: a copy must not
// outlive its L2 entry however late the put arrives. Any error makes the cache treat L1 as down.
type L1Store interface {
	// Get returns the copy, or found == false.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	Put(ctx context.Context, key string, value []byte, deadline time.Time) error
	Delete(ctx context.Context, key string) error
	Flush(ctx context.Context) error
	Close() error
}

// RedisL1 is the Redis sidecar in the pod: GET, SET ... PXAT, DEL, FLUSHDB ASYNC.
type RedisL1 struct{ Client *redis.Client }

func (r RedisL1) Get(ctx context.Context, key string) ([]byte, bool, error) {
	value, err := r.Client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return value, err == nil, err
}

func (r RedisL1) Put(ctx context.Context, key string, value []byte, deadline time.Time) error {
	return r.Client.Do(ctx, "SET", key, value, "PXAT", deadline.UnixMilli()).Err()
}

func (r RedisL1) Delete(ctx context.Context, key string) error { return r.Client.Del(ctx, key).Err() }

func (r RedisL1) Flush(ctx context.Context) error { return r.Client.FlushDBAsync(ctx).Err() }

func (r RedisL1) Close() error { return r.Client.Close() }
