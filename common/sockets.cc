#include "common/sockets.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <filesystem>
#include <string>
#include <system_error>

namespace kledger {

void ForEachAcceptedConnection(const std::set<int>& ports,
                               const std::function<void(int fd)>& visit) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int fd = -1;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    int listening = 0;
    socklen_t int_len = sizeof(int);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
        local.sin_family != AF_INET || !ports.contains(ntohs(local.sin_port)) ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &int_len) != 0 || listening) {
      continue;
    }
    visit(fd);
  }
}

}  // namespace kledger
