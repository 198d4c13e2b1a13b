#!/usr/bin/env python3
"""Capture testdata/cyrus-3.6.1.json from a real Cyrus (Debian's cyrus-imapd).

Run as root on a machine with cyrus-imapd and sasl2-bin installed:

    python3 capture_cyrus.py ../cyrus-3.6.1.json

It starts a standalone imapd under /tmp/nscheck/inst on 127.0.0.1:14501
(no murder), creates the mailboxes in CREATE as admin with ACL "anyone lrs",
deletes those in DELETE (delete_mode: delayed), then restarts Cyrus under
each imapd.conf variant and records, per login, the NAMESPACE reply, LIST
"" "*" (and LIST (VENDOR.CMU-INCLUDE-DELETED) with allowdeleted) and STATUS
(MAILBOXID) of assorted spellings, mapped back to internal names.
"""
import imaplib, json, os, re, shutil, signal, socket, subprocess, sys, time


BIN = "/usr/lib/cyrus/bin"
D = os.environ.get("NSCHECK_DIR", "/tmp/nscheck/inst")
PORT = 14501
SERVERNAME = "nscheck.test"

def sh(*a, **kw):
    return subprocess.run(a, check=True, capture_output=True, text=True, **kw)

def write_conf(opts):
    base = {
        "configdirectory": f"{D}/conf", "defaultpartition": "default",
        "partition-default": f"{D}/spool", "proc_path": f"{D}/proc",
        "mboxname_lockpath": f"{D}/lock", "lmtpsocket": f"{D}/socket/lmtp",
        "idlesocket": f"{D}/socket/idle", "notifysocket": f"{D}/socket/notify",
        "sievedir": f"{D}/sieve", "servername": SERVERNAME,
        "cyrus_user": "cyrus", "cyrus_group": "mail", "admins": "admin",
        "allowplaintext": "yes", "sasl_pwcheck_method": "auxprop",
        "sasl_auxprop_plugin": "sasldb", "sasl_sasldb_path": f"{D}/sasldb2",
        "sasl_mech_list": "PLAIN LOGIN", "delete_mode": "delayed",
        "syslog_prefix": "nscheck", "hashimapspool": "true",
    }
    base.update(opts)
    with open(f"{D}/imapd.conf", "w") as f:
        for k, v in base.items():
            f.write(f"{k}: {v}\n")
    with open(f"{D}/cyrus.conf", "w") as f:
        f.write(f'START {{\n recover cmd="ctl_cyrusdb -C {D}/imapd.conf -r"\n}}\n')
        f.write(f'SERVICES {{\n imap cmd="imapd -C {D}/imapd.conf" listen="127.0.0.1:{PORT}" prefork=0\n}}\n')
        f.write("EVENTS {\n}\n")
    sh("chown", "-R", "cyrus:mail", D)

master = None
def start():
    global master
    master = subprocess.Popen([f"{BIN}/master", "-C", f"{D}/imapd.conf", "-M", f"{D}/cyrus.conf",
                               "-p", f"{D}/master.pid", "-L", f"{D}/master.log"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(150):
        try:
            c = imaplib.IMAP4("127.0.0.1", PORT); c.logout(); return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("cyrus did not start")

def stop():
    global master
    if master:
        master.send_signal(signal.SIGTERM)
        master.wait(20)
        master = None
    time.sleep(0.3)

def setup():
    if os.path.exists(D):
        shutil.rmtree(D)
    for sub in ["spool", "proc", "lock", "socket", "sieve"]:
        os.makedirs(f"{D}/{sub}")
    for sub in "db socket proc lock log msg user quota sieve ptclient sync".split():
        os.makedirs(f"{D}/conf/{sub}")
    for user, realm in [("admin", SERVERNAME), ("jane", SERVERNAME), ("john", SERVERNAME),
                        ("jane", "example.com"), ("bob", "example.com"),
                        ("jane@example.com", SERVERNAME), ("bob@example.com", SERVERNAME)]:
        subprocess.run(["/usr/sbin/saslpasswd2", "-p", "-c", "-f", f"{D}/sasldb2", "-u", realm, user],
                       input="secret", text=True, check=True)

# Mailboxes, in the admin namespace of: altnamespace no, unixhierarchysep no, virtdomains userid.
CREATE = [
    "user.admin", "user.jane", "user.jane.Sent", "user.jane.a^b", "user.jane.INBOX",
    "user.jane.INBOX.x", "user.jane.Inbox", "user.jane.Other Users", "user.jane.Alt Folders",
    "user.jane.user", "user.jane.Old", "user.john", "user.john.Shared", "user.john.a^b",
    "news", "news.a^b", "news.old", "Shared Folders",
    "user.jane@example.com", "user.jane.Sent@example.com", "user.bob@example.com",
    "news2@example.com", "user.carl@other.org", "shared3@other.org",
]
DELETE = ["user.jane.Old", "news.old"]

def cmd(c, *a):
    typ, dat = c._simple_command(*a)
    return typ, c._untagged_response(typ, dat, a[0])

def populate():
    c = imaplib.IMAP4("127.0.0.1", PORT); c.login("admin", "secret")
    for m in CREATE:
        typ, dat = c.create(q(m)); assert typ == "OK", (m, dat)
        typ, dat = c.setacl(q(m), "anyone", "lrs"); assert typ == "OK", (m, dat)
    for m in DELETE:
        typ, dat = c.setacl(q(m), "admin", "lrswipkxtecda"); assert typ == "OK", (m, dat)
        typ, dat = c.delete(q(m)); assert typ == "OK", (m, dat)
    c.logout()

def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

def dump():
    out = sh(f"{BIN}/ctl_mboxlist", "-C", f"{D}/imapd.conf", "-d").stdout
    return json.loads(out)

def session(user, probes, list_deleted):
    c = imaplib.IMAP4("127.0.0.1", PORT)
    c.login(user, "secret")
    res = {"user": user}
    typ, dat = c._simple_command("NAMESPACE")
    res["namespace"] = [x.decode() for x in c.untagged_responses.pop("NAMESPACE", [])]
    typ, dat = c.list('""', "*")
    res["list"] = [x.decode() if isinstance(x, bytes) else repr(x) for x in dat if x is not None]
    if list_deleted:
        typ, dat = c._simple_command("LIST", "(VENDOR.CMU-INCLUDE-DELETED)", '""', "*")
        typ, dat = c._untagged_response(typ, dat, "LIST")
        res["list_deleted"] = [x.decode() for x in dat if x is not None]
    st = {}
    for p in probes:
        typ, dat = c.status(q(p), "(MAILBOXID)")
        st[p] = dat[0].decode() if typ == "OK" else "NO " + (dat[0].decode() if dat and dat[0] else "")
    res["status"] = st
    c.logout()
    return res

def capture():
    variants = build_variants()
    setup()
    write_conf({"altnamespace": "no", "unixhierarchysep": "no", "virtdomains": "userid"})
    start(); populate(); db = dump(); stop()
    hexdel = [n for n in db if n.startswith("DELETED.user.jane.Old.")][0].rsplit(".", 1)[1]
    for v in variants:
        for u, ps in v.get("probes", {}).items():
            v["probes"][u] = [p.replace("{DEL}", hexdel).replace("{del}", hexdel.lower()) for p in ps]
    results = {"mailboxes": db, "variants": []}
    for v in variants:
        write_conf(v["conf"])
        start()
        try:
            sessions = [session(u, v.get("probes", {}).get(u, []), v["conf"].get("allowdeleted") == "yes") for u in v["users"]]
        finally:
            stop()
        results["variants"].append({"conf": v["conf"], "sessions": sessions})
    return results


# probes written with '/' as separator and '.' inside levels; converted for sep '.'
ALT = ["INBOX", "inbox", "Sent", "sent", "INBOX/Sent", "inbox/x", "INBOX/x", "Alt Folders/INBOX",
       "Alt Folders/Inbox", "Inbox", "Alt Folders", "Other Users/john/Shared", "Other Users/jane",
       "Other Users/jane/Sent", "Shared Folders/news", "Shared Folders/news/a.b", "a.b", "//Sent//",
       "Other Users", "Shared Folders/Shared Folders", "Alt Folders/Other Users", "Other Users/john/a.b",
       "Alt Folders/Alt Folders", "user", "Alt Folders/user", "news", "Shared Folders/user/john",
       "Other Users/bob", "Shared Folders/news2", "Other Users/jane@example.com", "Shared Folders/news2@example.com",
       "Other Users/carl@other.org", "Shared Folders/shared3@other.org", "Other Users/jane@internal/Sent",
       "INBOX/INBOX/x", "Alt Folders/INBOX/x", "Alt Folders/Sent"]
STD = ["INBOX", "inbox", "INBOX/Sent", "inbox/sent", "INBOX/a.b", "INBOX/INBOX", "INBOX/INBOX/x", "INBOX/Inbox",
       "user/jane", "user/jane/Sent", "user/john/Shared", "user/john/a.b", "news", "news/a.b", "Sent",
       "//INBOX//Sent", "user", "Shared Folders", "INBOX/Other Users", "user/bob", "news2",
       "user/jane@example.com", "news2@example.com", "user/carl@other.org", "shared3@other.org",
       "user/jane@internal/Sent", "DELETED", "DELETED/user/jane/Old/{DEL}", "DELETED/news/old/{DEL}"]
ADMIN = ["INBOX", "user/jane", "user/jane/Sent", "user/john/a.b", "news", "news/a.b",
         "user/jane@example.com", "user/jane/Sent@example.com", "news2@example.com", "user/carl@other.org",
         "shared3@other.org", "user/admin", "user/jane@internal", "news2",
         "DELETED/user/jane/Old/{DEL}", "DELETED/user/jane/Old/{del}", "DELETED/news/old/{DEL}",
         "deleted/news/old/{DEL}", "DELETED/news/old/0x{DEL}", "INBOX/x", "inbox"]

def conv(p, uhs):
    if uhs:
        return p
    return ".".join(x.replace(".", "^") for x in p.split("/"))

def variant(alt, uhs, virt, extra=None, users=None):
    conf = {"altnamespace": "yes" if alt else "no", "unixhierarchysep": "yes" if uhs else "no",
            "virtdomains": "userid" if virt else "off"}
    conf.update(extra or {})
    if users is None:
        users = ["jane", "john", "admin"] + (["jane@example.com", "bob@example.com"] if virt else [])
    probes = {}
    for u in users:
        src = ADMIN if u == "admin" else (ALT if alt else STD)
        probes[u] = [conv(p, uhs) for p in src]
    return {"conf": conf, "users": users, "probes": probes}

def build_variants():
    vs = [variant(a, u, v) for a in (True, False) for u in (True, False) for v in (False, True)]
    vs.append(variant(True, True, True, {"crossdomains": "yes"}, ["jane", "jane@example.com"]))
    vs.append(variant(False, True, True, {"crossdomains": "yes"}, ["jane", "jane@example.com"]))
    vs.append(variant(True, True, True, {"crossdomains": "yes", "crossdomains_onlyother": "yes"}, ["jane", "jane@example.com"]))
    vs.append(variant(False, True, False, {"allowdeleted": "yes"}, ["jane", "john"]))
    vs.append(variant(True, True, False, {"allowdeleted": "yes"}, ["jane"]))
    vs.append(variant(False, False, False, {"disable_user_namespace": "yes", "disable_shared_namespace": "yes"}, ["jane", "admin"]))
    return vs


def parse_list(line):
    m = re.match(r'^\((.*?)\) (NIL|"(.)") (.*)$', line)
    assert m, line
    name = m.group(4)
    if name.startswith('"'):
        name = json.loads(name)  # the names used here need no escapes
    return name


def to_golden(r):
    db = r["mailboxes"]
    live = sorted(n for n, e in db.items() if "d" not in e["mbtype"])
    byid = {db[n]["uniqueid"]: n for n in live}

    def parse_status(v):
        if v.startswith("NO"):
            return ""
        return byid[re.search(r'MAILBOXID \(([^)]*)\)', v).group(1)]

    version = sh("dpkg-query", "-W", "-f", "${Version}", "cyrus-imapd").stdout
    out = {"cyrus": f"cyrus-imapd {version}", "mailboxes": live, "variants": []}
    for v in r["variants"]:
        vs = {"conf": v["conf"], "sessions": []}
        for s in v["sessions"]:
            vs["sessions"].append({
                "user": s["user"],
                "namespace": s["namespace"][0],
                "list": [parse_list(l) for l in s["list"]],
                "list_deleted": [parse_list(l) for l in s.get("list_deleted", [])],
                "status": {k: parse_status(x) for k, x in s["status"].items()},
            })
        out["variants"].append(vs)
    return out


def main():
    try:
        golden = to_golden(capture())
    finally:
        stop()
    json.dump(golden, open(sys.argv[1], "w"), indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
