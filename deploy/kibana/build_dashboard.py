"""Writes churnops-dashboard.ndjson, the Kibana saved objects `churnops kibana import` loads.

Run `python deploy/kibana/build_dashboard.py` after changing a panel; a test checks the NDJSON
matches this script and that every field a panel uses is mapped by the exporter's index templates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("churnops-dashboard.ndjson")
VERSION = "8.8.0"  # saved-object format; Kibana migrates it forward on import

INDEX_PATTERNS = {
    "churnops-monitoring": "churnops-monitoring-*",
    "churnops-feature-drift": "churnops-feature-drift-*",
    "churnops-predictions": "churnops-predictions-*",
    "churnops-alerts": "churnops-alerts-*",
}

# id, title, index pattern id, [(aggregation, field, label)], split-series field or None
PANELS: list[tuple[str, str, str, list[tuple[str, str | None, str]], str | None]] = [
    (
        "churnops-roc-auc",
        "ROC AUC on feedback vs. test",
        "churnops-monitoring",
        [("avg", "performance.roc_auc", "production"), ("avg", "performance.reference_roc_auc", "champion test")],
        None,
    ),
    (
        "churnops-drift-share",
        "Share of drifted features",
        "churnops-monitoring",
        [("avg", "drift.share_drifted_features", "share drifted"), ("avg", "drift.prediction_score", "prediction drift")],
        None,
    ),
    ("churnops-psi", "PSI per feature", "churnops-feature-drift", [("avg", "psi", "PSI")], "feature"),
    ("churnops-volume", "Prediction volume", "churnops-predictions", [("count", None, "predictions")], None),
    (
        "churnops-churn-rate",
        "Churn rate: predicted vs. observed",
        "churnops-monitoring",
        [("avg", "performance.positive_rate", "predicted"), ("avg", "performance.observed_churn_rate", "observed")],
        None,
    ),
    ("churnops-latency", "Request latency (ms)", "churnops-monitoring", [("avg", f"service.latency_{q}_ms", q) for q in ("p50", "p95", "p99")], None),
    ("churnops-alerts-by-rule", "Alerts by rule", "churnops-alerts", [("count", None, "alerts")], "rule"),
]


def _search_source() -> str:
    return json.dumps({"query": {"query": "", "language": "kuery"}, "filter": [], "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})


def _vis_state(title: str, metrics: list[tuple[str, str | None, str]], split: str | None) -> dict[str, Any]:
    aggs: list[dict[str, Any]] = []
    for number, (aggregation, field, label) in enumerate(metrics, start=1):
        params = {"customLabel": label} if field is None else {"field": field, "customLabel": label}
        aggs.append({"id": str(number), "enabled": True, "type": aggregation, "params": params, "schema": "metric"})
    aggs.append(
        {
            "id": "x",
            "enabled": True,
            "type": "date_histogram",
            "schema": "segment",
            "params": {"field": "@timestamp", "interval": "auto", "min_doc_count": 1, "extended_bounds": {}},
        }
    )
    if split:
        aggs.append(
            {
                "id": "split",
                "enabled": True,
                "type": "terms",
                "schema": "group",
                "params": {"field": split, "size": 25, "order": "desc", "orderBy": "1"},
            }
        )
    series = [
        {
            "show": True,
            "type": "line",
            "mode": "normal",
            "data": {"id": str(number), "label": label},
            "valueAxis": "ValueAxis-1",
            "drawLinesBetweenPoints": True,
            "showCircles": True,
            "lineWidth": 2,
        }
        for number, (_, _, label) in enumerate(metrics, start=1)
    ]
    return {
        "title": title,
        "type": "line",
        "aggs": aggs,
        "params": {
            "type": "line",
            "addTooltip": True,
            "addLegend": True,
            "legendPosition": "right",
            "times": [],
            "addTimeMarker": False,
            "grid": {"categoryLines": False},
            "categoryAxes": [
                {
                    "id": "CategoryAxis-1",
                    "type": "category",
                    "position": "bottom",
                    "show": True,
                    "scale": {"type": "linear"},
                    "labels": {"show": True, "filter": True, "truncate": 100},
                    "title": {},
                }
            ],
            "valueAxes": [
                {
                    "id": "ValueAxis-1",
                    "name": "LeftAxis-1",
                    "type": "value",
                    "position": "left",
                    "show": True,
                    "scale": {"type": "linear", "mode": "normal"},
                    "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                    "title": {"text": metrics[0][2]},
                }
            ],
            "seriesParams": series,
        },
    }


def saved_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {
            "type": "index-pattern",
            "id": pattern_id,
            "attributes": {"title": title, "timeFieldName": "@timestamp"},
            "references": [],
            "coreMigrationVersion": VERSION,
        }
        for pattern_id, title in INDEX_PATTERNS.items()
    ]
    for vis_id, title, pattern_id, metrics, split in PANELS:
        objects.append(
            {
                "type": "visualization",
                "id": vis_id,
                "attributes": {
                    "title": title,
                    "description": "",
                    "visState": json.dumps(_vis_state(title, metrics, split)),
                    "uiStateJSON": "{}",
                    "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source()},
                },
                "references": [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": pattern_id}],
                "coreMigrationVersion": VERSION,
            }
        )
    panels = [
        {
            "version": VERSION,
            "type": "visualization",
            "panelIndex": str(number),
            "panelRefName": f"panel_{number}",
            "embeddableConfig": {},
            "gridData": {"x": (number % 2) * 24, "y": (number // 2) * 15, "w": 24, "h": 15, "i": str(number)},
        }
        for number in range(len(PANELS))
    ]
    objects.append(
        {
            "type": "dashboard",
            "id": "churnops-monitoring",
            "attributes": {
                "title": "churnops: model and service monitoring",
                "description": "Drift, performance on feedback, volume, churn rate and latency over time (exported by churnops).",
                "panelsJSON": json.dumps(panels),
                "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
                "timeRestore": True,
                "timeFrom": "now-30d",
                "timeTo": "now",
                "refreshInterval": {"pause": False, "value": 60000},
                "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []})},
            },
            "references": [{"name": f"panel_{number}", "type": "visualization", "id": PANELS[number][0]} for number in range(len(PANELS))],
            "coreMigrationVersion": VERSION,
        }
    )
    return objects


def render() -> str:
    return "".join(json.dumps(item, sort_keys=True) + "\n" for item in saved_objects())


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
