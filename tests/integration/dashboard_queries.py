#!/usr/bin/env python3
"""Every PromQL expression of every Grafana dashboard, asked of a live Prometheus.

Usage: dashboard_queries.py PROMETHEUS_URL DASHBOARD.json... [--var NAME=VALUE]... [--rules FILE]...

For each dashboard, its template variables are resolved as Grafana would (in order; a variable
given with --var keeps that value): a `label_values(METRIC, LABEL)` variable takes the first
value (sorted) of LABEL among the series METRIC selects, after substituting the variables
before it; `label_values(LABEL)` the first value of the label. The query of each such variable
must itself select at least one series. Grafana's built-in intervals become fixed durations
($__rate_interval and $__interval 10s, $__range 5m). Then every target's `expr` of every panel
(rows and nested panels included) is run through /api/v1/query and must return at least one
series. With --rules, every recording rule of those files must have produced a series too.
Prints one line per query and, for each failure, the dashboard, panel, refId and expression.
Exit 0 when every query returned a series, 1 otherwise.
"""

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

BUILTINS = {
    "__rate_interval": "10s",
    "__interval": "10s",
    "__interval_ms": "10000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}


def get(base, path, params):
    url = base.rstrip("/") + path + "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:  # Prometheus explains a bad query in the body
        try:
            raise RuntimeError(f"HTTP {e.code}: {json.load(e).get('error')}") from None
        except ValueError:
            raise RuntimeError(f"HTTP {e.code}") from None
    if doc.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {doc}")
    return doc["data"]


def substitute(text, values):
    """Replaces ${name}, ${name:format}, [[name]] and $name, longest names first."""
    def lookup(name, whole):
        return values.get(name, whole)

    text = re.sub(r"\$\{(\w+)(?::[^}]*)?\}", lambda m: lookup(m.group(1), m.group(0)), text)
    text = re.sub(r"\[\[(\w+)(?::[^\]]*)?\]\]", lambda m: lookup(m.group(1), m.group(0)), text)
    for name in sorted(values, key=len, reverse=True):
        text = re.sub(r"\$" + re.escape(name) + r"(?!\w)", lambda m: values[name], text)
    return text


def unresolved(text):
    return re.findall(r"\$\{?\w+", text)


def series_count(data):
    kind = data.get("resultType")
    if kind in ("vector", "matrix"):
        return len(data["result"])
    return 1 if data.get("result") else 0  # scalar, string


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def resolve_variables(base, dashboard, overrides, failures, name):
    values = dict(BUILTINS)
    for v in dashboard.get("templating", {}).get("list", []):
        vname, kind = v.get("name"), v.get("type")
        if kind == "datasource":
            continue
        query = v.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        query = substitute(query or "", values)
        if kind == "query":
            m = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*(\w+)\s*\)\s*", query) or re.fullmatch(
                r"\s*label_values\(\s*(\w+)\s*\)\s*", query)
            if not m:
                failures.append(f"{name}: variable {vname}: query {query!r} is not label_values(...), which this test resolves")
                continue
            if m.lastindex == 2:
                selector, label = m.group(1), m.group(2)
                data = get(base, "/api/v1/query", {"query": selector})
                found = sorted({s["metric"][label] for s in data["result"] if label in s["metric"]})
                print(f"  variable {vname}: {selector} -> {len(data['result'])} series, {label} = {found[:5]}")
            else:
                label = m.group(1)
                found = sorted(get(base, f"/api/v1/label/{label}/values", {}))
                print(f"  variable {vname}: label {label} = {found[:5]}")
            if not found:
                failures.append(f"{name}: variable {vname}: {query} returned no value")
                continue
            values[vname] = overrides.get(vname, found[0])
            if vname in overrides and overrides[vname] not in found:
                failures.append(f"{name}: variable {vname}: {overrides[vname]!r} is not among {found}")
        else:  # custom, constant, interval, textbox: given, or as saved
            current = v.get("current", {}).get("value")
            values[vname] = overrides.get(vname, current if isinstance(current, str) else query)
    return values


def check_dashboard(base, path, overrides, failures):
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
    name = dashboard.get("title", path)
    print(f"{name} ({path})")
    values = resolve_variables(base, dashboard, overrides, failures, name)
    queries = 0
    for panel in walk_panels(dashboard.get("panels")):
        for target in panel.get("targets") or []:
            expr = target.get("expr")
            if not expr:
                continue
            queries += 1
            query = substitute(expr, values)
            where = f"{name}: panel '{panel.get('title')}' ({target.get('refId')})"
            left = unresolved(query)
            if left:
                failures.append(f"{where}: unresolved {left} in {query}")
                continue
            try:
                n = series_count(get(base, "/api/v1/query", {"query": query}))
            except Exception as e:  # an HTTP 400 is a PromQL error: name it with the panel
                failures.append(f"{where}: {query}: {e}")
                continue
            print(f"  {n:4d} series  {where}: {query}")
            if n == 0:
                failures.append(f"{where}: no series for {query}")
    return queries


def check_rules(base, path, failures):
    text = open(path, encoding="utf-8").read()
    records = re.findall(r"^\s*-\s*record:\s*(\S+)", text, flags=re.M)
    for record in records:
        n = series_count(get(base, "/api/v1/query", {"query": record}))
        print(f"  {n:4d} series  recording rule {record}")
        if n == 0:
            failures.append(f"{path}: recording rule {record} produced no series")
    return len(records)


def main(argv):
    args = argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    base, rest = args[0], args[1:]
    overrides, dashboards, rules = {}, [], []
    i = 0
    while i < len(rest):
        if rest[i] == "--var":
            k, _, v = rest[i + 1].partition("=")
            overrides[k] = v
            i += 2
        elif rest[i] == "--rules":
            rules.append(rest[i + 1])
            i += 2
        else:
            dashboards.append(rest[i])
            i += 1
    failures = []
    queries = sum(check_dashboard(base, d, overrides, failures) for d in dashboards)
    records = sum(check_rules(base, r, failures) for r in rules)
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    if failures:
        return 1
    print(f"{queries} panel queries of {len(dashboards)} dashboards and {records} recording rules: every one returned a series")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
