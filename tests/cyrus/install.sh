#!/bin/sh
# Installs what the interoperability tests run against when it is missing:
# Debian's Cyrus IMAP packages (the real Cyrus peers), zsh (the README
# walk-throughs are pasted into it as well as into bash), isync's mbsync
# (a real IMAP client), Postfix (a real MTA delivering over LMTP) and swaks
# (an SMTP/LMTP client). Run by `make test`.
set -eu
SUDO=
[ "$(id -u)" != 0 ] && SUDO=sudo
# A Cyrus frontend's lmtpd dials a backend by the service name lmtp,
# which Debian's /etc/services no longer lists.
if ! grep -qE '^lmtp[[:space:]]' /etc/services 2>/dev/null; then
    printf 'lmtp\t\t24/tcp\t\t\t# Local Mail Transfer Protocol (RFC 2033)\n' |
        $SUDO tee -a /etc/services >/dev/null || echo "cannot add lmtp to /etc/services" >&2
fi
[ -x /usr/lib/cyrus/bin/master ] && [ -x /usr/lib/cyrus/bin/pop3d ] &&
    command -v zsh >/dev/null && command -v mbsync >/dev/null &&
    [ -x /usr/sbin/postfix ] && command -v swaks >/dev/null && exit 0
if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
    echo "installing the test peers needs root (or sudo)" >&2
    exit 1
fi
# Keep the packages from starting system-wide daemons: the tests run
# their own instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    cyrus-imapd cyrus-murder cyrus-pop3d cyrus-clients cyrus-admin sasl2-bin zsh isync \
    postfix swaks >/dev/null
