#include "passwd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "strings.h"

namespace passwd {

namespace {

// A passwd file larger than this is not read (the default "/" is used):
// the container's image is not trusted to be reasonable.
constexpr off_t kMaxSize = 4 << 20;

// The whole file if it is a regular one of reasonable size, else "".
// O_NONBLOCK: a FIFO planted at /etc/passwd must not stop the init.
std::string read_passwd() {
  int fd = open("/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxSize) {
    char buf[8192];
    ssize_t n;
    while (text.size() <= static_cast<size_t>(kMaxSize) && (n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
  }
  close(fd);
  return text;
}

// The home field of the first line whose uid field is `uid`, or "".
std::string home_of(const std::string& text, uid_t uid) {
  const std::string want = std::to_string(uid);
  for (const auto& line : strings::split_on(text, '\n')) {
    // name:password:uid:gid:gecos:home:shell
    std::vector<std::string> f = strings::split_on(line, ':');
    if (f.size() >= 6 && f[2] == want) return f[5];
  }
  return "";
}

}  // namespace

std::vector<std::string> with_home(const std::vector<std::string>& env, uid_t uid) {
  std::vector<std::string> out;
  for (const auto& e : env) {
    if (e.compare(0, 5, "HOME=") != 0) {
      out.push_back(e);
    } else if (e.size() > 5) {
      return env;  // the config's own
    }
    // An empty HOME counts as none (runc tests it with getenv).
  }
  std::string home = home_of(read_passwd(), uid);
  out.push_back("HOME=" + (home.empty() ? std::string("/") : home));
  return out;
}

}  // namespace passwd
