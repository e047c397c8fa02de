// The one encoding spoken between the TypeScript side, the addon, the helper
// and the container's init: a record is a list of byte strings,
//
//     u32 count, then for each string: u32 length, bytes      (host byte order)
//
// The launch plan is a sequence of records in one buffer; every sync message
// is a single record sent as one SOCK_SEQPACKET datagram. The first string of
// a record names its kind ("mount", "spawned", "error", ...). Numbers travel
// as decimal text so that the TypeScript side never has to think about
// 64-bit integers. Both sides run on the same machine, so host byte order is
// fine and there is no versioning: the addon and the helper are always built
// together.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace wire {

using Record = std::vector<std::string>;

inline void append_u32(std::string& out, uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

inline std::string encode(const Record& rec) {
  std::string out;
  append_u32(out, static_cast<uint32_t>(rec.size()));
  for (const auto& s : rec) {
    append_u32(out, static_cast<uint32_t>(s.size()));
    out.append(s);
  }
  return out;
}

// Reads records one after another out of a buffer. A malformed buffer is a
// bug in tsbox itself (both ends are ours), so it is reported, never guessed.
class Reader {
 public:
  Reader(const char* data, size_t len) : p_(data), end_(data + len) {}

  bool done() const { return p_ == end_; }

  // Returns false on a truncated or inconsistent buffer.
  bool next(Record& rec) {
    rec.clear();
    uint32_t count;
    if (!read_u32(count)) return false;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t len;
      if (!read_u32(len) || static_cast<size_t>(end_ - p_) < len) return false;
      rec.emplace_back(p_, len);
      p_ += len;
    }
    return true;
  }

 private:
  bool read_u32(uint32_t& v) {
    if (static_cast<size_t>(end_ - p_) < sizeof v) return false;
    memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return true;
  }
  const char* p_;
  const char* end_;
};

// Sends bytes as one message, with an optional descriptor attached
// (SCM_RIGHTS). Returns 0 or an errno value.
inline int send_bytes(int sock, const std::string& buf, int fd = -1) {
  struct iovec iov = {const_cast<char*>(buf.data()), buf.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  if (fd >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

// Sends one record as one datagram (with an optional descriptor).
inline int send_record(int sock, const Record& rec, int fd = -1) { return send_bytes(sock, encode(rec), fd); }

// Receives one datagram into `buf`, sized by peeking first so that no record
// is ever truncated. `fd` receives an attached descriptor (CLOEXEC) or -1.
// Returns 0, an errno value, or -1 on end of stream (every peer has closed).
inline int recv_datagram(int sock, std::string& buf, int& fd) {
  fd = -1;
  ssize_t size;
  do {
    size = recv(sock, nullptr, 0, MSG_PEEK | MSG_TRUNC);
  } while (size < 0 && errno == EINTR);
  if (size < 0) return errno;
  if (size == 0) {
    // Either a zero-length datagram (we never send one) or end of stream;
    // consume it so the next call does not see it again.
    char dummy;
    ssize_t n;
    do {
      n = recv(sock, &dummy, 0, 0);
    } while (n < 0 && errno == EINTR);
    return -1;
  }
  buf.resize(static_cast<size_t>(size));
  struct iovec iov = {&buf[0], buf.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  buf.resize(static_cast<size_t>(n));
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
  }
  return 0;
}

// One record per datagram: decode it. Returns 0, an errno value, or -1 at
// end of stream; a datagram that is not exactly one record is EBADMSG.
inline int recv_record(int sock, Record& rec, int& fd) {
  std::string buf;
  int err = recv_datagram(sock, buf, fd);
  if (err != 0) return err;
  Reader r(buf.data(), buf.size());
  if (!r.next(rec) || !r.done()) return EBADMSG;
  return 0;
}

inline uint64_t to_u64(const std::string& s) { return strtoull(s.c_str(), nullptr, 10); }
inline int64_t to_i64(const std::string& s) { return strtoll(s.c_str(), nullptr, 10); }

}  // namespace wire
