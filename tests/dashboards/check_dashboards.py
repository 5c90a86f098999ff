#!/usr/bin/env python3
"""Static checks of the Grafana dashboards and provisioning files (ctest: dashboards.check).

Usage: check_dashboards.py DASHBOARDS_DIR   (the repository's dashboards/ folder)
       check_dashboards.py --self-test DASHBOARDS_DIR   (the checks catch broken copies)

Every dashboards/grafana/*.json:
  - parses as JSON, is an object with a title, a uid and an integer schemaVersion;
  - has panel ids that are unique across the dashboard (rows and the panels inside them);
  - takes its datasource from a variable: every panel, every target that names a datasource and
    every query variable refer to "${name}" / "$name" where `name` is a templating variable of
    type datasource (or an __inputs entry such as DS_PROMETHEUS), never a fixed uid;
  - gives every query panel at least one target with a non-empty expr and distinct refIds.
Every dashboards/grafana/provisioning/**/*.yml parses as YAML with apiVersion 1, and the
dashboard provider points at a path.
Prints each problem as FILE: where: what, and exits 1 if there is any.
"""

import json
import re
import sys
from pathlib import Path

import yaml

VAR_REF = re.compile(r"^\$\{(\w+)\}$|^\$(\w+)$")


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def datasource_variable(ds):
    """The variable name a datasource reference uses, or None when it is fixed."""
    uid = ds.get("uid") if isinstance(ds, dict) else ds
    if not isinstance(uid, str):
        return None
    m = VAR_REF.match(uid)
    return (m.group(1) or m.group(2)) if m else None


def check_dashboard(path, problems):
    def problem(where, what):
        problems.append(f"{path.name}: {where}: {what}")

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        problem("file", f"does not parse as JSON: {e}")
        return
    if not isinstance(doc, dict):
        problem("file", "is not a JSON object")
        return
    for key in ("title", "uid"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            problem(key, "missing or empty")
    if not isinstance(doc.get("schemaVersion"), int) or isinstance(doc.get("schemaVersion"), bool):
        problem("schemaVersion", f"missing or not an integer: {doc.get('schemaVersion')!r}")

    variables = doc.get("templating", {}).get("list", [])
    ds_vars = {v.get("name") for v in variables if v.get("type") == "datasource"}
    ds_vars |= {i.get("name") for i in doc.get("__inputs", []) if i.get("type") == "datasource"}
    if not ds_vars:
        problem("templating", "no datasource variable (type: datasource) for the panels to use")

    def check_ds(where, ds, required):
        if ds is None:
            if required:
                problem(where, "has no datasource (it must come from a datasource variable)")
            return
        name = datasource_variable(ds)
        if name is None:
            problem(where, f"datasource {ds!r} is fixed, not a variable")
        elif name not in ds_vars:
            problem(where, f"datasource variable ${name} is not defined as a datasource variable")

    for v in variables:
        if v.get("type") == "query":
            check_ds(f"variable {v.get('name')}", v.get("datasource"), True)

    ids = {}
    panels = list(walk_panels(doc.get("panels")))
    if not panels:
        problem("panels", "none")
    for p in panels:
        title = p.get("title", "?")
        pid = p.get("id")
        if not isinstance(pid, int):
            problem(f"panel '{title}'", f"id missing or not an integer: {pid!r}")
        elif pid in ids:
            problem(f"panel '{title}'", f"id {pid} is also the id of panel '{ids[pid]}'")
        else:
            ids[pid] = title
        if p.get("type") == "row":
            continue
        check_ds(f"panel '{title}'", p.get("datasource"), True)
        targets = p.get("targets") or []
        if not targets:
            problem(f"panel '{title}'", "has no targets")
        refs = set()
        for t in targets:
            ref = t.get("refId")
            if not ref or ref in refs:
                problem(f"panel '{title}'", f"target refId {ref!r} missing or repeated")
            refs.add(ref)
            if not isinstance(t.get("expr"), str) or not t["expr"].strip():
                problem(f"panel '{title}' target {ref}", "has no expr")
            if "datasource" in t:
                check_ds(f"panel '{title}' target {ref}", t["datasource"], False)


def check_provisioning(root, problems):
    files = sorted((root / "grafana" / "provisioning").rglob("*.yml"))
    if not files:
        problems.append("grafana/provisioning: no *.yml files")
    kinds = set()
    for f in files:
        try:
            doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            problems.append(f"{f.name}: does not parse as YAML: {e}")
            continue
        if not isinstance(doc, dict) or doc.get("apiVersion") != 1:
            problems.append(f"{f.name}: apiVersion 1 expected")
            continue
        if "datasources" in doc:
            kinds.add("datasources")
            for d in doc["datasources"]:
                if d.get("type") != "prometheus" or not d.get("url"):
                    problems.append(f"{f.name}: datasource {d.get('name')!r} needs type prometheus and a url")
        if "providers" in doc:
            kinds.add("dashboards")
            for p in doc["providers"]:
                if p.get("type") != "file" or not p.get("options", {}).get("path"):
                    problems.append(f"{f.name}: provider {p.get('name')!r} needs type file and options.path")
    for kind in ("datasources", "dashboards"):
        if kind not in kinds:
            problems.append(f"grafana/provisioning: no {kind} provisioning file")


def self_test(root):
    """Broken copies of the real dashboards: each breakage must be reported, by name."""
    import copy
    import shutil
    import tempfile

    good = json.loads((root / "grafana" / "overview.json").read_text(encoding="utf-8"))
    breakages = {
        "schemaVersion": lambda d: d.pop("schemaVersion"),
        "is also the id of panel": lambda d: d["panels"][2].__setitem__("id", d["panels"][1]["id"]),
        "is fixed, not a variable": lambda d: d["panels"][3].__setitem__("datasource", {"type": "prometheus", "uid": "x1"}),
        "is not defined as a datasource variable": lambda d: d["panels"][3]["targets"][0].__setitem__(
            "datasource", {"type": "prometheus", "uid": "${nope}"}),
        "has no datasource": lambda d: d["panels"][3].pop("datasource"),
        "has no expr": lambda d: d["panels"][3]["targets"][0].__setitem__("expr", " "),
        "does not parse as JSON": None,
    }
    failures = 0
    for expected, breakage in breakages.items():
        with tempfile.TemporaryDirectory() as tmp:
            bad = Path(tmp)
            shutil.copytree(root / "grafana" / "provisioning", bad / "grafana" / "provisioning")
            if breakage is None:
                (bad / "grafana" / "overview.json").write_text('{"title": ', encoding="utf-8")
            else:
                d = copy.deepcopy(good)
                breakage(d)
                (bad / "grafana" / "overview.json").write_text(json.dumps(d), encoding="utf-8")
            problems = []
            for path in sorted((bad / "grafana").glob("*.json")):
                check_dashboard(path, problems)
            check_provisioning(bad, problems)
            if not any(expected in p for p in problems):
                print(f"self-test: breaking '{expected}' was not reported (got {problems})", file=sys.stderr)
                failures += 1
    if failures:
        return 1
    print(f"self-test: all {len(breakages)} breakages reported")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(Path(argv[2]))
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    dashboards = sorted((root / "grafana").glob("*.json"))
    problems = []
    if not dashboards:
        problems.append(f"{root}/grafana: no dashboard (*.json)")
    for path in dashboards:
        check_dashboard(path, problems)
    check_provisioning(root, problems)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"{len(dashboards)} dashboards and their provisioning: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
