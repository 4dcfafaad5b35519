// `kledger dev --demo`: a small generated workload (deposits, transfers, withdrawals in two
// currencies) pushed through the real path, then a summary read back from the projections.
#pragma once

#include <cstdint>
#include <string>

#include "command-side/command_client.h"
#include "common/status.h"
#include "processors/processor.h"

namespace kledger::app {

struct DemoOptions {
  std::string instance = "demo";  // the ledger instance the demo writes; default "demo"
  int customers = 8;              // customer wallets per currency; default 8
  int transactions = 2000;        // transactions submitted; default 2000
  uint64_t seed = 42;             // the workload's random seed; default 42
};

// Submits the workload through `client`, waits until `processor` applied all of it, and prints
// the summary to stdout. Error when a command was not accepted or the processor fell behind.
Status RunDemo(command::CommandClient& client, processors::Processor& processor,
               const DemoOptions& options);

}  // namespace kledger::app
