#!/bin/bash
# Three consumers against a real redis-server: /livez and /readyz answer
# with Stigg's field names; other paths, methods and garbage get 404, 405
# and 400; the master keeps answering through all of it.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
CONSUMERS=3 start_pcs
wait_for 10 ready_with 3 || die "/readyz never reported 3 ready consumers: $(http GET /readyz)"
ok "/readyz is UP with 3 consumers"

expect "/livez" "$(http GET /livez)" '200 {"status":"UP"}'
expect "/readyz body" "$(http GET /readyz)" '200 {"status":"UP","consumers":3,"redis":"CONNECTED"}'
expect "consumer processes" "$(consumers | wc -l)" 3
expect "HEAD /livez" "$(curl -s -I -m 5 "http://127.0.0.1:$HTTP_PORT/livez" | head -n 1 | tr -d '\r')" "HTTP/1.1 200 OK"
expect "query string ignored" "$(http GET '/livez?verbose=1')" '200 {"status":"UP"}'
expect "unknown path" "$(http GET /nope | cut -d' ' -f1)" 404
expect "POST" "$(http POST /livez | cut -d' ' -f1)" 405
expect "DELETE" "$(http DELETE /readyz | cut -d' ' -f1)" 405
expect "garbage request" "$(http_raw '\x01\x02 hello\r\n\r\n')" "HTTP/1.1 400 Bad Request"
expect "bad version" "$(http_raw 'GET /livez HTTP/9.9\r\n\r\n')" "HTTP/1.1 400 Bad Request"
long=$(head -c 9000 /dev/zero | tr '\0' a)
expect "oversized request" "$(http_raw "GET /$long HTTP/1.1\r\n\r\n")" "HTTP/1.1 400 Bad Request"
expect "HTTP/1.0" "$(http_raw 'GET /livez HTTP/1.0\r\n\r\n')" "HTTP/1.1 200 OK"

# A client that connects and says nothing is dropped, not waited for
# forever, and does not stop others from being served meanwhile.
exec 4<>"/dev/tcp/127.0.0.1/$HTTP_PORT"
expect "served beside an idle client" "$(http GET /livez)" '200 {"status":"UP"}'
if timeout 20 cat <&4 >/dev/null; then ok "idle connection closed by the server"; else fail "idle connection left open"; fi
exec 4<&-

# Many clients at once: the master keeps answering.
(
    for i in $(seq 1 50); do
        curl -s -m 5 -o /dev/null "http://127.0.0.1:$HTTP_PORT/livez" &
    done
    wait
)
expect "after a burst" "$(http GET /readyz | cut -d' ' -f1)" 200
kill -0 "$PCS_PID" && ok "master alive" || fail "master died"
finish
