#!/bin/sh
# Configure and build in _build/ (out of tree), warnings as errors.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || ./autogen.sh
mkdir -p _build
cd _build
[ -f Makefile ] && [ Makefile -nt ../configure ] || ../configure --enable-werror --sysconfdir=/etc -q
make -j"$(nproc)" -s
