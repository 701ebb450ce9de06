#!/bin/sh
# Writes STARLING_USERS accounts user1..userN with passwords pass1..passN (Prosody internal_plain files for
# the host localhost), then runs Prosody in the foreground with the config beside this script in the image.
set -eu
data="${STARLING_DATA:-/var/lib/prosody}"
users="${STARLING_USERS:-1000}"
accounts="$data/localhost/accounts"
mkdir -p "$accounts"
n=1
while [ "$n" -le "$users" ]; do
  printf 'return {\n\t["password"] = "pass%s";\n};\n' "$n" > "$accounts/user$n.dat"
  n=$((n + 1))
done
echo "starling-prosody: $users accounts (user1..user$users, passwords pass1..pass$users) in $accounts" >&2
exec prosody -F --config "${PROSODY_CONFIG:-/etc/prosody/prosody.cfg.lua}"
