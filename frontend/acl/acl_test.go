package acl

import (
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"testing"
)

func TestOf(t *testing.T) {
	jane := User{ID: "jane", Groups: []string{"group:staff"}}
	for _, tc := range []struct {
		user  User
		acl   string
		owner bool
		want  string
	}{
		{jane, "jane\tlrswipkxtecdan\t", false, "acdeiklnprstwx"},
		{jane, "john\tlrs\t", false, ""},
		{jane, "john\tlrs\tanyone\tlr\t", false, "lr"},
		{jane, "group:staff\tlrsp\t", false, "lprs"},
		{jane, "group:other\tlrsp\t", false, ""},
		{jane, "anyone\tlrs\t-jane\tr\t", false, "ls"},
		{jane, "jane\tlrs\t-anyone\tl\t", false, "rs"},
		{jane, "-group:staff\tlr\tjane\tlrswi\t", false, "isw"},
		{jane, "", true, "aklnx"},
		{jane, "jane\tlr\t", true, "aklnrx"},
		{jane, "-jane\tl\t", true, "aknx"},
		{User{ID: "root", Admin: true}, "", false, "abcdefghijklmnopqrstuvwxyz0123456789"},
		{jane, "jane\tc\t", false, "ckx"},
		{jane, "jane\td\t", false, "det"},
		{jane, "anonymous\tlr\t", false, ""},
	} {
		got, err := Of(tc.user, tc.acl, tc.owner, Parse(DefaultOwnerRights))
		if err != nil || got.String() != tc.want {
			t.Errorf("Of(%s, %q, owner %v) = %q, %v; want %q", tc.user.ID, tc.acl, tc.owner, got, err, tc.want)
		}
	}
}

func TestOfMalformed(t *testing.T) {
	got, err := Of(User{ID: "jane"}, "jane\tlr\tjohn", false, 0)
	if err == nil || got.String() != "lr" {
		t.Errorf("Of(odd fields) = %q, %v; want lr and an error", got, err)
	}
}

func TestHas(t *testing.T) {
	r := Parse("lrsp")
	if !r.Has("lp") || r.Has("le") || !r.Has("") {
		t.Errorf("Parse(lrsp).Has: wrong answers for lp, le, empty")
	}
}

func TestUnixGroups(t *testing.T) {
	file := filepath.Join(t.TempDir(), "group")
	os.WriteFile(file, []byte("staff:x:50:jane,john\nsales:x:51:john\n# a comment\nbroken line\nempty:x:52:\n"), 0o644)
	if got := UnixGroups("jane-no-such-system-user", file); len(got) != 0 {
		t.Errorf("groups of a user in no group = %q", got)
	}
	johns := UnixGroups("john", file)
	if !slices.Equal(johns, []string{"group:staff", "group:sales"}) {
		t.Errorf("john's groups = %q, want staff and sales", johns)
	}
	// A system user's primary group counts, as getgrouplist has it.
	if u, err := user.Lookup("root"); err == nil {
		os.WriteFile(file, []byte("wheel:x:"+u.Gid+":\nother:x:4242:\n"), 0o644)
		if got := UnixGroups("root", file); !slices.Equal(got, []string{"group:wheel"}) {
			t.Errorf("root's groups = %q, want its primary group", got)
		}
	}
	if got := UnixGroups("jane", "/nonexistent/group"); got != nil {
		t.Errorf("groups from a missing file = %q", got)
	}
	// A group ACL entry then gives its rights.
	r, _ := Of(User{ID: "john", Groups: johns}, "group:sales\tlr\t-group:staff\tr\t", false, 0)
	if r.String() != "l" {
		t.Errorf("john's rights from group entries = %q, want l", r)
	}
}
