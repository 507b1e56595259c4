// libpq (Debian libpq-dev), wrapped once by CofferSources/Postgres/PostgresConnection.swift.
#include <libpq-fe.h>
