"""The kubelet's readiness probe of the Redis pods, run on a LocalStatefulSet (a mixin: the state is
LocalStatefulSet's). redis-start.sh holds every replica at replica-priority 0 until `probe.sh ready`
sees its first sync done (issue 23): without the probe running, no replica would become promotable."""
from __future__ import annotations

import subprocess
import threading


class ReadinessProber:
    """Runs `probe.sh ready` every `probe_period_s` on the Redis servers whose replica-priority is held."""

    # The pods run it every 5 s; the live tests' other timings are short too.
    probe_period_s: float = 1.0
    _prober: threading.Thread | None = None

    def start_prober(self) -> None:
        """Run the Redis pods' readiness probe as the kubelet does (every `probe_period_s`)."""
        if self._prober is not None:
            return
        self._probing = threading.Event()

        def loop() -> None:
            while not self._probing.wait(self.probe_period_s):
                for i in range(self.servers):  # type: ignore[attr-defined]
                    name = f"redis-{i}"
                    m = self.members.get(name)  # type: ignore[attr-defined]
                    # Its only effect here is restoring a held replica-priority: probe just those
                    # servers, so the prober adds no load to a settled set (timing tests run beside it).
                    if m is None or not m.running() or not (m.run_dir / "replica-priority").exists():
                        continue
                    try:
                        self.run_script(name, "probe.sh", "ready", timeout=10)  # type: ignore[attr-defined]
                    except (OSError, subprocess.TimeoutExpired):
                        pass

        self._prober = threading.Thread(target=loop, daemon=True)
        self._prober.start()

    def stop_prober(self) -> None:
        if self._prober is not None:
            self._probing.set()
            self._prober.join(15)
            self._prober = None
