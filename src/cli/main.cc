// promote's entry point: everything, including the exit code, is decided in cli::Main.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  return promote::cli::Main(argc, argv, std::cout, std::cerr);
}
