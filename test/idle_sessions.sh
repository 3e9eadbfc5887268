# Sourced by tests that need sessions left open: idle_sessions DB APP N opens N psql sessions to DB with application
# name APP, each reading its commands from a FIFO the test keeps open, and waits until the server shows all of them
# idle; background_stop ends them (and any other process the test added to bg_pids).  The test calls background_stop
# from its EXIT trap.
bg_pids=()
bg_fds=()
bg_dir=$(mktemp -d)

# Open N idle sessions of application APP on DB; fail if they are not all idle within 10 s.
idle_sessions() {
    local db=$1 app=$2 n=$3 i fifo fd
    for (( i = 0; i < n; i++ )); do
        fifo=$bg_dir/session${#bg_fds[@]}.fifo
        mkfifo "$fifo"
        PGAPPNAME=$app psql -X -q -d "$db" <"$fifo" >/dev/null 2>&1 &
        bg_pids+=($!)
        exec {fd}>"$fifo"
        bg_fds+=("$fd")
        echo "SELECT 1;" >&"$fd"
    done
    for (( i = 0; i < 100; i++ )); do
        [ "$(psql -X -At -d "$db" -v app="$app" <<<"SELECT count(*) FROM pg_stat_activity
                                                      WHERE application_name = :'app' AND state = 'idle'")" -ge "$n" ] && return 0
        sleep 0.1
    done
    echo "idle_sessions: the $n sessions of $app are not idle after 10 s" >&2
    return 1
}

# End the sessions (their FIFOs closed: psql reads end of input) and the other background processes of the test.
background_stop() {
    local fd pid
    for fd in "${bg_fds[@]}"; do exec {fd}>&- || true; done
    for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${bg_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$bg_dir"
}
