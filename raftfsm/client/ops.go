package client

import roostv1 "github.com/roost-mail/roost/proto/roost/v1"

// Reserve returns the operation that reserves name at location
// (server!partition), as a Cyrus backend's RESERVE does.
func Reserve(name, location []byte) *roostv1.Operation {
	return &roostv1.Operation{Op: &roostv1.Operation_Reserve{Reserve: &roostv1.ReserveRequest{Name: name, Location: location}}}
}

// Activate returns the operation that makes name active at location with
// acl (Cyrus's id TAB rights TAB pairs).
func Activate(name, location, acl []byte) *roostv1.Operation {
	return &roostv1.Operation{Op: &roostv1.Operation_Activate{Activate: &roostv1.ActivateRequest{Name: name, Location: location, Acl: acl}}}
}

// Deactivate returns the operation that takes name at location back to
// reserved.
func Deactivate(name, location []byte) *roostv1.Operation {
	return &roostv1.Operation{Op: &roostv1.Operation_Deactivate{Deactivate: &roostv1.DeactivateRequest{Name: name, Location: location}}}
}

// Delete returns the operation that removes name.
func Delete(name []byte) *roostv1.Operation {
	return &roostv1.Operation{Op: &roostv1.Operation_Delete{Delete: &roostv1.DeleteRequest{Name: name}}}
}
