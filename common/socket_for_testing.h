// Test helpers for sockets this process holds: the server side of a connection, found by port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "common/sockets.h"

namespace kledger::testing {

// Whether TCP_NODELAY is set on a connection this process accepted on local `port` (not the
// listening socket); nullopt while there is none.
inline std::optional<bool> AcceptedNoDelay(int port) {
  std::optional<bool> found;
  ForEachAcceptedConnection({port}, [&](int fd) {
    int nodelay = 0;
    socklen_t len = sizeof(nodelay);
    if (!found && getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0) {
      found = nodelay != 0;
    }
  });
  return found;
}

// A plain TCP connection to 127.0.0.1:`port`, closed on destruction.
class TcpConnection {
 public:
  explicit TcpConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
  }
  ~TcpConnection() {
    if (fd_ >= 0) close(fd_);
  }
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
  bool connected() const { return connected_; }

 private:
  int fd_;
  bool connected_ = false;
};

// AcceptedNoDelay(port) once it has an answer, waiting up to `timeout` for the server to accept
// (and set its options); nullopt if it never did.
inline std::optional<bool> AcceptedNoDelayWithin(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::optional<bool> now = AcceptedNoDelay(port);
    if ((now && *now) || std::chrono::steady_clock::now() > deadline) return now;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace kledger::testing
