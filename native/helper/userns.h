// User namespaces and idmapped mounts: the parts of the launch that run in
// the helper (which stays in the parent user namespace until the init is
// cloned) and the one step the init takes once its maps exist.
//
//   helper                                      init (new user namespace)
//   raise_rlimit_ceilings (still privileged)
//   prepare_idmapped_mounts (host mount ns)
//   clone3(CLONE_NEWUSER | other namespaces) -> blocked at the gate pipe
//   write_maps(pid)                              (its ids are unmapped yet)
//   "spawned", exit: the gate opens ---------->  become_root: uid/gid 0 in the
//                                                namespace, then the rootfs
//
// Every namespace cloned together with the user namespace is owned by it, so
// the init can mount, pivot_root and set its hostname there with the
// capabilities it has in its own user namespace.
#pragma once

#include <sys/types.h>

#include <string>

#include "plan.h"

namespace userns {

// Whether the plan creates a user namespace (type "user" without a path).
bool creates(const plan::Plan& p);

// Whether the process will live in a user namespace other than the
// runtime's: one created or one joined by path.
bool enters(const plan::Plan& p);

// Raises the hard limits the process asks for above the current ones while
// the helper still has CAP_SYS_RESOURCE in the initial user namespace: in a
// user namespace of its own the init could only lower them. The init then
// sets the exact values, as before.
void raise_rlimit_ceilings(const plan::Plan& p);

// Opens each idmapped bind mount's source as a detached tree carrying its
// idmap (open_tree + mount_setattr(MOUNT_ATTR_IDMAP)), before the init
// leaves the host's user and mount namespaces: the init, in its own user
// namespace, could not idmap a host filesystem. Sets Mount::tree_fd.
void prepare_idmapped_mounts(plan::Plan& p);

// Writes the new user namespace's setgroups, gid_map and uid_map for the
// process `pid`, directly or through newuidmap/newgidmap. Returns 0, or an
// errno with `step` (and `detail`) saying what failed.
int write_maps(pid_t pid, const plan::Plan& p, std::string& step, std::string& detail);

// In the init, once its maps are written: become uid and gid 0 of the new
// namespace (it starts as the overflow id, unable to create files), and
// drop the supplementary groups brought from the host where setgroups is
// allowed.
void become_root();

// Whether setgroups(2) is allowed in this process's user namespace
// (/proc/self/setgroups); read once, before pivot_root, by note_setgroups.
void note_setgroups();
bool setgroups_allowed();

}  // namespace userns
