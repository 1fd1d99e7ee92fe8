#!/usr/bin/env bash
# test_help.sh - every command's help lists every option the command
# accepts, and names none that it refuses. Checked mechanically: the
# options come from the option table in cli/main.c, the commands from
# "cairn --help", and whether a command accepts an option from asking the
# command itself (an option a command has no use for is refused with
# "option X does not apply to CMD" before anything runs).
# Usage: test_help.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

src="$(dirname "$0")/../../cli/main.c"
[[ -f $src ]] || fail "cannot find cli/main.c at $src"

# ---- the option table: {"long", 's', has_arg, OPT_X} entries
longs=() shorts=() takes=()
table=$(sed -n '/^static const option_def options\[\] = {/,/^};/p' "$src")
re="\\{(NULL|\"([a-z-]+)\"), (0|'(.)'), (true|false), OPT_[A-Z_]+\\}"
while [[ $table =~ $re ]]; do
    longs+=("${BASH_REMATCH[2]}")
    shorts+=("${BASH_REMATCH[4]}")
    takes+=("${BASH_REMATCH[5]}")
    table=${table#*"${BASH_REMATCH[0]}"}
done
((${#longs[@]} >= 17)) || fail "found only ${#longs[@]} options in $src"

# ---- the commands, from the usage
"$bin" --help >"$tmp/usage"
mapfile -t commands < <(sed -n '/^Commands:/,/^$/p' "$tmp/usage" | awk 'NR > 1 && NF { print $1 }' |
    grep -vx help)
((${#commands[@]} >= 17)) || fail "found only ${#commands[@]} commands in --help"

# value_for LONG: sets $value to a value the option's parser accepts.
value_for() {
    case $1 in
    format) value=tsv ;;
    node-size) value=4096 ;;
    limit | batch | follow | keep-last | threads | maxclients | keys-max | '') value=1 ;; # '' is -n
    idle-timeout) value=1s ;;
    cache) value=64M ;;
    listen | metrics) value=127.0.0.1:0 ;; # (serve runs until stopped: the bound ends it)
    keep-newer | grace) value=1h ;;
    pin) value=10m ;; # (a bare --pin takes no value: 10m is an argument then)
    *) value=x ;;
    esac
}

# mentions LONG SHORT: the help text in $help names the option by either
# name.
mentions() {
    local long=$1 short=$2 re
    re="(^|[^a-z-])--$long([^a-z-]|\$)"
    [[ -n $long && $help =~ $re ]] && return 0
    re="(^|[^a-z-])-$short([^a-z-]|\$)"
    [[ -n $short && $help =~ $re ]] && return 0
    return 1
}

checked=0
for cmd in "${commands[@]}"; do
    help=$("$bin" help "$cmd") || fail "help $cmd"
    [[ "$("$bin" "$cmd" --help)" == "$help" ]] || fail "'$cmd --help' differs from 'help $cmd'"
    for i in "${!longs[@]}"; do
        long=${longs[$i]} short=${shorts[$i]}
        case $long in help | version | stack) continue ;; esac
        if [[ -n $long ]]; then arg=(--"$long"); else arg=(-"$short"); fi
        if [[ ${takes[$i]} == true ]]; then
            value_for "$long"
            arg+=("$value")
        fi
        # (follow runs until stopped: a bound ends it once it has started)
        timeout 2 "$bin" -s mem "$cmd" "${arg[@]}" </dev/null >/dev/null 2>"$tmp/err" || true
        name=${long:+--$long}
        name=${name:--$short}
        if [[ "$(<"$tmp/err")" == *"does not apply to $cmd"* ]]; then
            ! mentions "$long" "$short" || fail "help $cmd names $name, which $cmd refuses"
        else
            mentions "$long" "$short" || fail "help $cmd lacks $name, which $cmd accepts: $help"
            checked=$((checked + 1))
        fi
    done
    # -s is accepted everywhere and listed in every command's help.
    [[ $help == *"-s SPEC"* ]] || fail "help $cmd lacks -s SPEC"
done
((checked >= 40)) || fail "only $checked (command, option) pairs were accepted: is the probe broken?"

# The read commands this was written for, spelled out.
for cmd in get mget scan count export root log spaces stats; do
    "$bin" help "$cmd" >"$tmp/help"
    for opt in --at -b; do
        grep -q -- "$opt" "$tmp/help" || fail "help $cmd lacks $opt"
    done
done
for cmd in get mget scan count export root; do
    "$bin" help "$cmd" | grep -q -- --space || fail "help $cmd lacks --space"
done

echo "ok"
