#include "net_devices.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
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

// The index of the link `name` in the network namespace of the socket `s`
// (interface ioctls on a socket act in its namespace), or 0.
unsigned link_index(int s, const std::string& name) {
  ifreq ifr = {};
  if (name.size() >= sizeof ifr.ifr_name) return 0;
  memcpy(ifr.ifr_name, name.data(), name.size());
  return ioctl(s, SIOCGIFINDEX, &ifr) == 0 ? static_cast<unsigned>(ifr.ifr_ifindex) : 0;
}

// The network namespace the container joins by path, or "" (a new one).
std::string joined_path(const plan::Plan& p) {
  for (const auto& ns : p.namespaces) {
    if (ns.type == "net") return ns.path;
  }
  return "";
}

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
// Noted by check(), added again by the helper wherever a device ends up.
std::vector<SavedAddress> saved;

// Notes the permanent global addresses of the devices of `p` (RTM_GETADDR
// dump over the route socket `s`, in whose namespace indexes[i] is the
// link of p.net_devices[i], 0 if none). 0 or an errno.
int save_addresses(int s, const plan::Plan& p, const std::vector<unsigned>& indexes) {
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
  if (sendto(s, &r, r.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return errno;
  static char buf[32768];
  for (;;) {
    ssize_t n;
    do {
      n = recv(s, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno;
    size_t len = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
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
        if (indexes[i] == 0 || indexes[i] != a->ifa_index) continue;
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
  std::vector<unsigned> indexes;
  for (const auto& d : p.net_devices) indexes.push_back(if_nametoindex(d.host.c_str()));
  int s = route_socket();
  int err = s < 0 ? errno : save_addresses(s, p, indexes);
  if (s >= 0) close(s);
  if (err != 0) report::fail("linux.netDevices: list the devices' addresses (RTM_GETADDR)", err);
}

namespace {

// A route socket that speaks to the network namespace `netns` (a netlink
// socket belongs to the namespace it was made in); this process returns to
// `own`. -1 with errno set on failure.
int route_socket_in(int netns, int own) {
  if (setns(netns, CLONE_NEWNET) != 0) return -1;
  int s = route_socket();
  int err = errno;
  if (setns(own, CLONE_NEWNET) != 0) report::fail("linux.netDevices: return to the runtime's network namespace", errno);
  errno = err;
  return s;
}

// Adds the addresses check() noted for the device `host` over the route
// socket `s`, to the link called `name` in that socket's namespace. 0 or
// the errno of the first the kernel refused (EEXIST: `tolerate_existing`
// says it is fine).
int add_addresses(int s, const std::string& host, const std::string& name, bool tolerate_existing) {
  for (const auto& a : saved) {
    if (a.host != host) continue;
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
    r.addr.ifa_index = link_index(s, name);
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
    if (err == EEXIST && tolerate_existing) err = 0;
    if (err != 0) return err;
  }
  return 0;
}

// Moves a device back from the container's namespace `netns` into this
// process's `own`, under its host name, with its noted addresses (the
// kernel dropped them on the way in). `failed`: the device whose move
// failed; still here under its host name, it never left; otherwise the
// kernel moved it and failed later (it is looked for under its new name,
// then its host name). Best effort: the caller reports the first failure.
void move_back(const plan::NetDevice& d, bool failed, int netns, int own) {
  if (failed && if_nametoindex(d.host.c_str()) != 0) return;
  int there = route_socket_in(netns, own);
  if (there < 0) return;
  unsigned index = link_index(there, d.name);
  if (index == 0 && failed) index = link_index(there, d.host);
  if (index != 0 && send_link_move(there, static_cast<int>(index), d.host, own, false) == 0) {
    int here = route_socket();
    if (here >= 0) {
      add_addresses(here, d.host, d.host, true);
      close(here);
    }
  }
  close(there);
}

// Moves the devices into the network namespace `netns` and gives them
// their addresses there; on failure moves back those already moved.
int move_into(const plan::Plan& p, int netns, std::string& step) {
  int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0) {
    step = "linux.netDevices: open \"/proc/self/ns/net\"";
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
  if (err == 0) {
    int there = route_socket_in(netns, own);
    if (there < 0) {
      err = errno;
      step = "linux.netDevices: netlink socket in the container's network namespace";
    }
    for (size_t i = 0; err == 0 && i < p.net_devices.size(); i++) {
      const auto& d = p.net_devices[i];
      err = add_addresses(there, d.host, d.name, false);
      if (err != 0) step = field(d.host) + ": add its addresses again in the container as " + report::quote(d.name);
    }
    if (there >= 0) close(there);
    if (err != 0) moved = p.net_devices.size();
  }
  if (err != 0) {
    // Those moved so far (and the failing one, if the kernel moved it
    // before it failed) come back with their addresses: in a new namespace
    // the init is killed next and a virtual device would go with it; a
    // joined one is not the container's to keep them.
    for (size_t i = 0; i <= moved && i < p.net_devices.size(); i++) move_back(p.net_devices[i], i == moved, netns, own);
  }
  close(own);
  return err;
}

}  // namespace

int move(const plan::Plan& p, pid_t pid, std::string& step) {
  if (p.net_devices.empty() || joined_path(p) != "") return 0;
  std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
  int netns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (netns < 0) {
    step = "open " + report::quote(ns_path);
    return errno;
  }
  int err = move_into(p, netns, step);
  close(netns);
  return err;
}

void move_into_joined(const plan::Plan& p) {
  const std::string path = joined_path(p);
  if (p.net_devices.empty() || path.empty()) return;
  int netns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (netns < 0) report::fail("linux.netDevices: open network namespace " + report::quote(path), errno);
  std::string step;
  int err = move_into(p, netns, step);
  close(netns);
  if (err != 0) report::fail(step, err);
}

void move_back_mode(const plan::Plan& p) {
  const std::string& path = p.net_devices_back;
  int netns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (netns < 0) report::fail("linux.netDevices: open network namespace " + report::quote(path), errno);
  int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0) report::fail("linux.netDevices: open \"/proc/self/ns/net\"", errno);
  int there = route_socket_in(netns, own);
  if (there < 0) report::fail("linux.netDevices: netlink socket in " + report::quote(path), errno);
  // Their addresses there first: the move drops them.
  std::vector<unsigned> indexes;
  for (const auto& d : p.net_devices) indexes.push_back(link_index(there, d.name));
  int first = save_addresses(there, p, indexes);
  std::string step = "linux.netDevices: list the devices' addresses (RTM_GETADDR) in " + report::quote(path);
  int here = route_socket();
  for (size_t i = 0; i < p.net_devices.size(); i++) {
    const auto& d = p.net_devices[i];
    int err = indexes[i] == 0 ? ENODEV : send_link_move(there, static_cast<int>(indexes[i]), d.host, own, false);
    if (err == 0) err = here < 0 ? errno : add_addresses(here, d.host, d.host, true);
    if (err != 0 && first == 0) {
      first = err;
      step = field(d.host) + ": move back from " + report::quote(path) + " as " + report::quote(d.host);
    }
  }
  if (first != 0) report::fail(step, first);
  _exit(0);
}

}  // namespace net_devices
