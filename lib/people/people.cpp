#include "people/people.hpp"

#include "core/exit_codes.hpp"
#include "util/text.hpp"

namespace facecat::people {

using json = nlohmann::json;

namespace {

Error usage(const std::string& m) { return make_error(m, exit_code::usage); }

bool exists(catalog::Db& db, const char* sql, int64_t id) {
  auto s = db.prepare(sql);
  s.bind(1, id);
  return s.step();
}

std::optional<int64_t> person_by_name(catalog::Db& db, const std::string& n) {
  auto s = db.prepare("SELECT id FROM people WHERE name = ? ORDER BY id LIMIT 1");
  s.bind(1, n);
  if (s.step()) return s.i64(0);
  return std::nullopt;
}

int64_t create_person(catalog::Db& db, const std::optional<std::string>& n, const char* status) {
  const int64_t now = util::now_unix();
  auto s = db.prepare("INSERT INTO people(name, status, created_at, updated_at) VALUES (?, ?, ?, ?)");
  s.bind(1, n).bind(2, status).bind(3, now).bind(4, now).run();
  return db.last_insert_id();
}

void touch(catalog::Db& db, int64_t pid) {
  auto s = db.prepare("UPDATE people SET updated_at = ? WHERE id = ?");
  s.bind_all(util::now_unix(), pid).run();
}

// A person reference (person, or a cluster's person) as a person id.
Result<int64_t> as_person(catalog::Db& db, const Ref& r) {
  if (r.kind == Ref::Kind::Person) return r.id;
  if (r.kind == Ref::Kind::Cluster) {
    auto p = person_of_cluster(db, r.id);
    if (!p) return usage("cluster c" + std::to_string(r.id) + " has no person (it is below the minimum size?)");
    return *p;
  }
  auto s = db.prepare("SELECT person_id FROM faces WHERE id = ? AND coalesce(assignment, '') <> 'rejected'");
  s.bind(1, r.id);
  if (s.step() && !s.is_null(0)) return s.i64(0);
  return usage("face f" + std::to_string(r.id) + " belongs to nobody");
}

// Moves B's faces and sources to A, deletes B.
void merge_people(catalog::Db& db, int64_t a, int64_t b) {
  db.prepare("UPDATE faces SET person_id = ? WHERE person_id = ?").bind_all(a, b).run();
  db.prepare("UPDATE OR IGNORE person_sources SET person_id = ? WHERE person_id = ?").bind_all(a, b).run();
  db.prepare("DELETE FROM people WHERE id = ?").bind_all(b).run();
  touch(db, a);
}

}  // namespace

std::optional<int64_t> person_of_cluster(catalog::Db& db, int64_t cluster) {
  auto s = db.prepare(
      "SELECT person_id, count(*) FROM faces WHERE cluster_id = ? AND person_id IS NOT NULL "
      "AND coalesce(assignment, '') <> 'rejected' GROUP BY person_id ORDER BY 2 DESC LIMIT 1");
  s.bind(1, cluster);
  if (s.step()) return s.i64(0);
  return std::nullopt;
}

Result<Ref> resolve(catalog::Db& db, const std::string& text) {
  auto t = util::trim(text);
  if (t.empty()) return usage("empty person/cluster/face reference");
  auto num = [&](size_t from) { return util::parse_int(std::string_view(t).substr(from)); };
  if ((t[0] == 'c' || t[0] == 'f' || t[0] == 'p') && t.size() > 1 && num(1)) {
    int64_t id = *num(1);
    if (t[0] == 'c') {
      if (!exists(db, "SELECT 1 FROM faces WHERE cluster_id = ? LIMIT 1", id))
        return usage("no cluster c" + std::to_string(id) + " (facecat-people list shows them)");
      return Ref{Ref::Kind::Cluster, id};
    }
    if (t[0] == 'f') {
      if (!exists(db, "SELECT 1 FROM faces WHERE id = ?", id)) return usage("no face f" + std::to_string(id));
      return Ref{Ref::Kind::Face, id};
    }
    if (!exists(db, "SELECT 1 FROM people WHERE id = ?", id)) return usage("no person p" + std::to_string(id));
    return Ref{Ref::Kind::Person, id};
  }
  if (auto n = util::parse_int(t)) {
    if (!exists(db, "SELECT 1 FROM people WHERE id = ?", *n)) return usage("no person " + t);
    return Ref{Ref::Kind::Person, *n};
  }
  if (auto p = person_by_name(db, t)) return Ref{Ref::Kind::Person, *p};
  return usage("no person named '" + t + "' (use p<id>, c<cluster>, f<face> or an exact name)");
}

std::vector<json> list(catalog::Db& db, bool include_suggested) {
  std::vector<json> out;
  auto s = db.prepare(
      "SELECT p.id, p.name, p.status, "
      " (SELECT count(*) FROM faces f WHERE f.person_id = p.id AND coalesce(f.assignment,'') <> 'rejected'), "
      " (SELECT count(*) FROM faces f WHERE f.person_id = p.id AND f.assignment = 'confirmed'), "
      " (SELECT group_concat(DISTINCT f.cluster_id) FROM faces f WHERE f.person_id = p.id AND f.cluster_id IS NOT NULL "
      "    AND coalesce(f.assignment,'') <> 'rejected') "
      "FROM people p ORDER BY (p.name IS NULL), p.name, p.id");
  auto src = db.prepare("SELECT source, external_id, display_name FROM person_sources WHERE person_id = ? ORDER BY 1, 2");
  while (s.step()) {
    if (!include_suggested && s.is_null(1) && s.text(2) == "suggested") continue;
    json r{{"event", "person"},
           {"person_id", s.i64(0)},
           {"name", s.is_null(1) ? json(nullptr) : json(s.text(1))},
           {"status", s.text(2)},
           {"face_count", s.i64(3)},
           {"confirmed_count", s.i64(4)}};
    json clusters = json::array();
    if (!s.is_null(5))
      for (auto& c : util::split(s.text(5), ','))
        if (auto v = util::parse_int(c)) clusters.push_back(*v);
    r["cluster_ids"] = clusters;
    json sources = json::array();
    src.reset();
    src.bind(1, s.i64(0));
    while (src.step()) {
      json so{{"source", src.text(0)}, {"external_id", src.text(1)}};
      if (!src.is_null(2)) so["name"] = src.text(2);
      sources.push_back(so);
    }
    r["sources"] = sources;
    out.push_back(std::move(r));
  }
  return out;
}

Result<int64_t> person_id_of(catalog::Db& db, const Ref& r) { return as_person(db, r); }

Result<json> name(catalog::Db& db, const Ref& target, const std::string& new_name, bool merge) {
  auto n = util::trim(new_name);
  if (n.empty()) return usage("the name is empty");
  auto existing = person_by_name(db, n);
  if (target.kind == Ref::Kind::Face) {
    int64_t pid = existing ? *existing : create_person(db, n, "named");
    db.prepare("UPDATE faces SET person_id = ?, assignment = 'confirmed' WHERE id = ?").bind_all(pid, target.id).run();
    touch(db, pid);
    return json{{"event", "named"}, {"face_id", target.id}, {"person_id", pid}, {"name", n}};
  }
  std::optional<int64_t> pid;
  if (target.kind == Ref::Kind::Cluster) pid = person_of_cluster(db, target.id);
  else pid = target.id;
  // Naming a cluster or person after someone else is a merge: only on purpose (issue 13).
  auto taken = [&](const std::string& how) {
    return usage("the name '" + n + "' belongs to p" + std::to_string(*existing) + " already; " + how);
  };
  if (!pid) {
    // a cluster without a person: make one, or with --merge give its faces to the person of that name
    if (existing && !merge)
      return taken("to give cluster c" + std::to_string(target.id) + "'s faces to p" + std::to_string(*existing) +
                   " add --merge");
    pid = existing ? *existing : create_person(db, n, "named");
    db.prepare("UPDATE faces SET person_id = ?, assignment = 'suggested' WHERE cluster_id = ? AND person_id IS NULL")
        .bind_all(*pid, target.id)
        .run();
    return json{{"event", "named"}, {"cluster_id", target.id}, {"person_id", *pid}, {"name", n}};
  }
  json r{{"event", "named"}, {"name", n}};
  if (target.kind == Ref::Kind::Cluster) r["cluster_id"] = target.id;
  if (existing && *existing != *pid) {
    if (!merge)
      return taken("to make p" + std::to_string(*pid) + " that person run 'facecat-people merge p" +
                   std::to_string(*existing) + " p" + std::to_string(*pid) + "', or add --merge");
    merge_people(db, *existing, *pid);
    r["person_id"] = *existing;
    r["merged_person_id"] = *pid;
    return r;
  }
  db.prepare("UPDATE people SET name = ?, status = CASE status WHEN 'confirmed' THEN 'confirmed' ELSE 'named' END, "
             "updated_at = ? WHERE id = ?")
      .bind_all(n, util::now_unix(), *pid)
      .run();
  r["person_id"] = *pid;
  return r;
}

Result<json> merge(catalog::Db& db, const Ref& ra, const Ref& rb) {
  auto a = as_person(db, ra);
  if (!a) return a.error();
  auto b = as_person(db, rb);
  if (!b) return b.error();
  if (*a == *b) return usage("both references are the same person p" + std::to_string(*a));
  // A keeps its name; if A has none, it takes B's.
  db.prepare("UPDATE people SET name = (SELECT name FROM people WHERE id = ?), "
             "status = (SELECT status FROM people WHERE id = ?) WHERE id = ? AND name IS NULL")
      .bind_all(*b, *b, *a)
      .run();
  merge_people(db, *a, *b);
  return json{{"event", "merged"}, {"person_id", *a}, {"merged_person_id", *b}};
}

Result<json> split(catalog::Db& db, const std::vector<int64_t>& faces, const std::optional<std::string>& new_name) {
  if (faces.empty()) return usage("split needs at least one face (f<id>)");
  for (int64_t f : faces)
    if (!exists(db, "SELECT 1 FROM faces WHERE id = ?", f)) return usage("no face f" + std::to_string(f));
  std::optional<int64_t> pid;
  if (new_name) pid = person_by_name(db, *new_name);
  if (!pid) pid = create_person(db, new_name, new_name ? "named" : "suggested");
  auto s = db.prepare("UPDATE faces SET person_id = ?, assignment = 'confirmed', cluster_id = NULL WHERE id = ?");
  for (int64_t f : faces) {
    s.reset();
    s.bind_all(*pid, f).run();
  }
  json fl = faces;
  return json{{"event", "split"}, {"person_id", *pid}, {"face_ids", fl}};
}

Result<json> confirm(catalog::Db& db, const Ref& target) {
  if (target.kind == Ref::Kind::Face) {
    auto p = as_person(db, target);
    if (!p) return usage("face f" + std::to_string(target.id) + " belongs to nobody: name it first");
    db.prepare("UPDATE faces SET assignment = 'confirmed' WHERE id = ?").bind_all(target.id).run();
    return json{{"event", "confirmed"}, {"face_id", target.id}, {"person_id", *p}};
  }
  auto p = as_person(db, target);
  if (!p) return p.error();
  std::string where = target.kind == Ref::Kind::Cluster ? " AND cluster_id = ?" : "";
  auto s = db.prepare("UPDATE faces SET assignment = 'confirmed' WHERE person_id = ? AND assignment = 'suggested'" + where);
  s.bind(1, *p);
  if (target.kind == Ref::Kind::Cluster) s.bind(2, target.id);
  s.run();
  int n = db.changes();
  db.prepare("UPDATE people SET status = 'confirmed', updated_at = ? WHERE id = ?").bind_all(util::now_unix(), *p).run();
  return json{{"event", "confirmed"}, {"person_id", *p}, {"face_count", n}};
}

Result<json> reject(catalog::Db& db, const Ref& target) {
  if (target.kind == Ref::Kind::Person) {
    auto s = db.prepare("UPDATE faces SET assignment = 'rejected', cluster_id = NULL WHERE person_id = ? AND assignment = 'suggested'");
    s.bind(1, target.id).run();
    return json{{"event", "rejected"}, {"person_id", target.id}, {"face_count", db.changes()}};
  }
  if (target.kind == Ref::Kind::Cluster) {
    auto p = person_of_cluster(db, target.id);
    auto s = db.prepare("UPDATE faces SET assignment = 'rejected', cluster_id = NULL WHERE cluster_id = ? "
                        "AND coalesce(assignment, '') <> 'confirmed'");
    s.bind(1, target.id).run();
    json r{{"event", "rejected"}, {"cluster_id", target.id}, {"face_count", db.changes()}};
    if (p) r["person_id"] = *p;
    return r;
  }
  auto s = db.prepare("SELECT person_id FROM faces WHERE id = ?");
  s.bind(1, target.id);
  if (!s.step() || s.is_null(0)) return usage("face f" + std::to_string(target.id) + " belongs to nobody; nothing to reject");
  int64_t p = s.i64(0);
  db.prepare("UPDATE faces SET assignment = 'rejected', cluster_id = NULL WHERE id = ?").bind_all(target.id).run();
  return json{{"event", "rejected"}, {"face_id", target.id}, {"person_id", p}};
}

Result<json> forget(catalog::Db& db, const Ref& target) {
  auto p = as_person(db, target);
  if (!p) return p.error();
  db.prepare("UPDATE faces SET person_id = NULL, assignment = NULL, cluster_id = NULL WHERE person_id = ?")
      .bind_all(*p)
      .run();
  int n = db.changes();
  db.prepare("DELETE FROM person_sources WHERE person_id = ?").bind_all(*p).run();
  db.prepare("DELETE FROM people WHERE id = ?").bind_all(*p).run();
  return json{{"event", "forgotten"}, {"person_id", *p}, {"face_count", n}};
}

Result<json> not_a_face(catalog::Db& db, int64_t face) {
  auto s = db.prepare("SELECT person_id FROM faces WHERE id = ?");
  s.bind(1, face);
  if (!s.step()) return usage("no face f" + std::to_string(face));
  auto p = s.opt_i64(0);
  db.prepare("UPDATE faces SET label = 'not_face', person_id = NULL, assignment = NULL, cluster_id = NULL WHERE id = ?")
      .bind_all(face)
      .run();
  if (p) touch(db, *p);
  json r{{"event", "not_a_face"}, {"face_id", face}};
  if (p) r["person_id"] = *p;
  return r;
}

}  // namespace facecat::people
