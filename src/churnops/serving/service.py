"""What the endpoints share: settings, the contract, the served model, the store, metrics and jobs.

Every prediction path (HTTP, batch, WebSocket, /invocations) goes through `Service.predict`
(single customers through `Service.predict_one`, which groups the ones that arrive together:
coalescing.py), so each one is scored, counted and stored the same way. `Service.explain` (POST /explain) scores with
the same model but stores and counts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from churnops.data.contract import DatasetContract, load_contract
from churnops.model.served import ModelUnavailable, ServedModel, same_columns
from churnops.serving.coalescing import Coalescer, Waiting, settle
from churnops.serving.explain import feature_effects, reference_record
from churnops.serving.jobs import RetrainJobs
from churnops.serving.logs import request_id
from churnops.serving.metrics import ServiceMetrics
from churnops.serving.schemas import batch_request_model, customer_model
from churnops.serving.watcher import ChampionWatcher
from churnops.settings import Settings
from churnops.store import FeedbackRecord, PredictionStore, RequestRecord, create_store_engine, new_prediction_ids, score_and_record

log = logging.getLogger("churnops.service")

# Probes, scrapes and docs would drown the service's own volume, latency and error figures.
# "/docs/assets/{name}" is the docs' static files (serving/docs.py); "/" is the index page, which load balancers often probe.
# /explain and /contract are the web front end's what-if traffic, not production's.
UNLOGGED_ENDPOINTS = frozenset(
    {
        "/",
        "/health",
        "/ready",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/docs/assets/{name}",
        "/redoc",
        "/openapi.json",
        "/explain",
        "/contract",
    }
)


@dataclass(frozen=True)
class Scored:
    model: ServedModel
    ids: list[str]
    probabilities: list[float]
    churn: list[bool]
    labels: list[str]

    def row(self, index: int) -> Scored:
        """One customer's prediction out of a group's."""
        return Scored(self.model, [self.ids[index]], [self.probabilities[index]], [self.churn[index]], [self.labels[index]])


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # --dataset fixes the contract requests are validated with; otherwise it is the served version's own.
        self.fixed_contract = load_contract(settings.dataset) if settings.dataset else None
        self.watcher = ChampionWatcher(settings, self.fixed_contract, on_swap=self._swapped)
        self.on_contract_change: Callable[[], None] | None = None  # the app rebuilds its prediction routes
        self.watcher.check()  # the first version now, so the request models come from its contract
        self._use_contract(self.watcher.current)
        self.metrics = ServiceMetrics()
        self.store = PredictionStore.from_settings(settings.store, acknowledged=True)
        self.jobs = RetrainJobs(settings, on_finished=self.watcher.check)
        self.metrics.track_store(lambda: self.store.queue_depth, lambda: self.store.spooled_records)
        self.exports: Any = None  # the Elasticsearch export loop, when CHURNOPS_ELASTICSEARCH_URL is set
        self._requests: list[tuple[float, str, str, int, float, str | None]] = []  # the request log, not yet handed to the store
        self._requests_since = time.monotonic()
        self._singles: Coalescer[Scored] = Coalescer(self._predict_group)

    def start(self) -> None:
        self.store.start()
        self.watcher.start()
        if self.settings.elasticsearch.url:
            from churnops.store.elasticsearch import ExportLoop  # noqa: PLC0415 - the Elasticsearch client (~2 s to import) only when configured

            self.exports = ExportLoop(self.settings.elasticsearch, self.contract, create_store_engine(self.settings.store.url))
            self.exports.start()

    def stop(self) -> None:
        self.watcher.stop()
        self.jobs.stop()
        self.flush_request_log()
        self.store.close()
        if self.exports is not None:
            self.exports.stop()  # after the store flushed, so the last predictions go too

    def _use_contract(self, model: ServedModel | None) -> None:
        """The contract (and the request models and docs example built from it) of `model`, the fixed one, or the default."""
        if self.fixed_contract is not None:
            contract = self.fixed_contract
        elif model is not None:
            contract = model.contract
        else:
            contract = load_contract(None)
            log.warning("no version to serve yet: validating requests with the built-in contract '%s' until one is loaded", contract.name)
        example = {**contract.example_record(), **(model.example if model is not None and model.example else {})}
        self.contract: DatasetContract = contract
        self.customer_model: type[BaseModel] = customer_model(contract, example)
        self.example: dict[str, Any] = self.customer_model.model_json_schema()["examples"][0]  # shown in /docs
        self.reference: dict[str, Any] = reference_record(self.customer_model, self.example)  # what /explain compares with
        self.batch_model: type[BaseModel] = batch_request_model(self.customer_model, self.settings.api.max_batch_size, self.example)

    def _swapped(self, model: ServedModel) -> None:
        """A new version is served: if it was trained on other columns, requests follow its contract from now on."""
        current: DatasetContract | None = getattr(self, "contract", None)  # unset during the first load, in __init__
        if current is None or self.fixed_contract is not None or same_columns(model.contract, current):
            return
        log.info("the served version has another contract: rebuilding the request models", extra={"contract": model.contract.name})
        self._use_contract(model)
        if self.on_contract_change is not None:
            self.on_contract_change()

    def model(self) -> ServedModel:
        model = self.watcher.current
        if model is None:
            raise ModelUnavailable(self.watcher.reason)
        return model

    async def predict(self, customers: list[dict[str, Any]], endpoint: str) -> Scored:
        """Score, count and store; returns once the predictions are durable (CHURNOPS_STORE_DURABILITY); the caller shapes the response."""
        scored, ticket = self._score_and_record(customers, endpoint, request_id.get())
        await self.store.durable(ticket)  # other requests run meanwhile and share the same fsync
        self._observe(scored)
        return scored

    async def predict_one(self, customer: dict[str, Any], endpoint: str) -> Scored:
        """`predict` of one customer, scored and made durable together with the others that arrive in the same loop turn."""
        return await self._singles.submit(customer, endpoint)

    async def _predict_group(self, endpoint: str, group: list[Waiting[Scored]]) -> None:
        try:
            scored, ticket = self._score_and_record([waiting.record for waiting in group], endpoint, [waiting.request_id for waiting in group])
            await self.store.durable(ticket)
        except asyncio.CancelledError:  # the service stops
            for waiting in group:
                waiting.future.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - every request of the group answers the group's error (503, 500)
            settle(group, error)
            return
        self._observe(scored)
        settle(group, [scored.row(index) for index in range(len(group))])

    def _score_and_record(self, customers: list[dict[str, Any]], endpoint: str, request_ids: str | None | list[str | None]) -> tuple[Scored, int]:
        model = self.model()  # held for the whole call: a swap meanwhile does not affect it
        recorded = score_and_record(model, customers, self.store, endpoint, request_ids, validated=True)  # by the customer model
        target = self.contract.target
        churn = recorded.churn.tolist()
        labels = [target.positive if flag else target.negative for flag in churn]
        return Scored(model, recorded.ids, recorded.probabilities.tolist(), churn, labels), recorded.ticket

    def _observe(self, scored: Scored) -> None:
        self.metrics.observe_predictions(scored.probabilities, scored.labels)

    def explain(self, record: dict[str, Any]) -> dict[str, Any]:
        """The prediction for one customer, as predict scores it, and each feature's effect on it; neither stored nor counted."""
        model = self.model()
        probability, contributions = feature_effects(model, record, self.reference, self.contract.feature_columns)
        churn = probability >= model.threshold
        target = self.contract.target
        return {
            "churn_probability": probability,
            "churn": churn,
            "label": target.positive if churn else target.negative,
            "threshold": model.threshold,
            "model_name": model.name,
            "model_version": model.version,
            "contributions": contributions,
        }

    def prediction_rows(self, scored: Scored, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        id_column = self.contract.id_column
        return [
            {
                "prediction_id": scored.ids[row],
                "customer_id": customers[row].get(id_column) if id_column else None,
                "churn_probability": scored.probabilities[row],
                "churn": scored.churn[row],
                "label": scored.labels[row],
                "threshold": scored.model.threshold,
                "model_name": scored.model.name,
                "model_version": scored.model.version,
            }
            for row in range(len(customers))
        ]

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count the request in the Prometheus metrics and, unless it is a probe, log it in the store.

        Called on the event loop only. Requests are collected as plain tuples and handed to the
        store in one call per flush interval: per-request records cost a quarter of the throughput.
        """
        self.metrics.observe_request(endpoint, method, status, seconds)
        if self.settings.store.request_log and endpoint not in UNLOGGED_ENDPOINTS:
            self._requests.append((time.time(), endpoint, method, status, seconds * 1000, request_id.get()))
            if len(self._requests) >= self.settings.store.batch_size or time.monotonic() - self._requests_since >= self.settings.store.flush_seconds:
                self.flush_request_log()

    async def flush_request_log_periodically(self) -> None:
        """Runs on the event loop beside the requests, so an idle service still hands over its last requests."""
        while True:
            await asyncio.sleep(self.settings.store.flush_seconds)
            self.flush_request_log()

    def flush_request_log(self) -> None:
        pending, self._requests = self._requests, []
        self._requests_since = time.monotonic()
        if not pending:
            return
        ids = new_prediction_ids(len(pending))
        self.store.record_requests(
            [
                RequestRecord(ids[index], datetime.fromtimestamp(at, UTC), endpoint, method, status, latency_ms, request)
                for index, (at, endpoint, method, status, latency_ms, request) in enumerate(pending)
            ]
        )

    def record_feedback(self, prediction_id: str, churned: bool) -> bool:
        """False when the prediction id is unknown (neither stored nor waiting to be)."""
        if not self.store.knows_prediction(prediction_id):
            return False
        ticket = self.store.record_feedback(
            FeedbackRecord(prediction_id=prediction_id, churned=churned, received_at=datetime.now(UTC), request_id=request_id.get())
        )
        self.store.wait_durable(ticket)  # the route runs in a worker thread
        return True

    def readiness(self) -> dict[str, Any]:
        reasons = []
        model = self.watcher.current
        if model is None:
            reasons.append(f"no model: {self.watcher.reason}")
        reachable, why = self.store.reachable()
        if not reachable:
            reasons.append(f"prediction store unreachable ({why}); predictions are spooled to {self.settings.store.spool_dir} and replayed later")
        return {
            "ready": not reasons,
            "model_version": model.version if model else None,
            "store": "ok" if reachable else "unreachable",
            "store_queue_depth": self.store.queue_depth,
            "spooled_records": self.store.spooled_records,
            "reasons": reasons,
        }

    def metrics_exposition(self) -> bytes:
        model = self.watcher.current
        self.metrics.set_model(self.settings.model_name, model.version if model else None, model.inference if model else None)
        self.metrics.set_monitoring(self.store.latest_monitoring())
        return self.metrics.exposition()
