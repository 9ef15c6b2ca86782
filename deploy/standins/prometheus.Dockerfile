# STAND-IN for the official prom/prometheus image, for machines that cannot pull images (the project's
# CI): Debian's prometheus package, laid out like the official image (entrypoint the prometheus binary,
# user nobody, data in /prometheus, wget for the health check). Not for production: the stack's
# default is ${PROMETHEUS_IMAGE:-prom/prometheus:v3.5.0}.
#   python3 scripts/stack.py standins      (builds localhost/churnops-standin-prometheus:2)
ARG BASE_IMAGE=localhost/churnops-base:bookworm
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="churnops-standin-prometheus" \
      org.opencontainers.image.description="STAND-IN for prom/prometheus (Debian prometheus 2.42), built locally for tests; not for production" \
      io.churnops.standin="prometheus"
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus wget \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o nobody -g nogroup /prometheus
USER 65534:65534
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
