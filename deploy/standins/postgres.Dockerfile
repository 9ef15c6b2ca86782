# STAND-IN for the official postgres image, for machines that cannot pull images (the project's CI):
# Debian's postgresql-15 with an entrypoint that honours what the stack uses of the official one
# (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA, /docker-entrypoint-initdb.d/*.sh|*.sql).
# Not for production: the stack's default is ${POSTGRES_IMAGE:-postgres:16}.
#   python3 scripts/stack.py standins      (builds localhost/churnops-standin-postgres:15)
ARG BASE_IMAGE=localhost/churnops-base:bookworm
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="churnops-standin-postgres" \
      org.opencontainers.image.description="STAND-IN for postgres:16 (Debian postgresql-15), built locally for tests; not for production" \
      io.churnops.standin="postgres"
# No cluster at install time: the entrypoint runs initdb on the data volume, as the official image does.
# hadolint ignore=DL3008
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql \
 && mkdir /docker-entrypoint-initdb.d
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
