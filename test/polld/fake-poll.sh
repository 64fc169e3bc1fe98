#!/bin/sh
# Fake poll command for the dvm-polld tests (stands in for dvm-poll and `lvm lvpoll`).
# It records its argv and environment exactly as exec'd (from /proc: NUL-separated,
# argv with the /bin/sh interpreter first) as <pid>.argv / <pid>.env beside itself,
# its open fds as <pid>.fds (dash keeps the script itself on fd 10 or above),
# prints one line on stdout and one on stderr, then does what its LV name says:
#   exitN      exit N at once            killN     kill itself with signal N
#   sleepS     run S seconds, exit 0     silentS   like sleep, but no output at all
#   hold       run for a minute          stubborn  a minute, ignoring SIGTERM
#   wait       run until a file "release" appears beside it, then exit 0
#   anything else: exit 0
# A file "as-NAME" beside it makes LV NAME act as the name the file holds.
# A SIGTERM is recorded as <pid>.term before the script dies of it.
dir=${0%/*}
cp /proc/$$/cmdline "$dir/$$.argv"
cp /proc/$$/environ "$dir/$$.env"
ls /proc/$$/fd > "$dir/$$.fds"
lv= last= next=
for a in "$@"; do
  [ "$next" = lv ] && lv=$a
  [ "$next" = op ] && next=lv || next=
  [ "$a" = --polloperation ] && next=op
  last=$a
done
[ -n "$lv" ] || lv=$last
name=${lv#*/}
[ -f "$dir/as-$name" ] && name=$(cat "$dir/as-$name")
sp=
trap 'echo TERM > "$dir/$$.term"; [ -n "$sp" ] && kill $sp 2>/dev/null; trap - TERM; kill -TERM $$' TERM
case $name in silent*) ;; *) echo "fake poller $name"; echo "fake poller stderr $name" >&2 ;; esac
case $name in
  exit*) exit "${name#exit}" ;;
  kill*) kill -"${name#kill}" $$ ;;
  sleep*) sleep "${name#sleep}" & sp=$!; wait $sp ;;
  silent*) sleep "${name#silent}" & sp=$!; wait $sp ;;
  hold*) sleep 60 & sp=$!; wait $sp ;;
  stubborn*) trap '' TERM; sleep 60 ;;
  wait*) while [ ! -e "$dir/release" ]; do sleep 0.05 & sp=$!; wait $sp; done ;;
esac
exit 0
