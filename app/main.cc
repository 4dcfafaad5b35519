// kledger: one binary, one subcommand per role (SPEC §6).
#include "app/cli.h"

int main(int argc, char** argv) { return kledger::app::Main(argc, argv); }
