#include "move_root.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "report.h"

namespace move_root {

using report::fail;
using report::quote;

namespace {

// A field of /proc/self/mountinfo with its octal escapes (\040 for a
// space, \011, \012, \134) undone.
std::string unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); i++) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int v = 0;
      bool octal = true;
      for (size_t k = 1; k <= 3; k++) {
        char c = field[i + k];
        if (c < '0' || c > '7') octal = false;
        v = v * 8 + (c - '0');
      }
      if (octal) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<std::string> split_spaces(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (start <= line.size()) {
    size_t end = line.find(' ', start);
    if (end == std::string::npos) end = line.size();
    fields.push_back(line.substr(start, end - start));
    start = end + 1;
  }
  return fields;
}

bool under(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// The mount points of whole ("root" "/") procfs and sysfs mounts outside
// `rootfs`, as /proc/self/mountinfo lists them (parents before children).
std::vector<std::string> host_pseudo_mounts(const std::string& rootfs) {
  const std::string step = "read /proc/self/mountinfo";
  FILE* f = fopen("/proc/self/mountinfo", "re");
  if (!f) fail(step, errno);
  std::vector<std::string> out;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    std::string l(line, static_cast<size_t>(len));
    if (!l.empty() && l.back() == '\n') l.pop_back();
    std::vector<std::string> fields = split_spaces(l);
    // id parent major:minor root mountpoint options [optional...] - fstype source super-options
    size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") dash++;
    if (fields.size() < 5 || dash + 1 >= fields.size()) continue;
    const std::string& type = fields[dash + 1];
    if (type != "proc" && type != "sysfs") continue;
    if (unescape(fields[3]) != "/") continue;
    std::string point = unescape(fields[4]);
    if (under(point, rootfs)) continue;
    out.push_back(point);
  }
  free(line);
  fclose(f);
  return out;
}

}  // namespace

void enter(int root, const std::string& rootfs) {
  // The namespace is already a slave or private copy (rootfs::enter), so
  // none of these unmounts reaches the host.
  for (const auto& point : host_pseudo_mounts(rootfs)) {
    if (umount2(point.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == ENOENT) continue;  // gone with a parent detached before it
    // Not ours to unmount (EPERM: a locked mount in a user namespace; EINVAL:
    // covered, or no longer a mount point): cover it instead, as runc does.
    if (errno == EPERM || errno == EINVAL) {
      if (mount("tmpfs", point.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000") == 0) continue;
    }
    fail("hide host mount " + quote(point) + " before --no-pivot", errno);
  }
  // Over "/" rather than a plain chroot: ".." from the root of the moved
  // mount climbs to the old root's "/", which is covered by this very
  // mount, so a lookup of ".." from "/" comes back to the rootfs.
  if (move_mount(root, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    fail("move rootfs " + quote(rootfs) + " onto \"/\" (--no-pivot)", errno);
  }
  if (fchdir(root) != 0) fail("chdir to rootfs", errno);
  if (chroot(".") != 0) fail("chroot into rootfs (--no-pivot)", errno);
  if (chdir("/") != 0) fail("chdir \"/\"", errno);
}

}  // namespace move_root
