package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roost-mail/roost/mupdatecompat"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCyrusMurderOnRoost runs unchanged Cyrus peers on a three-node
// cluster: a backend whose mupdate_server is a follower (its START pushes
// with ctl_mboxlist -m), IMAP CREATE, RENAME, SETACL and DELETE on it, a
// second push that changes nothing, and a frontend whose mupdate slave
// follows another node and receives the whole database, then live changes.
func TestCyrusMurderOnRoost(t *testing.T) {
	needCyrus(t)
	// Cyrus speaks MUPDATE with a password; the nodes speak gRPC and Raft
	// to each other over mutual TLS.
	pki := newPKI(t)
	nodes := startThreeWith(t, "c", func(tn *testNode) { tn.pki = pki })
	fs := followersOf(nodes)
	follower, other := fs[0], fs[1]

	be := startCyrus(t, "backend1", "backend", follower.mupdateAddr)
	got := be.imap(t, "CREATE user.jane", "CREATE user.jane.Sent", "CREATE user.jane.Trash",
		"SETACL user.jane.Sent anyone lrs", "RENAME user.jane.Trash user.jane.Bin", "SETACL user.jane.Bin admin lrswipkxtecda", "DELETE user.jane.Bin",
		"CREATE shared.lists")
	for i, r := range got {
		if !strings.Contains(r, " OK ") {
			t.Fatalf("IMAP command %d: %s", i, r)
		}
	}
	want := map[string]string{
		"user.jane":      "jane\tlrswipkxtecdan\t",
		"user.jane.Sent": "jane\tlrswipkxtecdan\tanyone\tlrs\t",
		"shared.lists":   "anyone\tlrs\t",
	}
	catchUp(t, nodes, other)
	fsm := other.n.Store().FSM()
	for name, acl := range want {
		m, _ := fsm.Get(name)
		if m == nil || m.State != raftfsm.StateActive || m.ACL != acl || !strings.HasPrefix(m.Location, "backend1!") {
			t.Errorf("Get(%q) = %+v, want ACTIVE on backend1 with ACL %q", name, m, acl)
		}
	}
	for _, gone := range []string{"user.jane.Trash", "user.jane.Bin"} {
		if m, _ := fsm.Get(gone); m != nil {
			t.Errorf("%s still in Roost: %+v", gone, m)
		}
	}

	// A second push finds Roost in step and writes nothing.
	be.tool(t, "ctl_mboxlist", "-m")
	catchUp(t, nodes, other)
	before := fsm.Revision()
	be.tool(t, "ctl_mboxlist", "-m")
	catchUp(t, nodes, other)
	if after := fsm.Revision(); after != before {
		t.Errorf("a second ctl_mboxlist -m moved the revision from %d to %d", before, after)
		fsm.View().List(raftfsm.ListOptions{}, func(m raftfsm.Mailbox) bool {
			if m.ModifyRevision > before {
				t.Logf("changed: %+v", m)
			}
			return true
		})
	}

	// A frontend's slave gets the whole database, then live changes.
	fe := startCyrus(t, "frontend1", "frontend", other.mupdateAddr)
	roost := func() []string { return names(other) }
	frontendHas := func(names []string) func() error {
		return func() error {
			dump := fe.tool(t, "ctl_mboxlist", "-d")
			for _, n := range names {
				if !strings.Contains(dump, fmt.Sprintf("%q:", n)) {
					return fmt.Errorf("frontend lacks %s", n)
				}
			}
			return nil
		}
	}
	waitFor(t, "the frontend's first sync", 60*time.Second, frontendHas(roost()))
	be.imap(t, "CREATE user.live")
	waitFor(t, "a live change on the frontend", 30*time.Second, frontendHas([]string{"user.live"}))
	if !slices.Contains(roost(), "user.live") {
		t.Error("user.live is on the frontend but not in Roost")
	}
	if err := sameNames(dumpNames(t, fe), roost()); err != nil {
		t.Error(errors.New("frontend and Roost differ: " + err.Error()))
	}
}

// sameNames reports how two sets of mailbox names differ, if they do.
func sameNames(got, want []string) error {
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		return fmt.Errorf("have %q, want %q", got, want)
	}
	return nil
}

// TestCyrusMupdatetest: Cyrus's own mupdatetest authenticates to a node
// and runs FIND and LIST.
func TestCyrusMupdatetest(t *testing.T) {
	needCyrus(t)
	n := &testNode{id: "m1"}
	startNode(t, n, nil, false)
	if err := write(t.Context(), n, "user.x", "be1!p", "x\tlrs\t"); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(n.mupdateAddr, ":")
	run := func(password, script string) string {
		cmd := exec.Command(filepath.Join(cyrusBin, "mupdatetest"), "-m", "PLAIN", "-a", cyrusAdmin, "-w", password,
			"-p", port, "127.0.0.1")
		cmd.Stdin = strings.NewReader(script)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	out := run(cyrusPassword, "F1 FIND \"user.x\"\r\nF2 FIND \"user.none\"\r\nL1 LIST \"be1!\"\r\nQ1 LOGOUT\r\n")
	for _, want := range []string{
		`S: A01 OK "Authenticated"`,
		"F1 MAILBOX \"user.x\" \"be1!p\" \"x\tlrs\t\"",
		`F1 OK "Search completed"`,
		`F2 OK "Search completed"`,
		"L1 MAILBOX \"user.x\" \"be1!p\" \"x\tlrs\t\"",
		`L1 OK "list complete"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mupdatetest output lacks %q:\n%s", want, out)
		}
	}
	if out := run("wrong", "Q1 LOGOUT\r\n"); strings.Contains(out, `A01 OK`) {
		t.Errorf("mupdatetest with a wrong password authenticated:\n%s", out)
	}
}

// dumpNames returns the mailbox names in a Cyrus instance's mailboxes.db,
// less the tombstones (mbtype d) a backend keeps of deleted and renamed
// mailboxes, which it does not tell MUPDATE of.
func dumpNames(t *testing.T, c *cyrus) []string {
	t.Helper()
	var entries map[string]struct {
		Mbtype string `json:"mbtype"`
	}
	out := c.tool(t, "ctl_mboxlist", "-d")
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("ctl_mboxlist -d on %s: %v\n%s", c.name, err, out)
	}
	var names []string
	for name, e := range entries {
		if !strings.Contains(e.Mbtype, "d") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// TestCyrusLeaderKill: on each Raft log store, the leader stops while a
// Cyrus backend (pointed at a follower) keeps creating mailboxes. Creates go on after the election;
// only one in flight may fail, with NO; Roost holds every mailbox the
// backend has, and the frontend ends up holding exactly what Roost holds.
func TestCyrusLeaderKill(t *testing.T) {
	needCyrus(t)
	for _, store := range raftStores {
		t.Run(store, func(t *testing.T) { cyrusLeaderKill(t, store) })
	}
}

// cyrusLeaderKill is TestCyrusLeaderKill on one Raft log store.
func cyrusLeaderKill(t *testing.T, store string) {
	nodes := startThreeWith(t, "k"+store[:1], func(tn *testNode) { tn.store = raftfsm.RaftStore(store) })
	leader, followers := leaderOf(nodes), followersOf(nodes)
	be := startCyrus(t, "backend1", "backend", followers[0].mupdateAddr)
	fe := startCyrus(t, "frontend1", "frontend", followers[1].mupdateAddr)

	var cmds []string
	for i := range 60 {
		cmds = append(cmds, fmt.Sprintf("CREATE user.k%02d", i))
	}
	done := make(chan []string)
	go func() { done <- be.imap(t, cmds...) }()
	waitFor(t, "creates under way", 30*time.Second, func() error {
		if followers[0].n.Store().FSM().Len() < 10 {
			return errors.New("not yet")
		}
		return nil
	})
	leader.stop(t)
	results := <-done
	failed := 0
	for _, r := range results {
		if !strings.Contains(r, " OK ") {
			failed++
			t.Logf("create during failover: %s", r)
		}
	}
	if failed > 1 {
		t.Errorf("%d of %d creates failed across the leader stop, want at most the one in flight", failed, len(results))
	}
	backend := dumpNames(t, be)
	catchUp(t, nodes, followers[1])
	inRoost := names(followers[1])
	for _, n := range backend {
		if !slices.Contains(inRoost, n) {
			t.Errorf("%s is on the backend but not in Roost", n)
		}
	}
	waitFor(t, "the frontend to hold exactly what Roost holds", 60*time.Second, func() error {
		return sameNames(dumpNames(t, fe), inRoost)
	})
	if len(backend) < len(results)-failed {
		t.Errorf("backend has %d mailboxes, want at least %d", len(backend), len(results)-failed)
	}
}

// TestImportFromCyrusMaster: roostctl import copies the database of a
// real Cyrus mupdate master, entry for entry.
func TestImportFromCyrusMaster(t *testing.T) {
	needCyrus(t)
	master := startCyrus(t, "mupdate-master", "master", "")
	mc, err := mupdatecompat.Dial(t.Context(), master.imapAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if err := mc.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		name := fmt.Sprintf("user.u%03d", i)
		if err := mc.Activate(name, fmt.Sprintf("be%d!default", i%3), fmt.Sprintf("u%03d\tlrswipkxtecdan\t", i)); err != nil {
			t.Fatalf("ACTIVATE %s on Cyrus: %v", name, err)
		}
	}
	if err := mc.Reserve("user.pending", "be1!default"); err != nil {
		t.Fatal(err)
	}
	if err := mc.Activate("example.com!user.x", "be2!", ""); err != nil {
		t.Fatal(err)
	}
	want := masterDump(t, master.imapAddr)

	_, roostctl := buildBinaries(t)
	n := &testNode{id: "i1"}
	startNode(t, n, nil, false)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(cyrusPassword+"\n"), 0o600)
	out := mustCtl(t, roostctl, "--endpoints", n.grpcAddr, "import", "--from", master.imapAddr,
		"--from-user", cyrusAdmin, "--from-password-file", pw)
	if !strings.Contains(out, fmt.Sprintf("imported %d of %d", len(want), len(want))) {
		t.Errorf("roostctl import printed %q, want %d entries", out, len(want))
	}
	var got []string
	n.n.Store().FSM().View().List(raftfsm.ListOptions{}, func(m raftfsm.Mailbox) bool {
		got = append(got, fmt.Sprintf("%s %v %s %q", m.Name, m.State, m.Location, m.ACL))
		return true
	})
	if !slices.Equal(got, want) {
		t.Errorf("Roost has %d entries, the Cyrus master %d; first lines %q vs %q", len(got), len(want), head(got), head(want))
	}
}

func head(s []string) []string { return s[:min(3, len(s))] }

// TestImportFollowFromCyrusMaster is the migration's cutover window: a
// dry run says what an import would write; then roostctl import --follow
// copies a real Cyrus master's database and keeps copying its changes
// while a real Cyrus backend creates, renames and deletes mailboxes on
// the master, until the cluster holds exactly what the master does; an
// interrupt stops it cleanly.
func TestImportFollowFromCyrusMaster(t *testing.T) {
	needCyrus(t)
	master := startCyrus(t, "follow-master", "master", "")
	be := startCyrus(t, "follow-be", "backend", master.imapAddr)
	be.imapOK(t, "CREATE user.before", "CREATE user.before.Sent")

	_, roostctl := buildBinaries(t)
	n := &testNode{id: "f1"}
	startNode(t, n, nil, false)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(cyrusPassword+"\n"), 0o600)
	from := []string{"--endpoints", n.grpcAddr, "import", "--from", master.imapAddr, "--from-user", cyrusAdmin, "--from-password-file", pw}
	out := mustCtl(t, roostctl, append(from, "--dry-run")...)
	if !strings.Contains(out, "would activate user.before at ") || !strings.Contains(out, "2 to add, 0 to change") {
		t.Errorf("import --dry-run printed %q", out)
	}
	if got := n.n.Store().FSM().Len(); got != 0 {
		t.Fatalf("the dry run wrote %d entries", got)
	}

	cmd := exec.Command(roostctl, append(from, "--follow")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	be.imapOK(t, "CREATE user.during", "CREATE user.during.Drafts", "RENAME user.during.Drafts user.during.Old",
		"SETACL user.during anyone lrs", "SETACL user.before.Sent admin lrswipkxtecda", "DELETE user.before.Sent")
	waitFor(t, "the cluster to hold what the master does", 60*time.Second, func() error {
		want := masterDump(t, master.imapAddr)
		got := listing(t, n)
		for i := range got {
			// listing adds revisions; compare the entries only.
			f := strings.Fields(got[i])
			got[i] = strings.Join(f[:len(f)-2], " ")
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("cluster %q, master %q", got, want)
		}
		return nil
	})
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("roostctl import --follow after an interrupt: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "stopped following") {
		t.Errorf("import --follow printed %q", stdout.String())
	}
}

// TestCyrusMigration follows the README's migration guide end to end on
// a running Cyrus murder (its mupdate master, two backends and a
// frontend, all real Cyrus 3.6): a dry run, then roostctl import --follow
// while the frontend and then each backend in turn is pointed at the
// cluster and restarted, with every backend creating and deleting
// mailboxes throughout; then the import stops and the master is retired.
// At every step the frontend holds every mailbox of every backend, and at
// the end the cluster holds exactly what the backends do, each on its own
// server.
func TestCyrusMigration(t *testing.T) {
	needCyrus(t)
	master := startCyrus(t, "mig-master", "master", "")
	be1 := startCyrus(t, "mig-be1", "backend", master.imapAddr)
	be2 := startCyrus(t, "mig-be2", "backend", master.imapAddr)
	fe := startCyrus(t, "mig-fe", "frontend", master.imapAddr)
	be1.imapOK(t, "CREATE user.anne", "CREATE user.anne.Sent", "CREATE user.anne.Trash")
	be2.imapOK(t, "CREATE user.bert", "CREATE shared.news", "SETACL shared.news anyone lrs")
	backends := func() []string { return append(dumpNames(t, be1), dumpNames(t, be2)...) }
	frontendFollows := func(step string) {
		t.Helper()
		waitFor(t, "the frontend to hold every backend's mailboxes "+step, 60*time.Second, func() error {
			return sameNames(dumpNames(t, fe), backends())
		})
	}
	frontendFollows("before the migration")

	// 1. The cluster.
	nodes := startThree(t, "mig", false)
	fs := followersOf(nodes)
	_, roostctl := buildBinaries(t)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(cyrusPassword+"\n"), 0o600)
	var endpoints []string
	for _, tn := range nodes {
		endpoints = append(endpoints, tn.grpcAddr)
	}
	from := []string{"--endpoints", strings.Join(endpoints, ","), "import", "--from", master.imapAddr,
		"--from-user", cyrusAdmin, "--from-password-file", pw}

	// 2. A dry run, then the import, left following.
	if out := mustCtl(t, roostctl, append(from, "--dry-run")...); !strings.Contains(out, "6 to add, 0 to change") {
		t.Errorf("import --dry-run printed %q, want 6 to add", out)
	}
	imp := exec.Command(roostctl, append(from, "--follow")...)
	var stdout, stderr bytes.Buffer
	imp.Stdout, imp.Stderr = &stdout, &stderr
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imp.Process.Kill(); imp.Wait() })
	clusterFollows := func(step string) {
		t.Helper()
		waitFor(t, "the cluster to hold every backend's mailboxes "+step, 60*time.Second, func() error {
			return sameNames(names(fs[0]), backends())
		})
	}
	clusterFollows("after the import")

	// 3. The frontend moves to the cluster while both backends still
	// write to the master: the import carries their changes.
	fe.restart(t, fs[0].mupdateAddr)
	be1.imapOK(t, "CREATE user.anne.Drafts")
	be2.imapOK(t, "CREATE user.bert.Sent")
	frontendFollows("once it follows the cluster")

	// 4. The backends move, one at a time. be1 writes to the cluster, be2
	// still to the master.
	be1.restart(t, fs[1].mupdateAddr)
	be1.imapOK(t, "CREATE user.anne.Archive", "SETACL user.anne.Trash admin lrswipkxtecda", "DELETE user.anne.Trash", "RENAME user.anne.Drafts user.anne.Notes")
	be2.imapOK(t, "CREATE user.bert.Trash", "SETACL user.bert.Sent admin lrswipkxtecda", "DELETE user.bert.Sent")
	frontendFollows("with be1 moved")
	clusterFollows("with be1 moved")
	var leader *testNode
	for _, tn := range nodes {
		if tn.n.Store().IsLeader() {
			leader = tn
		}
	}
	be2.restart(t, leader.mupdateAddr)
	be2.imapOK(t, "CREATE user.bert.Archive")
	frontendFollows("with both moved")

	// 5. The import stops; the master is retired; the murder carries on.
	imp.Process.Signal(os.Interrupt)
	if err := imp.Wait(); err != nil {
		t.Fatalf("import --follow after an interrupt: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "stopped following") || !strings.Contains(stdout.String(), " refused") {
		t.Errorf("import --follow printed %q", stdout.String())
	}
	master.stop()
	be1.imapOK(t, "CREATE user.anne.Final")
	be2.imapOK(t, "SETACL user.bert.Trash admin lrswipkxtecda", "DELETE user.bert.Trash")
	frontendFollows("after the master is gone")
	clusterFollows("after the master is gone")
	for _, c := range []*cyrus{be1, be2} {
		for _, name := range dumpNames(t, c) {
			m, _ := fs[0].n.Store().FSM().Get(name)
			if m == nil || m.State != raftfsm.StateActive || !strings.HasPrefix(m.Location, c.servername+"!") {
				t.Errorf("%s of %s is in the cluster as %+v", name, c.name, m)
			}
		}
	}
}

// masterDump returns a MUPDATE master's UPDATE dump as comparable lines,
// read on a connection of its own.
func masterDump(t *testing.T, addr string) []string {
	t.Helper()
	mc, err := mupdatecompat.Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if err := mc.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
		t.Fatal(err)
	}
	var out []string
	if err := mc.Dump(func(m raftfsm.Mailbox) error {
		out = append(out, fmt.Sprintf("%s %v %s %q", m.Name, m.State, m.Location, m.ACL))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCyrusSlaveSurvivesLimits writes, through gRPC and MUPDATE, names,
// locations and ACLs at and just past what Cyrus 3.6 peers take, while a
// real Cyrus frontend's mupdate slave follows the node: what Roost takes
// reaches the slave intact, what it refuses is refused with a clear error,
// and after every write the slave still follows.
func TestCyrusSlaveSurvivesLimits(t *testing.T) {
	needCyrus(t)
	ctx := t.Context()
	n := &testNode{id: "lim1"}
	startNode(t, n, nil, false)
	mc := n.mailboxes()
	activate := func(name, loc, acl string) error {
		_, err := mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte(name), Location: []byte(loc), Acl: []byte(acl)})
		return err
	}
	if err := activate("user.m0", "be1!default", ""); err != nil {
		t.Fatal(err)
	}
	fe := startCyrus(t, "limits-fe", "frontend", n.mupdateAddr)
	follows := func(names ...string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("the frontend to hold %.60q", names), 60*time.Second, func() error {
			have := dumpNames(t, fe)
			for _, name := range names {
				if !slices.Contains(have, name) {
					return fmt.Errorf("frontend lacks %.60q", name)
				}
			}
			return nil
		})
	}
	follows("user.m0")
	long := func(n int) string { return strings.Repeat("a", n) }
	for i, tc := range []struct {
		name, loc, acl string
		ok             bool
	}{
		{"shared." + long(255) + "." + long(227), "be1!default", "", true}, // 490 bytes
		{"user." + long(240), "be1!default", "", true},
		{"user." + long(250), "be1!default", "", false}, // the slave's assertion
		{"shared." + long(255) + "." + long(228), "be1!default", "", false},
		{"user..bob", "be1!default", "", false},
		{"user.bob", long(64) + "!default", "", false},
		{"user.bob", "be1!default", "bob", false},
		{"user.bob", "be1!default", "bob\tlrs\t", true},
	} {
		err := activate(tc.name, tc.loc, tc.acl)
		switch {
		case tc.ok && err != nil:
			t.Fatalf("case %d: Activate(%.40q) = %v, want OK", i, tc.name, err)
		case !tc.ok && status.Code(err) != codes.InvalidArgument:
			t.Fatalf("case %d: Activate(%.40q) = %v, want InvalidArgument", i, tc.name, err)
		}
		marker := fmt.Sprintf("user.m%d", i+1)
		if err := activate(marker, "be1!default", ""); err != nil {
			t.Fatal(err)
		}
		if tc.ok {
			follows(tc.name, marker)
		} else {
			follows(marker)
		}
	}
	// Through MUPDATE, as a Cyrus backend would send it.
	c, err := mupdatecompat.Dial(ctx, n.mupdateAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
		t.Fatal(err)
	}
	if err := c.Activate("user."+long(250), "be1!default", ""); err == nil || !strings.Contains(err.Error(), "more than the 240 Cyrus peers take") {
		t.Errorf("MUPDATE ACTIVATE of a 250-byte user = %v, want NO naming the limit", err)
	}
	if err := activate("user.last", "be1!default", ""); err != nil {
		t.Fatal(err)
	}
	follows("user.last")
	if err := sameNames(dumpNames(t, fe), names(n)); err != nil {
		t.Errorf("frontend and Roost differ: %v", err)
	}
}
