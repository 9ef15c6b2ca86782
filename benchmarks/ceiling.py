"""The Python HTTP ceiling for benchmarks/serve.py: a bare FastAPI `POST /predict` that parses the body and returns a constant.

It validates the body with the same customer model churnops serve builds from the contract, and runs
under uvicorn with the options `churnops serve` passes (cli.py::serve), so the gap between the two is
what churnops does per request: scoring, metrics, logs and the store.

    uv run python benchmarks/ceiling.py --port 8001 [--workers 1]
"""

# (No `from __future__ import annotations`: FastAPI reads the endpoint's dynamic model type at runtime.)
import argparse

import uvicorn
from fastapi import FastAPI, Response

from churnops.data.contract import load_contract
from churnops.serving.schemas import customer_model

ANSWER = (
    b'{"prediction_id":"0","customer_id":null,"churn_probability":0.5,"churn":false,'
    b'"label":"No","threshold":0.5,"model_name":"m","model_version":"1"}'
)


def create_app() -> FastAPI:
    contract = load_contract("telco")
    Customer = customer_model(contract)  # noqa: N806 - a class

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/predict")
    async def predict(customer: Customer) -> Response:  # type: ignore[valid-type]
        return Response(ANSWER, media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "ceiling:create_app",  # this file, run as a script: its folder is on sys.path
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
