"""The invalidation subscription of TwoTierCache (a base class of it, sharing its state): a daemon
thread subscribed to the invalidation channel on L2, kept alive by PING, resubscribing with backoff.
Each (re)subscription flushes L1 (what was published meanwhile is lost); each message drops a key
or flushes L1.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from redis.exceptions import TimeoutError

from . import protocol
from .connect import L2Client
from .l1 import L1Coherence

log = logging.getLogger("cache_patterns_client")


class InvalidationSubscriber(L1Coherence):
    """The subscription thread's loop and its message handling. State lives on the TwoTierCache."""

    _sub_client: L2Client
    _channel: Optional[str]
    _origin: str
    _ready: threading.Event
    _closed: threading.Event

    def _subscription_loop(self) -> None:
        backoff = 0.05
        interval = self.options.health_check_interval
        while not self._closed.is_set():
            pubsub = None
            try:
                pubsub = self._sub_client.pubsub(ignore_subscribe_messages=False)  # type: ignore[no-untyped-call]
                pubsub.subscribe(self._channel)
                last_rx = time.monotonic()
                ping_sent: Optional[float] = None
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=min(0.2, interval))
                    now = time.monotonic()
                    if message is None:
                        if ping_sent is not None and now - ping_sent >= interval:
                            raise TimeoutError("no reply to PING on the invalidation subscription")
                        if ping_sent is None and now - last_rx >= interval:
                            pubsub.ping()
                            ping_sent = now
                        continue
                    last_rx, ping_sent = now, None
                    self._on_message(message)
                    backoff = 0.05
            except Exception as exc:  # the thread must survive anything and resubscribe
                if not self._closed.is_set():
                    log.warning("cache invalidation subscription lost, L1 not populated until it is back: %s", exc)
            finally:
                self._subscribed = False
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # closing a broken connection may fail; nothing to do
                        pass
            self._closed.wait(backoff)
            backoff = min(backoff * 2, 2.0)

    def _on_message(self, message: dict) -> None:  # type: ignore[type-arg]
        kind = message["type"]
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "subscribe":
            # Every (re)subscription, including redis-py's silent reconnects, lands here. Anything
            # published while we were not subscribed is lost, so the whole L1 goes.
            self.stats.subscriptions += 1
            self._flush_l1("invalidation subscription (re)connected")
            self._subscribed = True
            self._ready.set()
        elif kind == "message":
            self.stats.invalidations_received += 1
            inv = protocol.decode(message["data"])
            if inv.origin == self._origin.encode():
                self.stats.own_invalidations_skipped += 1
            elif inv.flush:
                self._flush_l1("flush message" if inv.origin else "unreadable invalidation message")
            else:
                assert inv.key is not None
                self._invalidate_local(inv.key, inv.announced)
