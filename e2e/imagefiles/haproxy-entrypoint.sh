#!/bin/sh
# The local haproxy image's entrypoint (e2e/images.py), written to the behaviour ../shared/IMAGE-NOTES.md
# records for docker-library/haproxy's docker-entrypoint.sh (not a copy of it):
set -e
# a first argument that is an option means haproxy
if [ "${1#-}" != "$1" ]; then
	set -- haproxy "$@"
fi
# haproxy runs in master-worker mode, in the foreground
if [ "$1" = 'haproxy' ]; then
	shift
	set -- haproxy -W -db "$@"
fi
exec "$@"
