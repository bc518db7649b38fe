// Output folders that facecat owns: each carries a marker file, and a tool deletes or replaces files only in a
// folder that has it (see ARCHITECTURE.md, "What facecat deletes"). A folder is claimed before anything is written
// into it:
//  - a folder that does not exist, or is empty, is created and marked;
//  - a marked folder is used as it is;
//  - a non-empty folder without the marker is refused, unless every entry in it has the shape that an earlier
//    facecat (before markers) gave that kind of folder: then it is facecat's, and it is marked now;
//  - a path that is not a folder (a file, a device) is refused.
// Refusals are usage errors (exit 2): the message names the folder, says why and how to go on; nothing is touched.
#pragma once
#include <filesystem>
#include <string>

#include "util/result.hpp"

namespace facecat {

// The marker's file name, directly inside the folder.
inline constexpr const char* kOwnedDirMarker = ".facecat-folder";

enum class OwnedDirKind { Report, Frames, Crops, Chips, VkPhotos, Models };
const char* owned_dir_kind_name(OwnedDirKind k);

// Creates or checks `dir` as described above. `what` names the setting or flag in messages ("--out",
// "faces.CroppedFacesPath").
Result<void> claim_output_dir(const std::filesystem::path& dir, OwnedDirKind kind, const std::string& what);

// True when `dir` carries the marker.
bool has_owned_dir_marker(const std::filesystem::path& dir);

// Writes the marker into a folder this process has just created (e.g. a report's temp folder).
Result<void> write_owned_dir_marker(const std::filesystem::path& dir, OwnedDirKind kind);

// True when replacing or deleting `dir` as a whole would take something the user did not give facecat: the root,
// the home folder, the current folder or one of its ancestors.
std::string protected_folder_reason(const std::filesystem::path& dir);

}  // namespace facecat
