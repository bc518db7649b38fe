// Which faces facecat exports to digiKam, read from the catalog.
//
// Files: images that are present, usable (no error) and have a content hash, with at least one detection
// without error. Photos facecat fetched itself (origin 'vk' and 'scenes' video frames) are not exported: they
// are not part of the user's collection.
//
// Pipeline: for each content hash, the detection of the configured pipeline (faces.pipeline, looked up in the
// pipelines table) when that one exists; otherwise the newest detection (processed_at, then pipeline_version).
// Faces with label 'face' of that detection only, in face_index order.
//
// Names and categories, per face (people.name trimmed; a person without a name counts as no person):
//   confirmed  the face's person has a name, faces.assignment = 'confirmed', or assignment is NULL and the
//              person's people.status = 'confirmed';
//   suggested  the face's person has a name and the assignment is anything else but 'rejected';
//   unknown    no person, a person without a name, or assignment = 'rejected'.
// Confirmed faces are always exported; suggested ones with include_suggested (under their name), unknown ones
// with include_unknown (unnamed).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "digikam/geometry.hpp"

namespace facecat::digikam {

enum class Category { Confirmed, Suggested, Unknown };
const char* category_name(Category c);

struct ExportFace {
  int64_t face_id = 0;
  Rect display;       // display frame, clamped to the image
  std::string name;   // empty for unknown faces
  Category category = Category::Unknown;
};

struct ExportImage {
  std::string path;   // raw bytes of the absolute path
  Size stored;        // unrotated frame
  int orientation = 1;
  std::string hash;
  std::string pipeline_version;
  std::vector<ExportFace> faces;  // only the selected ones; may be empty (a sidecar may need cleaning)
};

struct SelectOptions {
  bool include_suggested = false;
  bool include_unknown = false;
  std::string pipeline = "default";  // faces.pipeline
};

// Named faces left out because they are only suggested (include_suggested off), per person.
struct SkippedSuggested {
  struct Person {
    int64_t person_id = 0;
    std::string name;
    int64_t faces = 0;
  };
  int64_t faces = 0;
  std::vector<Person> people;  // most faces first, then by id
};

// problem(path, reason) is called for each file that cannot be exported (e.g. no size in the catalog).
// skipped, when given, counts the named faces left out for being only suggested.
std::vector<ExportImage> select_faces(catalog::Db& db, const SelectOptions& opts,
                                      const std::function<void(const std::string&, const std::string&)>& problem,
                                      SkippedSuggested* skipped = nullptr);

// Names of the selected faces of one image, unique, sorted.
std::vector<std::string> names_of(const ExportImage& img);

}  // namespace facecat::digikam
