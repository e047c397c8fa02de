// The relay of systemd's notify protocol (lib/notify-socket.ts): a
// container's process sends "READY=1" as one datagram to the socket tsbox
// bound in the container's state directory, and tsbox passes it on to the
// NOTIFY_SOCKET it was started with. Everything here is non-blocking: the
// runtime polls for datagrams on a timer, so a container that never says
// anything leaves no pending poll behind.
#include "datagram.h"

#include "wire.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

namespace {

Napi::Value throw_error(Napi::Env env, const std::string& syscall, const std::string& what, int err) {
  std::string code = uv_err_name(-err);
  std::string text = strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(tolower(text[0]));
  Napi::Error e = Napi::Error::New(env, what + ": " + text + " (" + code + ")");
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// A filesystem path, or with a leading "@" a name in the abstract namespace
// (as systemd writes NOTIFY_SOCKET for those). False if it does not fit.
bool address_of(const std::string& path, struct sockaddr_un& addr, socklen_t& len) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = 0;
  len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  return true;
}

// bindDatagram(path, mode) -> fd: a non-blocking datagram socket bound at
// path, whose file gets `mode` (a container's process of any uid must be
// able to send to it: runc makes it 0777).
Napi::Value BindDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  const std::string what = "bind notify socket \"" + path + "\"";
  struct sockaddr_un addr;
  socklen_t len;
  if (!address_of(path, addr, len)) return throw_error(env, "bind", what, ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_error(env, "socket", what, errno);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), len) != 0) {
    int err = errno;
    close(fd);
    return throw_error(env, "bind", what, err);
  }
  if (chmod(path.c_str(), mode) != 0) {
    int err = errno;
    close(fd);
    return throw_error(env, "chmod", what, err);
  }
  return Napi::Number::New(env, fd);
}

// recvDatagram(fd) -> Buffer | null: the next datagram, or null when none
// is waiting.
Napi::Value RecvDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  char buf[4096];
  ssize_t n;
  do {
    n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return env.Null();
    return throw_error(env, "recv", "receive from the notify socket", errno);
  }
  return Napi::Buffer<char>::Copy(env, buf, static_cast<size_t>(n));
}

// sendDatagram(path, data: string): one datagram to the socket at path (or
// "@name" in the abstract namespace).
Napi::Value SendDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::string data = info[1].As<Napi::String>();
  const std::string what = "send to NOTIFY_SOCKET \"" + path + "\"";
  struct sockaddr_un addr;
  socklen_t len;
  if (!address_of(path, addr, len)) return throw_error(env, "sendto", what, ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_error(env, "socket", what, errno);
  ssize_t n = sendto(fd, data.data(), data.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr), len);
  int err = errno;
  close(fd);
  if (n < 0) return throw_error(env, "sendto", what, err);
  return env.Undefined();
}

// notifyBarrier(path) -> fd: systemd's sd_notify_barrier: "BARRIER=1" to the
// socket at path with the write end of a new pipe, which the receiver
// closes once it has processed everything sent before (a receiver that
// reads the datagram without taking descriptors closes it too). Returns the
// read end, non-blocking: it reads end of file then (pipeEnded).
Napi::Value NotifyBarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  const std::string what = "send BARRIER=1 to NOTIFY_SOCKET \"" + path + "\"";
  struct sockaddr_un addr;
  socklen_t len;
  if (!address_of(path, addr, len)) return throw_error(env, "sendmsg", what, ENAMETOOLONG);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return throw_error(env, "pipe2", what, errno);
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    int err = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return throw_error(env, "socket", what, err);
  }
  // Connected, a datagram socket sends to that address: wire::send_bytes
  // attaches the pipe's write end.
  const char* failed = "connect";
  int err = connect(sock, reinterpret_cast<struct sockaddr*>(&addr), len) == 0 ? 0 : errno;
  if (err == 0) {
    failed = "sendmsg";
    err = wire::send_bytes(sock, "BARRIER=1", pipe_fds[1]);
  }
  close(sock);
  close(pipe_fds[1]);  // the receiver holds the only write end now
  if (err != 0) {
    close(pipe_fds[0]);
    return throw_error(env, failed, what, err);
  }
  return Napi::Number::New(env, pipe_fds[0]);
}

// pipeEnded(fd) -> boolean: the non-blocking read end of a pipe reads end of
// file (or anything at all: a barrier's receiver only ever closes it).
Napi::Value PipeEnded(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  char byte;
  ssize_t n;
  do {
    n = read(fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  return Napi::Boolean::New(info.Env(), !(n < 0 && errno == EAGAIN));
}

}  // namespace

void RegisterDatagram(Napi::Env env, Napi::Object exports) {
  exports.Set("bindDatagram", Napi::Function::New(env, BindDatagram));
  exports.Set("recvDatagram", Napi::Function::New(env, RecvDatagram));
  exports.Set("sendDatagram", Napi::Function::New(env, SendDatagram));
  exports.Set("notifyBarrier", Napi::Function::New(env, NotifyBarrier));
  exports.Set("pipeEnded", Napi::Function::New(env, PipeEnded));
}
