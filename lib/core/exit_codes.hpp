// facecat's exit codes, documented in the README. Every tool uses these and only these.
#pragma once

namespace facecat::exit_code {
inline constexpr int ok = 0;               // everything worked
inline constexpr int some_failed = 1;      // the run finished, but some inputs failed (each one was reported)
inline constexpr int usage = 2;            // bad command line or configuration
inline constexpr int catalog = 3;          // the catalog is unusable: cannot open, locked, corrupt, too new
inline constexpr int remote = 4;           // a remote service refused us (auth, captcha, quota) — stopped cleanly
inline constexpr int workers = 5;          // scripts/facecat-parallel: a worker job failed as a whole (ssh, missing
                                           // remote tools); what came back was stored, re-run to finish
inline constexpr int hangup = 129;         // SIGHUP (128 + 1)
inline constexpr int interrupted = 130;    // SIGINT (128 + 2)
inline constexpr int broken_pipe = 141;    // the reader of stdout went away (128 + SIGPIPE); nothing is printed
inline constexpr int terminated = 143;     // SIGTERM (128 + 15)
}  // namespace facecat::exit_code
