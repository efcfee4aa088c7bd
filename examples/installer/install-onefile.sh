#!/bin/sh
# Install a bundler single-file artifact as a plain runtime directory.
#
#   sh install-onefile.sh ARTIFACT PREFIX [BINDIR [ENTRY...]]
#   sh install-onefile.sh ./hello-1.0.0-linux-x86_64 /opt/hello /usr/local/bin hello
#
# The artifact unpacks itself (BUNDLER_STUB=extract:DIR) into PREFIX.new, which
# then replaces PREFIX, so an upgrade never leaves a half-written runtime.
# BINDIR/ENTRY become symlinks to PREFIX/bin/ENTRY (the launchers follow them).
# POSIX sh only (works with busybox); run it as the user who should own PREFIX.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 ARTIFACT PREFIX [BINDIR [ENTRY...]]" >&2; exit 2; }
artifact=$1 prefix=${2%/}
shift 2
case $artifact in */*) ;; *) artifact=./$artifact ;; esac

rm -rf -- "$prefix.new" "$prefix.old"
mkdir -p -- "$(dirname -- "$prefix")"
BUNDLER_STUB="extract:$prefix.new" "$artifact"
if [ -e "$prefix" ]; then
    mv -- "$prefix" "$prefix.old"
fi
mv -- "$prefix.new" "$prefix"
rm -rf -- "$prefix.old"

if [ $# -ge 1 ]; then
    bindir=$1
    shift
    mkdir -p -- "$bindir"
    for entry in "$@"; do
        [ -x "$prefix/bin/$entry" ] || { echo "$0: $prefix/bin/$entry: no such launcher" >&2; exit 1; }
        ln -sfn -- "$prefix/bin/$entry" "$bindir/$entry"
    done
fi
echo "installed $prefix"
