"""Metric names a PromQL expression reads, from its parse tree (promql-parser, the Rust parser's
Python binding), so a check against scraped names sees exactly the selectors Prometheus would."""
from __future__ import annotations

import promql_parser


def metric_names(expr: str) -> set[str]:
    """Every metric name selected in `expr` (by name or by a `__name__` equality matcher)."""
    out: set[str] = set()
    stack = [promql_parser.parse(expr)]
    while stack:
        node = stack.pop()
        kind = type(node).__name__
        if kind == "VectorSelector":
            if node.name:
                out.add(node.name)
            for m in node.matchers.matchers:
                if m.name == "__name__" and str(m.op).endswith("Equal"):
                    out.add(m.value)
        elif kind == "MatrixSelector":
            stack.append(node.vector_selector)
        elif kind == "BinaryExpr":
            stack += [node.lhs, node.rhs]
        elif kind == "Call":
            stack += list(node.args)
        elif kind in ("AggregateExpr",):
            stack.append(node.expr)
            if node.param is not None:
                stack.append(node.param)
        elif kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
            stack.append(node.expr)
        elif kind in ("NumberLiteral", "StringLiteral"):
            continue
        else:
            raise TypeError(f"PromQL node {kind} not handled: {node}")
    return out
