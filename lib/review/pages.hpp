// The review page's HTML: the index (people to name, then named people, largest first) and a person's page.
// Everything is inline (CSS and script): the page works offline and loads nothing from elsewhere.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "catalog/db.hpp"

namespace facecat::review {

struct PageContext {
  std::string csrf;          // the token every change request must carry
  std::string catalog_name;  // shown in the header
  uint64_t generation = 0;   // actions done so far (data-generation on <body>)
  int index_faces = 24;
  int page = 1;              // of the index
  int cards_per_page = 50;   // people per index page
};

std::string index_page(catalog::Db& db, const PageContext& ctx);
// nullopt: no such person.
std::optional<std::string> person_page(catalog::Db& db, int64_t person, const PageContext& ctx);

}  // namespace facecat::review
