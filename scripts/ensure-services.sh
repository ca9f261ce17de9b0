#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis that the integration tests use are up.
# Starts them when they are installed but stopped; says clearly what is missing otherwise.
set -u
PGHOST_=${TEST_PG_HOST:-127.0.0.1}; PGPORT_=${TEST_PG_PORT:-5432}
REDIS_PORT_=${TEST_REDIS_PORT:-6379}
missing=0

pg_up() { pg_isready -q -h "$PGHOST_" -p "$PGPORT_" 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  fi
  pg_up || { echo "ensure-services: PostgreSQL is not reachable on $PGHOST_:$PGPORT_ and could not be started (install postgresql, trust auth, database 'test')" >&2; missing=1; }
fi

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT_" ping >/dev/null 2>&1; }
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "ensure-services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT_" --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  fi
  redis_up || { echo "ensure-services: Redis is not reachable on 127.0.0.1:$REDIS_PORT_ and redis-server is not installed (apt-get install redis-server)" >&2; missing=1; }
fi

if [ "$missing" = 1 ]; then exit 1; fi
echo "ensure-services: PostgreSQL and Redis are up"
