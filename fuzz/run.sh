#!/bin/sh
# run.sh: build the libFuzzer targets (fuzz/fuzz_*.c) with clang straight
# from the source tree into build-fuzz/ (no configure: the tree may well be
# configured for gcc), replay fuzz/regress/<target>/ (every crash found so
# far), then fuzz each target for SECONDS from fuzz/corpus/<target>/ and
# what earlier runs found (build-fuzz/corpus/<target>/). Prints execs and
# coverage per target; exits 1 if a target crashed, its input saved under
# build-fuzz/crashes/<target>/. The figures of each target's last run are
# kept in build-fuzz/<target>.summary.
#
#	sh fuzz/run.sh [SECONDS_PER_TARGET [TARGET ...]]	(default 20 s, all)
#
# A target whose source names "FUZZ_NEEDS: server/x.c" is skipped while
# that file does not exist. Needs clang and libclang-rt-14-dev (Debian 12;
# deploy/setup.sh installs them). FUZZ_CC overrides the compiler.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
secs=${1:-20}
[ $# -gt 0 ] && shift
case $secs in
*[!0-9]* | '') echo "usage: sh fuzz/run.sh [SECONDS_PER_TARGET [TARGET ...]]" >&2
	exit 2 ;;
esac

cc=${FUZZ_CC:-clang}
out=build-fuzz
# The libraries configure.ac asks pkg-config for (its TOCSIN_LIB lines).
libs=$(sed -n 's/^TOCSIN_LIB(\[[A-Z0-9_]*\], \[\([^] >=]*\).*/\1/p' \
    configure.ac)
sanitize="-fsanitize=fuzzer-no-link,address,undefined"
cflags="-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined
	$sanitize -Wall -Wno-unused-parameter -pthread"

say() { echo "run.sh: $*"; }
die() { echo "run.sh: $*" >&2; exit 1; }

command -v "$cc" >/dev/null 2>&1 ||
	die "$cc not found: apt-get install clang libclang-rt-14-dev"
# shellcheck disable=SC2086
if ! pkgcf=$(pkg-config --cflags $libs) ||
    ! pkglibs=$(pkg-config --libs $libs); then
	die "pkg-config misses a library; run sh deploy/setup.sh first"
fi
# And libev, which has no .pc file (configure.ac's AC_CHECK_LIB).
pkglibs="$pkglibs -lev"
mkdir -p "$out/obj" "$out/include" "$out/bin" || exit 1
# Two runs may share build-fuzz/ (one target each, say): build one at a time.
exec 9>"$out/.lock"
command -v flock >/dev/null 2>&1 && flock 9

# Probe libFuzzer once: clang without compiler-rt builds nothing useful.
if [ ! -f "$out/.probe-ok" ]; then
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	    '{ return (0); }' >"$out/probe.c"
	"$cc" -fsanitize=fuzzer,address,undefined "$out/probe.c" \
	    -o "$out/probe" >/dev/null 2>&1 ||
		die "$cc cannot link -fsanitize=fuzzer: apt-get install clang libclang-rt-14-dev"
	rm -f "$out/probe" "$out/probe.c"
	touch "$out/.probe-ok"
fi

# Our own config.h, so the checkout's configure state does not matter.
version=$(sed -n 's/^AC_INIT(\[tocsin\], \[\([^]]*\)\].*/\1/p' configure.ac)
cat >"$out/include/config.h.new" <<EOF
#define PACKAGE "tocsin"
#define PACKAGE_NAME "tocsin"
#define PACKAGE_VERSION "${version:-0}"
#define PACKAGE_STRING "tocsin ${version:-0}"
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
EOF
if cmp -s "$out/include/config.h.new" "$out/include/config.h"; then
	rm -f "$out/include/config.h.new"
else
	mv "$out/include/config.h.new" "$out/include/config.h"
fi

# Flags changed since the last build: build everything again.
printf '%s %s %s\n' "$cc" "$cflags" "$pkgcf" >"$out/flags.new"
if ! cmp -s "$out/flags.new" "$out/flags"; then
	rm -f "$out"/obj/*.o "$out"/bin/*
	mv "$out/flags.new" "$out/flags"
else
	rm -f "$out/flags.new"
fi

# The server's files but main()'s.
server_srcs() {
	for s in server/*.c; do
		[ "$s" = server/tocsind.c ] || echo "$s"
	done
}

# count DIR: the files in it.
count() { find "$1" -mindepth 1 -maxdepth 1 | wc -l; }

# newer A B: is file A more recent than B (or B missing)?
newer() { [ ! -e "$2" ] || [ -n "$(find "$1" -prune -newer "$2")" ]; }

# compile SRC OBJ: when the source, tocsind.h or fuzz.h changed.
compile() {
	if newer "$1" "$2" || newer server/tocsind.h "$2" ||
	    newer fuzz/fuzz.h "$2" || newer "$out/include/config.h" "$2"; then
		# shellcheck disable=SC2086
		"$cc" $cflags -I"$out/include" -Iserver -Ifuzz $pkgcf \
		    -DTOCSIN_DATADIR='"/usr/share/tocsin"' -c "$1" -o "$2" ||
			return 1
	fi
	return 0
}

# What changed is compiled again, as many at a time as there are cores.
todo=""
for s in $(server_srcs); do
	o=$out/obj/$(basename "$s" .c).o
	if newer "$s" "$o" || newer server/tocsind.h "$o" ||
	    newer "$out/include/config.h" "$o"; then
		todo="$todo $s"
	fi
done
if [ -n "$todo" ]; then
	say "compiling $(echo "$todo" | wc -w) server files with $cc"
	jobs=$(nproc 2>/dev/null || echo 2)
	n=0
	for s in $todo; do
		o=$out/obj/$(basename "$s" .c).o
		rm -f "$o"
		compile "$s" "$o" >"$o.log" 2>&1 &
		[ $((n += 1)) -ge "$jobs" ] && { wait; n=0; }
	done
	wait
fi
# A file that does not compile (someone is half-way through it) only
# matters to the targets that need it: their link says so.
objs=""
for s in $(server_srcs); do
	o=$out/obj/$(basename "$s" .c).o
	if [ -s "$o" ]; then
		objs="$objs $o"
	else
		say "warning: $s does not compile; see $o.log"
	fi
done
rm -f "$out/libtocsind-fuzz.a"
# shellcheck disable=SC2086
ar rcs "$out/libtocsind-fuzz.a" $objs || die "ar failed"

# The targets: all of fuzz/fuzz_*.c, or those named.
if [ $# -gt 0 ]; then
	targets="$*"
else
	targets=$(for f in fuzz/fuzz_*.c; do basename "$f" .c; done)
fi
built=""
status=0
for t in $targets; do
	[ -f "fuzz/$t.c" ] || die "no fuzz/$t.c"
	missing=""
	for n in $(sed -n 's/.*FUZZ_NEEDS: *\([A-Za-z0-9_./-]*\).*/\1/p' "fuzz/$t.c"); do
		[ -f "$n" ] || missing="$missing $n"
	done
	if [ -n "$missing" ]; then
		say "$t: skipped, it needs$missing (not written yet)"
		continue
	fi
	if ! compile "fuzz/$t.c" "$out/obj/$t.o"; then
		say "$t: FAILED: fuzz/$t.c does not compile"
		status=1
		continue
	fi
	if newer "$out/obj/$t.o" "$out/bin/$t" ||
	    newer "$out/libtocsind-fuzz.a" "$out/bin/$t"; then
		rm -f "$out/bin/$t"
		# shellcheck disable=SC2086
		if ! "$cc" -fsanitize=fuzzer,address,undefined -pthread \
		    "$out/obj/$t.o" "$out/libtocsind-fuzz.a" $pkglibs \
		    -o "$out/bin/$t" 2>"$out/$t.link.log"; then
			say "$t: FAILED to link; see $out/$t.link.log"
			grep 'undefined reference' "$out/$t.link.log" |
			    sed 's/.*undefined/  undefined/' | sort -u | head -5
			status=1
			continue
		fi
	fi
	built="$built $t"
done
command -v flock >/dev/null 2>&1 && flock -u 9

# where LOG: what went wrong and the first frame in our code (the
# target's stderr is closed, so FUZZ_CHECK's message is not in the log).
where() {
	grep -E '^(==[0-9]+==)?ERROR|^SUMMARY|^Running' "$1" | tail -3
	grep -m 1 -E '#[0-9]+ .* /[^ ]*(server|fuzz)/[^ ]*\.c:[0-9]+' "$1"
}

# Run: regressions first (each input once), then fuzz for SECS.
# fuzz_render finds the real templates' partials here.
FUZZ_TEMPLATES_DIR=$top/templates
export FUZZ_TEMPLATES_DIR
for t in $built; do
	bin=$out/bin/$t
	mkdir -p "$out/corpus/$t" "$out/crashes/$t"
	log=$out/$t.log
	if [ -d "fuzz/regress/$t" ] && [ "$(count "fuzz/regress/$t")" -gt 0 ]; then
		if ! "$bin" -close_fd_mask=2 -runs=1 "fuzz/regress/$t"/* \
		    >"$log" 2>&1; then
			say "$t: FAILED a regression input (fuzz/regress/$t/):"
			where "$log"
			status=1
			continue
		fi
		say "$t: $(count "fuzz/regress/$t") regression inputs pass"
	fi
	dict=""
	[ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
	seeds=""
	[ -d "fuzz/corpus/$t" ] && seeds="fuzz/corpus/$t"
	n0=$(count "$out/corpus/$t")
	# A corpus kept over many runs grows: merge it down to what adds
	# coverage before it slows the start of a short run.
	if [ "$n0" -gt 2000 ]; then
		rm -rf "$out/corpus/$t.merge"
		mkdir "$out/corpus/$t.merge"
		if "$bin" -merge=1 -close_fd_mask=2 "$out/corpus/$t.merge" \
		    "$out/corpus/$t" >"$log" 2>&1; then
			rm -rf "$out/corpus/$t"
			mv "$out/corpus/$t.merge" "$out/corpus/$t"
			say "$t: corpus merged from $n0 to $(count "$out/corpus/$t") inputs"
			n0=$(count "$out/corpus/$t")
		else
			rm -rf "$out/corpus/$t.merge"
		fi
	fi
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -close_fd_mask=2 -print_final_stats=1 \
	    -artifact_prefix="$out/crashes/$t/" $dict \
	    "$out/corpus/$t" $seeds >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
	n1=$(count "$out/corpus/$t")
	line="$t: ${execs:-?} execs (${rate:-?}/s) in ${secs} s, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?} (+$((n1 - n0)) saved)"
	if [ "$rc" -ne 0 ]; then
		status=1
		say "$line: CRASH (exit $rc)"
		where "$log"
		grep -E 'Test unit written' "$log"
		say "  reproduce: $bin $out/crashes/$t/<file>; log $log"
		say "  then keep the input in fuzz/regress/$t/ with the fix"
		echo "$(date -u +%FT%TZ) $line: crash" >"$out/$t.summary"
	else
		say "$line, no crash"
		echo "$(date -u +%FT%TZ) $line" >"$out/$t.summary"
	fi
done
[ -n "$built" ] || die "no target to run"
[ "$status" -eq 0 ] && say "all targets ran without a crash"
exit "$status"
