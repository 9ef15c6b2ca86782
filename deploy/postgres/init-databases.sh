#!/bin/sh
# The stack's databases on its one PostgreSQL (deploy/compose.yaml): run once by the postgres image
# on an empty data volume (/docker-entrypoint-initdb.d), as $POSTGRES_USER, who owns them.
#   mlflow       MLflow's backend store (experiments, runs, registry)
#   predictions  the prediction store (CHURNOPS_STORE_URL; the API creates its tables)
#   prefect      the Prefect server's database
set -eu
for database in ${STACK_DATABASES:-mlflow predictions prefect}; do
    echo "creating database $database"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -q \
        -c "CREATE DATABASE \"$database\" OWNER \"$POSTGRES_USER\""
done
