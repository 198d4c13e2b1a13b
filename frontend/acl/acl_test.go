package acl

import "testing"

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
