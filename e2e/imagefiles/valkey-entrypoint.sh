#!/bin/sh
# The local valkey image's entrypoint (e2e/images.py), written to the behaviour ../shared/IMAGE-NOTES.md
# records for valkey-io/valkey-container's docker-entrypoint.sh (not a copy of it):
set -e
# a first argument that is an option or a .conf file means valkey-server
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- valkey-server "$@"
fi
# as root: hand the working directory to valkey, then run as valkey
if [ "$1" = 'valkey-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user valkey -exec chown valkey '{}' +
	exec setpriv --reuid=valkey --regid=valkey --clear-groups -- "$0" "$@"
fi
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi
exec "$@" $VALKEY_EXTRA_FLAGS
