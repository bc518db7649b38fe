// Faces are biometric data (issue 19). privacy.mode decides who may read what facecat creates; check_permissions
// finds the biometric files that others can read (facecat-catalog check) and can tighten them (--fix-permissions).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace facecat {

struct PermissionFinding {
  std::filesystem::path path;
  unsigned mode = 0;      // st_mode & 07777 as found
  unsigned fixed = 0;     // what it was set to (0: not changed)
  std::string error;      // the chmod failed: why
};

// The permission bits that privacy.mode keeps from others: 077 (private), 027 (group), 0 (umask).
unsigned privacy_mask(const std::string& mode);

// The catalog with its -wal/-shm/lock and index files, and everything under the crops, chips, frames and VK
// photo folders and the log file: each entry whose mode grants what privacy.mode keeps from others. With fix,
// those bits are removed (chmod) and `fixed` says the new mode.
std::vector<PermissionFinding> check_permissions(const Config& cfg, bool fix);

}  // namespace facecat
