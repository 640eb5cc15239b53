#!/bin/bash
# Host names never block a consumer's loop, and the connection is one an
# operator can find.  A resolver that never answers (a mount namespace
# whose resolv.conf names a nameserver that reads and never replies, with
# timeout:30 attempts:3): over 15 s no consumer is killed as hung, /livez
# answers, /readyz is 503 naming the lookup.  A name with an IPv6 and an
# IPv4 address (an /etc/hosts of the namespace's own), Redis on the IPv4
# one only: every address is tried and the daemon connects.  The name is
# resolved again at every reconnect: mapped to a second Redis, the next
# connection goes there.  CLIENT LIST names the connection with the host
# and the slot, and its socket has TCP keepalive on.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

NAME=redis.pcs.test
EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs
livez_ok() { [ "$(http GET /livez | cut -d' ' -f1)" = 200 ]; }

# --- A resolver that never answers.
start_dead_dns
CONSUMERS=2 HANG_TIMEOUT_SECS=5 WAIT_TIME_SECONDS=1 REDIS_HOST=$NAME \
    PCS_WRAP=$(dead_dns) start_pcs
wait_for 10 eval '[ "$(consumers | wc -l)" = 2 ]' || die "consumers did not start"
first=$(consumers | tr '\n' ' ')
remember_consumers
lost=0
for i in $(seq 15); do
    livez_ok || lost=$((lost + 1))
    sleep 1
done
expect "/livez answered every second over 15 s" "$lost" 0
expect "no consumer killed as hung" "$(grep -c 'sent no heartbeat' "$PCS_LOG")" 0
expect "the same consumers throughout" "$(consumers | tr '\n' ' ')" "$first"
grep -q '^query' "$WORK/dead-dns.out" && ok "the nameserver was asked" \
    || fail "no query reached the nameserver"
wait_for 10 readyz_like "503 *redis: resolving $NAME: no answer within 12s*" \
    && ok "/readyz 503 naming the lookup" || fail "/readyz: $(http GET /readyz)"
grep -qF "redis: resolving $NAME: no answer within 12s" "$PCS_LOG" \
    && ok "the lookup's timeout logged" || fail "no timeout logged"
stop_pcs

# --- A name with an IPv6 and an IPv4 address; Redis on 127.0.0.1 only.
printf '::1 %s\n127.0.0.1 %s\n' "$NAME" "$NAME" >"$WORK/hosts"
from=$(( $(wc -l <"$PCS_LOG") + 1 ))
CONSUMERS=1 WAIT_TIME_SECONDS=1 REDIS_HOST=$NAME \
    PCS_WRAP=$(with_hosts "$WORK/hosts") start_pcs
wait_for 15 ready_with 1 && ok "ready through a name" || die "not ready: $(http GET /readyz)"
since() { tail -n +"$from" "$PCS_LOG"; }
addrs=$(since | sed -n "s/.*redis: resolved $NAME: //p" | head -n 1)
case " $addrs " in
*" ::1 "*) case " $addrs " in *" 127.0.0.1 "*) ok "resolved to both addresses ($addrs)" ;;
    *) fail "resolved to '$addrs', want ::1 and 127.0.0.1" ;; esac ;;
*) fail "resolved to '$addrs', want ::1 and 127.0.0.1" ;;
esac
# Every address before 127.0.0.1 in the answer was tried and refused.
for a in $addrs; do
    [ "$a" = 127.0.0.1 ] && break
    since | grep -qF "redis: connect to $NAME:$REDIS_PORT ($a): Connection refused; trying the next address" \
        && ok "$a tried first, refused" || fail "no attempt on $a logged"
done
since | grep -qF "redis: connected to $NAME:$REDIS_PORT (127.0.0.1) db 0" \
    && ok "connected through 127.0.0.1" || fail "no connection through 127.0.0.1"
expect "no backoff between the addresses" "$(since | grep -c 'redis: reconnecting in')" 0

# The connection's name in CLIENT LIST: daemon, host, slot.
want="name=persistent-cache-service:$(hostname):1"
has_name() { redis-cli -h "$1" -p "$REDIS_PORT" CLIENT LIST | grep -q " $want "; }
wait_for 5 has_name 127.0.0.1 && ok "CLIENT LIST shows $want" \
    || fail "CLIENT LIST: $(redis_cli CLIENT LIST)"

# TCP keepalive on the daemon's socket.
keepalive() { ss -tnoH state established "( dport = :$REDIS_PORT )" | grep -q 'timer:(keepalive'; }
wait_for 5 keepalive && ok "keepalive on the connection: $(ss -tnoH state established "( dport = :$REDIS_PORT )" | grep -o 'timer:([^)]*)' | head -n 1)" \
    || fail "no keepalive timer: $(ss -tnoH state established "( dport = :$REDIS_PORT )")"

# --- Resolved again at every reconnect: the name moves to a second Redis
# (127.0.0.2, the same port), the connection is killed, the next one goes
# to the new address.
redis-server --port "$REDIS_PORT" --bind 127.0.0.2 --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis2.log" &
HELPER_PIDS="$HELPER_PIDS $!"
wait_for 10 eval '[ "$(redis-cli -h 127.0.0.2 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]' \
    || die "the second redis-server did not start"
before=$(since | grep -c "redis: resolved $NAME: ")
printf '127.0.0.2 %s\n' "$NAME" >"$WORK/hosts"	# in place: the mount stays
redis_cli CLIENT KILL TYPE normal >/dev/null
wait_for 15 eval 'since | grep -qF "redis: connected to $NAME:$REDIS_PORT (127.0.0.2) db 0"' \
    && ok "reconnected to the name's new address" || fail "not reconnected to 127.0.0.2"
after=$(since | grep -c "redis: resolved $NAME: ")
[ "$after" -gt "$before" ] && ok "resolved again on reconnect ($before, then $after lookups)" \
    || fail "not resolved again ($before, then $after)"
wait_for 5 has_name 127.0.0.2 && ok "the second Redis lists the connection" \
    || fail "CLIENT LIST on the second Redis: $(redis-cli -h 127.0.0.2 -p "$REDIS_PORT" CLIENT LIST)"
wait_for 10 ready_with 1 && ok "ready again" || fail "not ready: $(http GET /readyz)"
sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null || die "cannot send"
wait_for 20 eval '[ -n "$(redis-cli -h 127.0.0.2 -p "$REDIS_PORT" GET "production:c_acme#timestamp")" ]' \
    && ok "written to the second Redis" || fail "not written to the second Redis"
stop_pcs
finish
