#include "core/signals.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "core/exit_codes.hpp"
#include "util/atomic_file.hpp"

namespace facecat {
namespace {
volatile sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) {
  if (g_signal != 0) {
    // Second signal: clean up and die by the signal, as the shell expects.
    util::remove_registered_temp_files();
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  g_signal = sig;
}
}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking reads return EINTR so loops notice
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

bool interrupted() { return g_signal != 0; }

int interrupt_exit_code() {
  switch (g_signal) {
    case 0: return 0;
    case SIGINT: return exit_code::interrupted;
    case SIGTERM: return exit_code::terminated;
    case SIGHUP: return exit_code::hangup;
    default: return 128 + g_signal;
  }
}

}  // namespace facecat
