#!/usr/bin/env bash
# Main job: get data (your CSV, else the IBM Telco download, else synthetic), run the pipeline,
# then serve the MLflow UI. Called by `make run`; the environment already exists.
set -euo pipefail
UV=${UV:-uv}
PORT=${PORT:-5000}
DATA=${DATA:-}

if [[ -z "$DATA" ]]; then
  echo "No DATA given: downloading the IBM Telco Customer Churn CSV (checked against its SHA-256)..."
  if "$UV" run --frozen churnops fetch --dataset configs/telco.yaml --out data/telco-customer-churn.csv; then
    DATA=data/telco-customer-churn.csv
  else
    echo "Download not possible: using the built-in synthetic Telco-like data instead."
  fi
fi

"$UV" run --frozen churnops pipeline --dataset configs/telco.yaml ${DATA:+--data "$DATA"}

echo
echo "MLflow UI:  http://127.0.0.1:${PORT}   (experiment 'churn-training', model 'churn-classifier')"
echo "Stop it with Ctrl+C."
exec "$UV" run --frozen mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port "$PORT"
