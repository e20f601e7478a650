"""Observability for every pattern: exporters, scrape objects, alert rules, dashboards, cloud alarms.

Generation is pure (rules, dashboard, scrape specs and alarm lists are functions of a CacheTarget);
`component` and `cloudwatch` turn them into resources. Nothing here is imported by the package itself,
so config.py can import `observability.settings` without a cycle.
"""
