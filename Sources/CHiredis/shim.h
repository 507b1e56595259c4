// hiredis 0.14 (Debian libhiredis-dev), wrapped once by CofferSources/Redis/RedisConnection.swift.
#include <hiredis/hiredis.h>
