"""Validate rendered dbfleet manifests and the Grafana dashboard, offline.

Run by deploy/check inside its virtualenv:

    python deploy/validate.py RENDERED.yaml K8S_VERSION

Every problem is printed, then the exit code is 1 if there was any:

- every built-in object is checked strictly (unknown fields are errors)
  against the Kubernetes schemas that kubernetes-validate ships;
- the KEDA ScaledObject is checked against the CRD schema kept in
  deploy/schemas/ (no schema ships with a package for it);
- a kind with no schema at all is an error, never a silent pass;
- what ties the manifests to dbfleet itself: the queue names KEDA watches,
  the metrics port the probes use, pinned image tags, the metric names
  the dashboard queries.
"""

import json
import re
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
KEDA_SCHEMA = DEPLOY / "schemas" / "keda-scaledobject-2.16.1.json"
DASHBOARD = DEPLOY / "grafana" / "dbfleet.json"
METRICS_SOURCE = REPO / "src" / "metrics" / "mod.rs"


def name_of(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def check_schemas(objects, version):
    problems = []
    keda = json.loads(KEDA_SCHEMA.read_text())
    for obj in objects:
        if obj.get("kind") == "ScaledObject":
            validator = jsonschema.Draft7Validator(keda)
            for error in validator.iter_errors(obj):
                path = ".".join(str(p) for p in error.absolute_path)
                problems.append(f"{name_of(obj)}: {path}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            problems.append(f"{name_of(obj)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{name_of(obj)}: no schema: {error.message}")
    return problems


def dbfleet_config(objects):
    """The dbfleet.yaml of the generated ConfigMap."""
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("dbfleet-config"):
            return yaml.safe_load(obj["data"]["dbfleet.yaml"])
    return None


def pod_specs(objects):
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            yield obj, spec["template"]["spec"]


def check_fleet(objects):
    """What the schemas cannot know: agreement with dbfleet's own names."""
    problems = []
    config = dbfleet_config(objects)
    if config is None:
        return ["no ConfigMap dbfleet-config with dbfleet.yaml"]
    prefix = config.get("broker", {}).get("prefix", "dbfleet")
    # src/broker/topology.rs: `<prefix>.jobs` and `<prefix>.interactive`.
    queues = {f"{prefix}.jobs", f"{prefix}.interactive"}
    concurrency = config.get("worker", {}).get("concurrency", 4)
    metrics_port = int(str(config["telemetry"]["metrics_addr"]).rsplit(":", 1)[1])

    scaled = [o for o in objects if o["kind"] == "ScaledObject"]
    if not scaled:
        problems.append("no ScaledObject for the workers")
    for obj in scaled:
        for trigger in obj["spec"]["triggers"]:
            meta = trigger["metadata"]
            if meta.get("queueName") not in queues:
                problems.append(f"{name_of(obj)}: queue {meta.get('queueName')!r} is none of {sorted(queues)}")
            if meta.get("queueName") == f"{prefix}.jobs" and meta.get("value") != str(concurrency):
                problems.append(f"{name_of(obj)}: jobs per pod {meta.get('value')} is not worker.concurrency {concurrency}")

    for obj, spec in pod_specs(objects):
        for container in spec["containers"]:
            image = container["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if "@sha256:" not in image and tag in ("", "latest"):
                problems.append(f"{name_of(obj)}: image {image} is not pinned")
            for port in container.get("ports", []):
                if port["name"] == "metrics" and port["containerPort"] != metrics_port:
                    problems.append(f"{name_of(obj)}: metrics port {port['containerPort']} is not telemetry.metrics_addr's {metrics_port}")
    return problems


def check_dashboard():
    problems = []
    dashboard = json.loads(DASHBOARD.read_text())
    registered = set(re.findall(r'r\.register\(\s*"(dbfleet_[a-z_]+)"', METRICS_SOURCE.read_text()))
    if not registered:
        return [f"no metric registrations found in {METRICS_SOURCE}"]
    text = json.dumps(dashboard)
    used = set(re.findall(r"\b(dbfleet_[a-z_]+)", text))
    for metric in sorted(used):
        base = re.sub(r"_(total|bucket|sum|count)$", "", metric)
        if base not in registered:
            problems.append(f"dashboard: {metric} is not a dbfleet metric (src/metrics/mod.rs)")
    for metric in sorted(registered):
        if not any(re.sub(r"_(total|bucket|sum|count)$", "", u) == metric for u in used):
            problems.append(f"dashboard: no panel shows {metric}")
    if "trace_id" not in text or "${trace_url}" not in text:
        problems.append("dashboard: no data link from a log line's trace_id to its trace")
    return problems


def main():
    rendered, version = sys.argv[1], sys.argv[2]
    objects = [o for o in yaml.safe_load_all(Path(rendered).read_text()) if o]
    problems = check_schemas(objects, version) + check_fleet(objects) + check_dashboard()
    for problem in problems:
        print(f"error: {problem}")
    kinds = sorted({o["kind"] for o in objects})
    print(f"validate: {len(objects)} objects ({', '.join(kinds)}) against Kubernetes {version}: "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
