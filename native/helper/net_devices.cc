#include "net_devices.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "report.h"

namespace net_devices {

namespace {

std::string field(const std::string& host) { return "linux.netDevices[\"" + host + "\"]"; }

struct LinkRequest {
  nlmsghdr header;
  ifinfomsg info;
  char attrs[64];
};

void add_attr(LinkRequest& r, unsigned short type, const void* data, size_t len) {
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&r) + NLMSG_ALIGN(r.header.nlmsg_len));
  a->rta_type = type;
  a->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  memcpy(RTA_DATA(a), data, len);
  r.header.nlmsg_len = NLMSG_ALIGN(r.header.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

// Sends one request and reads the kernel's acknowledgement: 0 or its errno.
int request(int s, const nlmsghdr* msg) {
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  if (sendto(s, msg, msg->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return errno;
  char buf[512];
  ssize_t n;
  do {
    n = recv(s, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  if (!NLMSG_OK(h, static_cast<size_t>(n)) || h->nlmsg_type != NLMSG_ERROR) return EPROTO;
  return -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
}

int route_socket() { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

// RTM_NEWLINK over the route socket `s` on the link `index`: into the
// namespace `netns`, named `name`, and up if `up`. Returns 0 or the errno
// the kernel acknowledged with.
int send_link_move(int s, int index, const std::string& name, int netns, bool up) {
  LinkRequest r = {};
  r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  r.header.nlmsg_type = RTM_NEWLINK;
  r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  r.header.nlmsg_seq = 1;
  r.info.ifi_family = AF_UNSPEC;
  r.info.ifi_index = index;
  if (up) {
    r.info.ifi_flags = IFF_UP;
    r.info.ifi_change = IFF_UP;
  }
  uint32_t fd = static_cast<uint32_t>(netns);
  add_attr(r, IFLA_NET_NS_FD, &fd, sizeof fd);
  add_attr(r, IFLA_IFNAME, name.c_str(), name.size() + 1);
  return request(s, &r.header);
}

// The link `index` of this namespace into `netns`, named `name`. Up once
// in the container's namespace, as runc leaves it (the kernel moves first
// and applies the name and flags there).
int move_link(int index, const std::string& name, int netns) {
  int s = route_socket();
  if (s < 0) return errno;
  int err = send_link_move(s, index, name, netns, true);
  close(s);
  return err;
}

// A permanent address of global scope on a device to move: the kernel
// drops addresses when a device changes namespace, and runc puts these
// back (dynamic or link-local ones belong to the old namespace).
struct SavedAddress {
  std::string host, name;  // the device, and its name in the container
  unsigned char family = 0, prefixlen = 0;
  std::string local, address;  // IFA_LOCAL, IFA_ADDRESS (raw bytes; may be empty)
};
// Read by the helper before the clone, so the init has its own copy.
std::vector<SavedAddress> saved;

// The permanent global addresses of the devices of `p` (RTM_GETADDR dump).
int save_addresses(const plan::Plan& p) {
  int s = route_socket();
  if (s < 0) return errno;
  struct {
    nlmsghdr header;
    ifaddrmsg addr;
  } r = {};
  r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  r.header.nlmsg_type = RTM_GETADDR;
  r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  r.header.nlmsg_seq = 1;
  r.addr.ifa_family = AF_UNSPEC;
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  if (sendto(s, &r, r.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    int err = errno;
    close(s);
    return err;
  }
  std::vector<unsigned> indexes;
  for (const auto& d : p.net_devices) indexes.push_back(if_nametoindex(d.host.c_str()));
  static char buf[32768];
  for (;;) {
    ssize_t n;
    do {
      n = recv(s, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      int err = errno;
      close(s);
      return err;
    }
    size_t len = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        close(s);
        return 0;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
        close(s);
        return err != 0 ? err : EPROTO;
      }
      if (h->nlmsg_type != RTM_NEWADDR) continue;
      auto* a = reinterpret_cast<ifaddrmsg*>(NLMSG_DATA(h));
      if (a->ifa_scope != RT_SCOPE_UNIVERSE) continue;
      uint32_t flags = a->ifa_flags;
      SavedAddress sa;
      int attr_len = static_cast<int>(IFA_PAYLOAD(h));
      for (auto* at = IFA_RTA(a); RTA_OK(at, attr_len); at = RTA_NEXT(at, attr_len)) {
        std::string value(static_cast<const char*>(RTA_DATA(at)), RTA_PAYLOAD(at));
        if (at->rta_type == IFA_LOCAL) sa.local = value;
        if (at->rta_type == IFA_ADDRESS) sa.address = value;
        if (at->rta_type == IFA_FLAGS && value.size() == 4) memcpy(&flags, value.data(), 4);
      }
      if (!(flags & IFA_F_PERMANENT)) continue;
      for (size_t i = 0; i < indexes.size(); i++) {
        if (indexes[i] != a->ifa_index) continue;
        sa.host = p.net_devices[i].host;
        sa.name = p.net_devices[i].name;
        sa.family = a->ifa_family;
        sa.prefixlen = a->ifa_prefixlen;
        saved.push_back(sa);
      }
    }
  }
}

}  // namespace

void check(const plan::Plan& p) {
  for (const auto& d : p.net_devices) {
    if (if_nametoindex(d.host.c_str()) == 0) {
      report::fail(field(d.host), errno == ENXIO ? ENODEV : errno, "no such network device in the runtime's network namespace");
    }
  }
  if (p.net_devices.empty()) return;
  int err = save_addresses(p);
  if (err != 0) report::fail("linux.netDevices: list the devices' addresses (RTM_GETADDR)", err);
}

namespace {

// Moves a device back from the container's namespace `netns` into this
// process's `own`, under its host name: a socket made while inside the
// container's namespace speaks to that namespace's links.
// `failed`: the device whose move failed, which may have moved without its
// new name (the kernel renames after the move), so it is looked for under
// its host name only (its new name may be another device's there).
void move_back(const plan::NetDevice& d, bool failed, int netns, int own) {
  if (setns(netns, CLONE_NEWNET) != 0) return;
  unsigned index = if_nametoindex((failed ? d.host : d.name).c_str());
  int s = route_socket();
  if (setns(own, CLONE_NEWNET) != 0) report::fail("linux.netDevices: return to the runtime's network namespace", errno);
  if (s < 0 || index == 0) {
    if (s >= 0) close(s);
    return;
  }
  send_link_move(s, static_cast<int>(index), d.host, own, false);
  close(s);
}

}  // namespace

int move(const plan::Plan& p, pid_t pid, std::string& step) {
  if (p.net_devices.empty()) return 0;
  std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
  int netns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (netns < 0) {
    step = "open " + report::quote(ns_path);
    return errno;
  }
  int err = 0;
  size_t moved = 0;
  for (; moved < p.net_devices.size(); moved++) {
    const auto& d = p.net_devices[moved];
    unsigned index = if_nametoindex(d.host.c_str());
    err = index == 0 ? ENODEV : move_link(static_cast<int>(index), d.name, netns);
    if (err != 0) {
      step = field(d.host) + ": move into the container's network namespace as " + report::quote(d.name);
      break;
    }
  }
  if (err != 0) {
    // The init is killed next, and a virtual device would go with its
    // namespace: those moved so far (and the failing one, if it moved
    // before its rename failed) come back first, under their host names.
    int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own >= 0) {
      for (size_t i = 0; i <= moved && i < p.net_devices.size(); i++) move_back(p.net_devices[i], i == moved, netns, own);
      close(own);
    }
  }
  close(netns);
  return err;
}

void restore_addresses() {
  if (saved.empty()) return;
  int s = route_socket();
  if (s < 0) report::fail("linux.netDevices: netlink socket", errno);
  for (const auto& a : saved) {
    struct {
      nlmsghdr header;
      ifaddrmsg addr;
      char attrs[64];
    } r = {};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    r.header.nlmsg_type = RTM_NEWADDR;
    r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    r.header.nlmsg_seq = 1;
    r.addr.ifa_family = a.family;
    r.addr.ifa_prefixlen = a.prefixlen;
    r.addr.ifa_scope = RT_SCOPE_UNIVERSE;
    r.addr.ifa_index = if_nametoindex(a.name.c_str());
    auto add = [&r](unsigned short type, const std::string& value) {
      if (value.empty()) return;
      auto* at = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&r) + NLMSG_ALIGN(r.header.nlmsg_len));
      at->rta_type = type;
      at->rta_len = static_cast<unsigned short>(RTA_LENGTH(value.size()));
      memcpy(RTA_DATA(at), value.data(), value.size());
      r.header.nlmsg_len = NLMSG_ALIGN(r.header.nlmsg_len) + RTA_ALIGN(at->rta_len);
    };
    add(IFA_LOCAL, a.local);
    add(IFA_ADDRESS, a.address);
    int err = r.addr.ifa_index == 0 ? ENODEV : request(s, &r.header);
    if (err != 0) report::fail(field(a.host) + ": add its address again in the container as " + report::quote(a.name), err);
  }
  close(s);
}

}  // namespace net_devices
