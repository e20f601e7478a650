"""The testbed: real Redis, Sentinel and HAProxy processes run as pods run them (their pod scripts, a
pod-like file layout, a network namespace per pod), and what measures them. Shared by the live tests
(tests/live) and the benchmarks (benchmarks/); not part of the component library."""
