// The TCP connections this process accepted, found among its own descriptors.
#pragma once

#include <functional>
#include <set>

namespace kledger {

// Calls `visit(fd)` for each TCP connection this process accepted on an IPv4 local port in
// `ports` (listening sockets are skipped), walking /proc/self/fd. Never throws: a descriptor
// closed meanwhile is skipped, a listing that fails ends the walk.
void ForEachAcceptedConnection(const std::set<int>& ports,
                               const std::function<void(int fd)>& visit);

}  // namespace kledger
