#include "net_devices.h"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

// RTM_NEWLINK on the link `index`: into the namespace `netns`, named
// `name`. Returns 0 or the errno the kernel acknowledged with.
int move_link(int index, const std::string& name, int netns) {
  LinkRequest r = {};
  r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  r.header.nlmsg_type = RTM_NEWLINK;
  r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  r.header.nlmsg_seq = 1;
  r.info.ifi_family = AF_UNSPEC;
  r.info.ifi_index = index;
  // Up once in the container's namespace, as runc leaves it (the kernel
  // moves first and applies the name and flags there).
  r.info.ifi_flags = IFF_UP;
  r.info.ifi_change = IFF_UP;
  uint32_t fd = static_cast<uint32_t>(netns);
  add_attr(r, IFLA_NET_NS_FD, &fd, sizeof fd);
  add_attr(r, IFLA_IFNAME, name.c_str(), name.size() + 1);

  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) return errno;
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  int err = 0;
  if (sendto(s, &r, r.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    err = errno;
  } else {
    char buf[512];
    ssize_t n;
    do {
      n = recv(s, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    auto* h = reinterpret_cast<nlmsghdr*>(buf);
    if (n < 0) {
      err = errno;
    } else if (!NLMSG_OK(h, static_cast<size_t>(n)) || h->nlmsg_type != NLMSG_ERROR) {
      err = EPROTO;
    } else {
      err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
    }
  }
  close(s);
  return err;
}

}  // namespace

void check(const plan::Plan& p) {
  for (const auto& d : p.net_devices) {
    if (if_nametoindex(d.host.c_str()) == 0) {
      report::fail(field(d.host), errno == ENXIO ? ENODEV : errno, "no such network device in the runtime's network namespace");
    }
  }
}

int move(const plan::Plan& p, pid_t pid, std::string& step) {
  if (p.net_devices.empty()) return 0;
  std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
  int netns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (netns < 0) {
    step = "open " + report::quote(ns_path);
    return errno;
  }
  int err = 0;
  for (const auto& d : p.net_devices) {
    unsigned index = if_nametoindex(d.host.c_str());
    err = index == 0 ? ENODEV : move_link(static_cast<int>(index), d.name, netns);
    if (err != 0) {
      step = field(d.host) + ": move into the container's network namespace as " + report::quote(d.name);
      break;
    }
  }
  close(netns);
  return err;
}

}  // namespace net_devices
