#!/bin/sh -e
# The local restic image's entrypoint (e2e/images.py), written to the behaviour of restic's
# docker/entrypoint.sh at v0.19.1 (the image's ENTRYPOINT; not a copy of it): restic with the
# arguments, under `ionice` when IONICE_CLASS is set (priority IONICE_PRIORITY, default 4), and
# always under `nice -n NICE` (default 0).
set -- /usr/bin/restic "$@"
if [ -n "${IONICE_CLASS}" ]; then
	set -- ionice -c "${IONICE_CLASS}" -n "${IONICE_PRIORITY:-4}" "$@"
fi
exec nice -n "${NICE:-0}" "$@"
