// SIGINT/SIGTERM/SIGHUP set a flag that long loops poll; the first signal lets the tool stop between records,
// commit or roll back, and exit with 128+signal. A second one removes temp files and dies at once (ccache's
// SignalHandler). SIGPIPE is ignored: writing to a closed stdout raises BrokenPipe instead.
#pragma once
#include <stdexcept>

namespace facecat {

void install_signal_handlers();
bool interrupted();          // a stop was requested
int interrupt_exit_code();   // 130, 143 or 129 for the signal received; 0 if none

// Thrown when a stop was requested; main's one catch turns it into the right exit code.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
// Thrown when stdout's reader is gone; main exits quietly.
struct BrokenPipe : std::runtime_error {
  BrokenPipe() : std::runtime_error("broken pipe") {}
};

inline void throw_if_interrupted() {
  if (interrupted()) throw Interrupted();
}

}  // namespace facecat
