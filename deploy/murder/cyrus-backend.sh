#!/bin/sh
# Starts a Cyrus IMAP backend (Debian's cyrus-imapd, as tests/cyrus/install.sh
# installs it) for a murder on Roost, in a directory of its own:
#
#   deploy/murder/cyrus-backend.sh [-l LMTP-ADDR] [-p POP3-ADDR] NAME IMAP-ADDR MUPDATE-ADDR DIR [USER:PASSWORD ...]
#
# NAME is its servername (the server part of its mailboxes' locations),
# IMAP-ADDR where it serves IMAP, MUPDATE-ADDR the Roost node it pushes its
# mailboxes to; with -l and -p it serves LMTP (for roost-frontend's LMTP
# proxy, which logs in as admin) and POP3 too. The admin "admin" (password "secret") also logs in
# roost-frontend's connections for users (proxyservers); each USER gets a
# password and an INBOX. Run as root (Cyrus then runs as user cyrus) or as
# the user Cyrus should run as. Stop it with: kill $(cat DIR/master.pid)
set -eu
lmtp= pop3=
while getopts l:p: opt; do
    case $opt in
    l) lmtp=$OPTARG ;;
    p) pop3=$OPTARG ;;
    *) sed -n 2,14p "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 4 ] || { sed -n 2,14p "$0" >&2; exit 2; }
name=$1 imap=$2 mupdate=$3 dir=$4
shift 4
bin=/usr/lib/cyrus/bin
[ -x $bin/master ] || { echo "Cyrus is not installed: run tests/cyrus/install.sh" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
for d in spool proc lock socket sieve conf/db conf/socket conf/proc conf/lock conf/log conf/msg conf/user conf/quota conf/sieve conf/ptclient conf/sync; do
    mkdir -p "$dir/$d"
done
runuser=$(id -un) rungroup=$(id -gn)
if [ "$(id -u)" = 0 ]; then runuser=cyrus rungroup=mail; fi
cat > "$dir/imapd.conf" <<CONF
configdirectory: $dir/conf
defaultpartition: default
partition-default: $dir/spool
proc_path: $dir/proc
mboxname_lockpath: $dir/lock
lmtpsocket: $dir/socket/lmtp
idlesocket: $dir/socket/idle
notifysocket: $dir/socket/notify
sievedir: $dir/sieve
servername: $name
cyrus_user: $runuser
cyrus_group: $rungroup
admins: admin
proxyservers: admin
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $dir/sasldb2
sasl_mech_list: PLAIN LOGIN
mupdate_server: $mupdate
mupdate_authname: admin
mupdate_password: secret
mupdate_retry_delay: 2
CONF
services=
[ -z "$lmtp" ] || services="  lmtp cmd=\"lmtpd -C $dir/imapd.conf\" listen=\"$lmtp\" prefork=0"
[ -z "$pop3" ] || services="$services
  pop3 cmd=\"pop3d -C $dir/imapd.conf\" listen=\"$pop3\" prefork=0"
cat > "$dir/cyrus.conf" <<CONF
START {
  recover cmd="ctl_cyrusdb -C $dir/imapd.conf -r"
  mupdatepush cmd="ctl_mboxlist -C $dir/imapd.conf -m"
}
SERVICES {
  imap cmd="imapd -C $dir/imapd.conf" listen="$imap" prefork=0
$services
}
EVENTS {
}
CONF
adduser() { printf '%s' "$2" | /usr/sbin/saslpasswd2 -p -c -f "$dir/sasldb2" -u "$name" "$1"; }
adduser admin secret
for up in "$@"; do adduser "${up%%:*}" "${up#*:}"; done
[ "$(id -u)" = 0 ] && chown -R cyrus:mail "$dir"
$bin/master -C "$dir/imapd.conf" -M "$dir/cyrus.conf" -p "$dir/master.pid" -L "$dir/master.log" -d
# Wait for its IMAP greeting, then give each user an INBOX.
host=${imap%:*} port=${imap##*:}
i=0
until curl -s --max-time 1 "imap://$host:$port/" -u admin:secret -X CAPABILITY >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "$name: no IMAP on $imap" >&2; exit 1; }
    sleep 0.2
done
for up in "$@"; do
    curl -s "imap://$host:$port/" -u admin:secret -X "CREATE user/${up%%:*}" >/dev/null
done
echo "$name: IMAP on $imap, pushing to $mupdate"
