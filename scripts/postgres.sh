# Make a PostgreSQL reachable for the tests and export WAYSTATION_TEST_PG. Sourced.
# Uses $WAYSTATION_TEST_PG if it already works; else a local server on 127.0.0.1:5432,
# installing and starting Debian's postgresql when none runs.
PG_DEFAULT="postgresql+psycopg://postgres@127.0.0.1:5432/test"

pg_works() { psql "${1/+psycopg/}" -qAtc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
    local url="${WAYSTATION_TEST_PG:-$PG_DEFAULT}"
    if pg_works "$url"; then export WAYSTATION_TEST_PG="$url"; return 0; fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        apt_install postgresql
        local ver
        ver="$(ls /etc/postgresql | sort -V | tail -1)"
        log "starting PostgreSQL $ver"
        pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || pg_ctlcluster "$ver" main start
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    fi
    if pg_works "$url"; then export WAYSTATION_TEST_PG="$url"; return 0; fi
    # A stock Debian server wants a password on TCP: give the tests their own role and database.
    if [ "$(id -u)" -eq 0 ]; then
        log "creating PostgreSQL role and database for the tests"
        runuser -u postgres -- psql -q -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='waystation') THEN CREATE ROLE waystation LOGIN SUPERUSER PASSWORD 'waystation'; END IF; END\$\$;"
        runuser -u postgres -- psql -qAtc "SELECT 1 FROM pg_database WHERE datname='waystation_test'" | grep -q 1 \
            || runuser -u postgres -- createdb -O waystation waystation_test
        url="postgresql+psycopg://waystation:waystation@127.0.0.1:5432/waystation_test"
        if pg_works "$url"; then export WAYSTATION_TEST_PG="$url"; return 0; fi
    fi
    log "no PostgreSQL reachable: set WAYSTATION_TEST_PG to a postgresql+psycopg:// URL"
    return 1
}
