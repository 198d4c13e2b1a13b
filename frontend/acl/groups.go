package acl

import (
	"bufio"
	"os"
	"os/user"
	"strings"
)

// GroupFile is the system group database UnixGroups reads.
const GroupFile = "/etc/group"

// UnixGroups returns the groups of userid as Cyrus's default
// authentication mechanism (lib/auth_unix.c, unix_group_enable) finds
// them, as ACL identifiers: group:NAME for every group of groupFile that
// lists userid as a member, and for the primary group of a system user of
// that name. Mail users are seldom system users: for them only the
// membership lists count. An unreadable file gives no groups.
func UnixGroups(userid, groupFile string) []string {
	primary := ""
	if u, err := user.Lookup(userid); err == nil {
		primary = u.Gid
	}
	f, err := os.Open(groupFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	var groups []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:gid:member,member
		fields := strings.Split(sc.Text(), ":")
		if len(fields) != 4 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		member := fields[2] == primary
		for _, m := range strings.Split(fields[3], ",") {
			member = member || strings.TrimSpace(m) == userid
		}
		if member {
			groups = append(groups, "group:"+fields[0])
		}
	}
	return groups
}
