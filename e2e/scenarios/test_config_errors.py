"""A config mistake under `pulumi up` ends in a clean error: the program raises its ConfigError, a
pulumi.RunError, which the Python SDK's exec shim logs as an error without a traceback (an unhandled
exception would print one). The broken stack is the unit tier's seven mistakes
(tests/test_config_errors.py), so both paths report the same problems."""
from __future__ import annotations

from e2e import engine, live
from tests.test_config_errors import EXPECTED, SEVEN_MISTAKES


def test_a_broken_stack_is_refused_with_every_problem_no_traceback_and_nothing_created(workspace, empty_cluster):
    st = workspace.stack("staging")
    cfg = {k: v for k, v in st.config().items() if not k.startswith("cache-patterns:")}   # keeps the salt
    st.set_config({**cfg, **SEVEN_MISTAKES})
    up = st.up(check=False)
    out = up.output
    assert up.code != 0, f"pulumi up of a broken stack succeeded:\n{engine._tail(up)}"
    assert "invalid stack config (7 problems):" in out, out[-3000:]
    for key, fragment in EXPECTED.items():
        assert f"{key}: " in out and fragment in out, (key, fragment, out[-3000:])
    for trace in ("Traceback", "unhandled exception", 'File "'):
        assert trace not in out, f"{trace!r} in the output of `pulumi up`:\n{out[-3000:]}"
    assert [r["type"] for r in st.resources() if r["type"] != "pulumi:pulumi:Stack"] == [], "resources in the state"
    assert up.ops("create") == [] or {s.type for s in up.ops("create")} <= {"pulumi:pulumi:Stack"}, up.describe()
    assert live.owned_objects(empty_cluster) == {}, "objects in the cluster"
