#!/usr/bin/env bash
# Main job: get data (your CSV, else the IBM Telco download, else synthetic), run the pipeline
# (or keep a champion trained on the same data, code and settings), then serve the MLflow UI and
# the prediction API and the web front end side by side. Called by `make run`; the environment already exists.
# FORCE=1 retrains even when the champion could be reused.
set -euo pipefail
UV=${UV:-uv}
PORT=${PORT:-5000}
API_PORT=${API_PORT:-8000}
UI_PORT=${UI_PORT:-8501}
DATA=${DATA:-}
FORCE=${FORCE:-}
churnops() { "$UV" run --frozen churnops "$@"; }

if [[ -z "$DATA" ]]; then
  echo "No DATA given: downloading the IBM Telco Customer Churn CSV (checked against its SHA-256)..."
  # The fetch's stderr is captured: without network the fallback is expected, a notice rather than an error.
  exec 3>&1
  if fetch_error=$(churnops fetch --dataset telco --out data/telco-customer-churn.csv 2>&1 1>&3); then
    DATA=data/telco-customer-churn.csv
  else
    reason=$(printf '%s\n' "$fetch_error" | grep -m1 '^error:' || printf '%s\n' "$fetch_error" | tail -n 1)
    echo "notice: no download (${reason#error: }); using the built-in synthetic Telco-like data instead."
  fi
  exec 3>&-
fi

if [[ "$FORCE" == 1 ]]; then
  churnops pipeline --dataset telco ${DATA:+--data "$DATA"} --force
else
  churnops pipeline --dataset telco ${DATA:+--data "$DATA"} --reuse
fi

# The MLflow UI and the web front end in the background, the prediction API in the foreground; Ctrl+C stops all three.
# MLflow's job runner (six huey worker processes, about 1.5 GB) is not needed for browsing runs.
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false "$UV" run --frozen mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port "$PORT" --workers 1 > mlflow-ui.log 2>&1 &
MLFLOW_UI_PID=$!
CHURNOPS_API_URL="http://127.0.0.1:${API_PORT}" CHURNOPS_MLFLOW_UI_URL="http://127.0.0.1:${PORT}" \
  "$UV" run --frozen churnops ui --port "$UI_PORT" > churnops-ui.log 2>&1 &
FRONT_END_PID=$!
trap 'kill $MLFLOW_UI_PID $FRONT_END_PID 2>/dev/null || true' EXIT

# Direct links: the MLflow 3 UI opens on an empty GenAI overview otherwise.
LINKS=$(churnops links --ui-url "http://127.0.0.1:${PORT}")
EXAMPLE=$("$UV" run --frozen python -c "import json; from churnops.data.contract import load_contract; print(json.dumps(load_contract('telco').example_record()))")
echo
echo "MLflow UI:       http://127.0.0.1:${PORT}   (experiment 'churn-training', model 'churn-classifier')"
printf '%s\n' "$LINKS" | sed 's/^/  /'
echo "Prediction API:  http://127.0.0.1:${API_PORT}   (interactive docs: http://127.0.0.1:${API_PORT}/docs)"
echo "Web front end:   http://127.0.0.1:${UI_PORT}   (predict, score a file, model versions, monitoring; log in churnops-ui.log)"
echo
echo "Try it:"
echo "  curl -s -X POST http://127.0.0.1:${API_PORT}/predict -H 'Content-Type: application/json' -d '${EXAMPLE}'"
echo "Then, in another terminal, monitor the stored predictions against the training data:"
echo "  uv run churnops monitor --window 1d     (drift report, quality, performance; run in experiment 'churn-monitoring')"
echo "Score a file of customers, or run training, monitoring and batch scoring on schedules (Prefect UI on :4200):"
echo "  uv run churnops score --input customers.csv      uv run churnops schedule"
echo "Versions, gate decisions and promotions:  uv run churnops versions      retrain from scratch:  FORCE=1 make run"
echo
echo "Stop all three with Ctrl+C."
echo
"$UV" run --frozen churnops serve --port "$API_PORT"
